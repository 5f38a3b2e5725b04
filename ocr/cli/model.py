"""``ocr train``, ``ocr calibrate``, ``ocr train-pairs``, ``ocr train-pair-reader``, ``ocr committee``,
``ocr evaluate``, ``ocr classify``, ``ocr download-mnist``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ocr.cli.common import add_model_options, csv_writer
from ocr.errors import OCRError

CLASSIFY_FIELDS = ["file", "label", "status", "confidence", "penalty_best", "penalty_second"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train LeNet-5 on MNIST and write weights + model card")
    p.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $OCR_MNIST_DIR)")
    p.add_argument("--out", default="models/lenet5.pt", help="weights file to write (card and plots beside it)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0, help="seed of the data: validation split, rubbish, field strips")
    p.add_argument("--init-seed", type=int, default=None, metavar="S",
                   help="seed of the network's initial weights, batch order and distortions (default: --seed); "
                        "the same --seed with another --init-seed trains a committee member on the same data")
    p.add_argument("--val-size", type=int, default=10_000, help="validation digits held out of the training set")
    p.add_argument("--no-distort", action="store_true", help="train without random distortions")
    p.add_argument("--rubbish", type=float, default=0.2,
                   help="non-digit examples (touching pairs, wrong cuts) per training digit, target 'rubbish'")
    p.add_argument("--fields", type=int, default=0, metavar="N",
                   help="also train on what the segmenter cuts from N synthetic field strips written with training "
                        "digits (digits and rubbish), and calibrate on strips written with validation digits")
    p.add_argument("--workers", type=int, default=1, help="processes that write and cut those strips")
    p.add_argument("--cut-drift", type=float, default=None, metavar="D",
                   help="how freely the cut paths of those strips may wander (ocr.segment.DRIFT; default "
                        "TRAIN_DRIFT = 1.0, the wandering cuts the shipped network was trained on; the reader "
                        "cuts with 32, nearly straight)")
    p.add_argument("--init", default=None, metavar="WEIGHTS",
                   help="start from these weights (one network) instead of random ones; with --epochs 0 and "
                        "--graph-epochs, field-level training only")
    p.add_argument("--graph-fields", type=int, default=0, metavar="N",
                   help="after the digit epochs, train on the segmentation graphs of N synthetic field strips written "
                        "with training digits (ocr/graphtrain.py: the reader's path costs, the right reading against "
                        "every other)")
    p.add_argument("--graph-epochs", type=int, default=0, metavar="E", help="epochs of that field-level training")
    p.add_argument("--graph-lr", type=float, default=1e-4, help="its learning rate (cosine decay to 1%%)")
    p.add_argument("--styles", type=float, default=0.0, metavar="P",
                   help="redraw this share of the training '1's and '7's as many writers outside the US make "
                        "them: a flagged '1', a crossed '7' (ocr/styles.py; in the digits and in the field strips "
                        "written with them; validation digits never)")
    p.add_argument("--hysteresis", action="store_true",
                   help="clean the field strips with hysteresis: the faint stretches of a stroke joined to its ink "
                        "are ink too (ocr.fields.join_faint); recorded in the weights, so the reader cleans so too")
    p.add_argument("--no-field-scores", action="store_true",
                   help="do not fit the field scores at the end (about half an hour on 2 cores): when "
                        "`ocr train-pair-reader --recalibrate` or `ocr calibrate` will fit them anyway")
    p.add_argument("--no-views", action="store_true",
                   help="calibrate (and so classify) without the test-time views of ocr/views.py")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--checkpoint-dir", default="runs/lenet5", help="where per-epoch checkpoints go")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training digits (smoke test)")
    p.add_argument("--extra", nargs="*", default=[], metavar="DIR",
                   help="extra labelled digit sets (e.g. OUT_DIR/corrections from `ocr review apply`)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("calibrate", help="recompute the rejection thresholds of trained weights on their "
                                         "validation split (for other target error rates)")
    p.add_argument("--weights", default="models/lenet5.pt", help="weights file (its model card must be beside it)")
    p.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $OCR_MNIST_DIR)")
    p.add_argument("--targets", type=float, nargs="+", default=None,
                   help="digit error rates among accepted digits (default: 0.01 0.005 0.003 0.002 0.001 0.0005)")
    p.add_argument("--views", action=argparse.BooleanOptionalAction, default=None,
                   help="with (or without) the test-time views of ocr/views.py (default: as trained)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("train-pairs", help="train the two-digit detector of trained weights (ocr/pairs.py) and "
                                           "store it in the weights file")
    _second_network_options(p, fields=30_000, fields_help="to cut examples from", epochs=3, decay="halved")
    p.set_defaults(func=cmd_train_pairs)

    p = sub.add_parser("train-pair-reader", help="train the pair reader of trained weights (ocr/pairs.py: a wide "
                                                 "mark read whole as one of 100 digit pairs or 10 digits: a cost in "
                                                 "the segmentation graph and a feature of the field score) and "
                                                 "store it in the weights file")
    _second_network_options(p, fields=None, fields_help="to cut wide marks from (default 60000)", epochs=None,
                            decay="times 0.8")
    p.set_defaults(func=cmd_train_pair_reader)

    p = sub.add_parser("committee", help="read several networks trained on the same data as one (penalties "
                                         "averaged), calibrate it, and write its weights + model card")
    p.add_argument("members", nargs="+", type=Path, metavar="WEIGHTS",
                   help="weights files from `ocr train` with the same --seed and data options, another --init-seed")
    p.add_argument("--out", required=True, type=Path, help="committee weights file to write (card beside it)")
    p.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $OCR_MNIST_DIR)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=cmd_committee)

    p = sub.add_parser("evaluate", help="MNIST test error and rejection figures of a weights file")
    p.add_argument("--weights", default=None, help="weights file (default: the shipped models/lenet5.pt)")
    p.add_argument("--data", default=None, help="folder with the MNIST test files (default: the shipped copy)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--json", action="store_true", help="print every figure as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("classify", help="classify images of single digits; CSV on stdout")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--invert", action="store_true", help="the images are light ink on a dark background")
    add_model_options(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("download-mnist", help="download the four canonical MNIST files and check their sha256")
    p.add_argument("--out", required=True, help="folder to write them into")
    p.set_defaults(func=cmd_download)


def _second_network_options(p, *, fields: int | None, fields_help: str, epochs: int | None, decay: str) -> None:
    """The options of ``ocr train-pairs`` and ``ocr train-pair-reader``: a second network trained on a trained
    network's trunk and stored in its weights file."""
    p.add_argument("--weights", default="models/lenet5.pt", help="weights file (its model card must be beside it)")
    p.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $OCR_MNIST_DIR)")
    p.add_argument("--fields", type=int, default=fields, metavar="N",
                   help="synthetic strips written with the network's training digits " + fields_help)
    p.add_argument("--epochs", type=int, default=epochs, help=None if epochs else "default 15")
    p.add_argument("--lr", type=float, default=1e-3, help=f"learning rate ({decay} each epoch)")
    p.add_argument("--workers", type=int, default=1, help="processes that write and cut the strips")
    p.add_argument("--recalibrate", action="store_true",
                   help="then fit the field scores again with its answers (as `ocr calibrate` would)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def cmd_train(args) -> int:
    from ocr.train import TrainConfig, train

    cfg = TrainConfig(data_dir=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, init_seed=args.init_seed, val_size=args.val_size,
                      distort=not args.no_distort,
                      rubbish=args.rubbish, fields=args.fields, workers=args.workers, views=not args.no_views,
                      **({} if args.cut_drift is None else {"cut_drift": args.cut_drift}),
                      device=args.device, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                      limit=args.limit, extra=[str(e) for e in args.extra], init=args.init,
                      styles=args.styles, hysteresis=args.hysteresis, field_scores=not args.no_field_scores,
                      graph_fields=args.graph_fields, graph_epochs=args.graph_epochs, graph_lr=args.graph_lr)
    card = train(cfg, log=lambda s: print(s, file=sys.stderr))
    t = card["test"]
    print(f"wrote {args.out}: MNIST test error {100 * t['error']:.2f}%, rejection for 0.5% error "
          f"{100 * t['rejection_for_0.5%_error']:.2f}%")
    return 0


def cmd_calibrate(args) -> int:
    from ocr.reject import DEFAULT_TARGETS
    from ocr.train import recalibrate

    card = recalibrate(Path(args.weights), args.data, tuple(args.targets or DEFAULT_TARGETS), args.device,
                       args.views)
    for key, c in card["calibration"]["thresholds"].items():
        print(f"target {float(key):.2%}: margin >= {c['threshold']:.3f}, accepts {100 * c['accepted']:.2f}% "
              "of validation digits")
    return 0


def cmd_train_pairs(args) -> int:
    from ocr.train import train_pair_detector

    card = train_pair_detector(Path(args.weights), args.data, fields=args.fields, epochs=args.epochs, lr=args.lr,
                               workers=args.workers, device=args.device, recalibrate_fields=args.recalibrate,
                               log=lambda s: print(s, file=sys.stderr))
    wide = card["pairs"]["held_out"]["wide"]
    print(f"wrote the two-digit detector into {args.weights}: on held-out wide marks read whole it calls "
          f"{100 * wide['false_alarms']:.2f}% of single digits and {100 * wide['found']:.1f}% of touching pairs two "
          "digits" + ("; thresholds recalibrated with it" if args.recalibrate else ""))
    return 0


def cmd_train_pair_reader(args) -> int:
    from ocr.train import train_pair_reader

    card = train_pair_reader(Path(args.weights), args.data, fields=args.fields, epochs=args.epochs, lr=args.lr,
                             workers=args.workers, device=args.device, recalibrate_fields=args.recalibrate,
                             log=lambda s: print(s, file=sys.stderr))
    held = card["pair_reader"]["held_out"]
    print(f"wrote the pair reader into {args.weights}: on held-out wide marks it reads "
          f"{100 * held['pairs_read_right']:.1f}% of touching pairs and {100 * held['singles_read_right']:.1f}% of "
          "single digits right" + ("; thresholds recalibrated with it" if args.recalibrate else ""))
    return 0


def cmd_committee(args) -> int:
    from ocr.train import make_committee

    card = make_committee(args.members, args.out, args.data, args.device)
    t = card["test"]
    print(f"wrote {args.out}: a committee of {len(args.members)}, MNIST test error {100 * t['error']:.2f}%, "
          f"rejection for 0.5% error {100 * t['rejection_for_0.5%_error']:.2f}%, for 0.1% "
          f"{100 * t['rejection_for_0.1%_error']:.2f}%")
    return 0


def cmd_evaluate(args) -> int:
    from ocr.classify import default_weights
    from ocr.train import evaluate_weights

    weights = Path(args.weights) if args.weights else default_weights()
    result = evaluate_weights(weights, args.device, args.data)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"weights: {weights}")
    print(f"MNIST test error: {100 * result['error']:.2f}% ({result['errors']} of {result['n']})")
    print(f"rejection for 0.5% error: {100 * result['rejection_for_0.5%_error']:.2f}%")
    print(f"rejection for 0.1% error: {100 * result['rejection_for_0.1%_error']:.2f}%")
    for key, at in result.get("at_calibrated_thresholds", {}).items():
        print(f"threshold calibrated for {float(key):.2%}: accepts {100 * at['accepted']:.2f}%, "
              f"error among accepted {100 * at['error_among_accepted']:.3f}%")
    return 0


def cmd_classify(args) -> int:
    from ocr.classify import Classifier
    from ocr.fields import ink_from_gray
    from ocr.normalize import normalize_digit
    from ocr.pages import read_gray

    clf = Classifier.load(args.weights, args.device, args.batch_size, args.target_error)
    inputs, ok_files, failed = [], [], {}
    for path in args.images:
        try:
            inputs.append(normalize_digit(ink_from_gray(read_gray(path), invert=args.invert)))
            ok_files.append(path)
        except OCRError as exc:
            failed[path] = str(exc)
    import numpy as np

    verdicts = clf.classify(np.stack(inputs)) if inputs else None
    by_file = {p: i for i, p in enumerate(ok_files)}
    writer = csv_writer(CLASSIFY_FIELDS)
    for path in args.images:
        if path in failed:
            writer.writerow({"file": str(path), "status": "error"})
            print(f"ocr classify: {path}: {failed[path]}", file=sys.stderr)
            continue
        i = by_file[path]
        writer.writerow({
            "file": str(path), "label": int(verdicts.labels[i]),
            "status": "accepted" if verdicts.accepted[i] else "review",
            "confidence": f"{verdicts.confidence[i]:.4f}",
            "penalty_best": f"{verdicts.best[i]:.3f}", "penalty_second": f"{verdicts.second[i]:.3f}",
        })
    return 1 if failed else 0


def cmd_download(args) -> int:
    from ocr.mnist import download

    for path in download(args.out):
        print(path)
    return 0

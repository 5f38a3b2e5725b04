"""Do the calibrated field thresholds hold on fields they were not calibrated on?

    .venv/bin/python benchmarks/thresholds.py --n 3000 --seeds 2,3

`ocr calibrate` fits, per field kind, a field score on held-out strips and picks, per target error
among accepted fields, the score threshold that holds it on other held-out strips
(ocr.fieldset.calibrate_fields; weights calibrated before the score carry a pair of digit margin
thresholds, alone and joined, instead). A threshold chosen on a few thousand strips can have been
lucky. This script writes fresh strips of every calibrated kind (zip, amount and date written
freely, 1 in 10 digits touching the one before; zip and date in printed cells) with MNIST *test*
digits, or with `--digits held-out` with the digits the network was trained without (its
calibration digits, from the MNIST training set, in --data), reads each once through the reader
(as the calibration does) and prints, per kind and target, what the stored thresholds accept and
let through wrong there, beside what they did on the calibration strips. One read per strip serves
every target: the reader's path does not depend on the field thresholds.

The zip, amount and date strips of a seed are the first --n strips benchmarks/fields.py writes
with that seed (same generator, same order).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ocr.batch import versions_text
from ocr.classify import Classifier
from ocr.fieldscore import score
from ocr.fieldset import CALIBRATED, accepted_fields, read_with_digit_threshold, strip_fields, write_strips
from ocr.handwriting import DigitPool


def held_out_pool(weights: Path, data_dir: str | None) -> DigitPool:
    """The digits the network at ``weights`` was trained without (its calibration digits)."""
    from ocr.train import held_out_digits

    return DigitPool(*held_out_digits(weights, data_dir))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=3000, help="strips per kind and seed")
    p.add_argument("--seeds", default="2,3", help="comma-separated seeds")
    p.add_argument("--kinds", default=",".join(CALIBRATED), help="comma-separated kinds (zip, date/cells, ...)")
    p.add_argument("--touching", type=float, default=0.1, help="probability that a digit touches the one before")
    p.add_argument("--weights", default=None)
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--digits", default="test", choices=("test", "held-out"),
                   help="write with MNIST test digits, or with the network's held-out training digits (--data)")
    p.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $OCR_MNIST_DIR)")
    args = p.parse_args(argv)

    clf = Classifier.load(args.weights, args.device, field_target=None)
    fields = clf.info["calibration"].get("fields")
    if not fields:
        raise SystemExit(f"{clf.weights} has no field thresholds to check: run `ocr calibrate` on it")
    seeds = [int(s) for s in args.seeds.split(",")]
    pool = DigitPool() if args.digits == "test" else held_out_pool(Path(clf.weights), args.data)
    scorers = fields.get("scorers", {})
    crossed = fields.get("cross_fitted")
    basis = (f"{2 * fields['n']} strips per kind, out-of-fold scores ({crossed['folds']} folds x {crossed['repeats']})"
             if crossed else f"{fields['n']} strips per kind")
    print(f"weights {clf.weights}; calibrated on {basis} (seed {fields['seed']}); "
          f"checked on {args.n} strips per kind and seed, seeds {args.seeds}, "
          + ("MNIST test digits" if args.digits == "test" else "the network's held-out training digits"))
    print(f"libraries: {versions_text()}")
    head = ("kind", "target", "threshold", "calibration: accepted % (error %)",
            *(f"seed {s}: accepted % (error %)" for s in seeds), "all seeds: accepted % (error %, wrong of accepted)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for kind in args.kinds.split(","):
        read = []
        for seed in seeds:
            strips = write_strips(kind, args.n, seed, pool, args.touching)
            read.append(accepted_fields(read_with_digit_threshold(clf, strip_fields(kind, strips), kind), strips, kind))
        for target, pair in sorted(fields["thresholds"].get(kind, {}).items(), key=lambda kv: -float(kv[0])):
            cells = []
            total = wrong_total = 0
            for a in read:
                if "score" in pair:
                    take = score(scorers[kind], a.features) >= pair["score"]
                else:
                    take = (a.alone >= pair["alone"]) & (a.joined >= pair["joined"])
                k, wrong = int(take.sum()), int((take & ~a.right).sum())
                total, wrong_total = total + k, wrong_total + wrong
                cells.append(f"{100 * k / args.n:.1f} ({100 * wrong / max(k, 1):.2f})")
            threshold = (f"score {pair['score']:.2f}" if "score" in pair else f"{pair['alone']:g} / {pair['joined']:g}")
            print(f"| {kind} | {100 * float(target):g}% | {threshold} | "
                  f"{100 * pair['accepted']:.1f} ({100 * pair['error']:.2f}) | " + " | ".join(cells) +
                  f" | {100 * total / (args.n * len(seeds)):.1f} ({100 * wrong_total / max(total, 1):.2f}, "
                  f"{wrong_total} of {total}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

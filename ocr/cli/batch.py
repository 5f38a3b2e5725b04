"""``ocr batch``, ``ocr synth``, ``ocr score``."""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

from ocr.cli.common import add_model_options
from ocr.errors import OCRError
from ocr.pages import DEFAULT_MAX_PIXELS

RUNNER_GROUP = "ocr.runners"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="read every scan of a folder; write results, digits, review and errors CSVs")
    p.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    p.add_argument("--out", required=True, type=Path, help="output folder (CSVs, crops/, manifest.json)")
    p.add_argument("--templates", type=Path, default=None,
                   help="a folder of extra template YAML files (added to, or replacing, the bundled ones)")
    p.add_argument("--template", default=None,
                   help="use this template for every file (else batch.yaml rules, else the page's shape)")
    add_model_options(p)
    p.add_argument("--chunk-size", type=int, default=16, help="documents whose fields are classified together")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images with more pixels than this (read from the header, before decoding)")
    p.add_argument("--runner", default="auto",
                   help="auto (the 'prefect' runner of entry-point group ocr.runners when installed, else local), "
                        "local (the library runner), or the name of an ocr.runners entry point")
    p.add_argument("--archive", type=Path, default=None, metavar="DIR",
                   help="after the CSVs are written, move the files that were read into DIR (same sub-folders; "
                        "never overwrites: a taken name gets -1, -2...); files with only errors stay")
    p.add_argument("--ledger", type=Path, default=None, metavar="FILE",
                   help="a CSV of the files earlier batches read (created if missing): a file read again, into "
                        "another output folder, is read but its fields go to review as sent twice; this batch's "
                        "files are added once its CSVs are written")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("ledger", help="the ledger of files read by earlier batches (ocr batch --ledger)")
    lsub = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    f = lsub.add_parser("forget", help="take the files of the batch written to OUT_DIR out of the ledger (a run "
                                       "into the wrong folder, a test run), so they no longer count as read")
    f.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="the output folder of that batch")
    f.add_argument("--ledger", type=Path, required=True, metavar="FILE")
    f.set_defaults(func=cmd_ledger_forget)

    p = sub.add_parser("synth", help="write synthetic scans (cheques or forms) with their truth.csv")
    p.add_argument("--kind", required=True, choices=("cheque", "form", "both", "cheque-cts"),
                   help="cheque-cts: Indian CTS-2010 cheques, read with the template cheque-cts2010 "
                        "(named in the batch's batch.yaml)")
    p.add_argument("--n", type=int, required=True, help="number of documents")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--dpi", type=int, default=None, help="scan resolution (default: 200, 240 or 300 at random)")
    p.add_argument("--quality", type=int, nargs=2, default=(55, 90), metavar=("MIN", "MAX"),
                   help="JPEG quality range")
    p.add_argument("--max-skew", type=float, default=10.0, help="largest skew in degrees (one scan in five)")
    p.add_argument("--cts-hand", action="store_true",
                   help="write the cheques' amounts as on Indian CTS cheques: long commas hanging below the line, "
                        "'/-' as a flourish, in one stroke or crossed, run into the last digit, "
                        "trailing zeros small or in one run")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("score", help="read rate, error among accepted, review rate, segmentation, per field type")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    p.add_argument("--truth", required=True, type=Path, help="truth.csv (from ocr synth)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_score)


def _runners() -> dict:
    return {ep.name: ep for ep in entry_points(group=RUNNER_GROUP)}


def resolve_runner(name: str):
    """The callable ``run(config) -> BatchSummary`` for ``--runner``: ``local`` is :func:`ocr.batch.run_batch`;
    ``auto`` is the ``prefect`` entry point of group ``ocr.runners`` when it is installed and imports, else local."""
    from ocr.batch import run_batch

    local = lambda config: run_batch(config, progress=True)  # noqa: E731
    if name == "local":
        return local, "local"
    eps = _runners()
    if name == "auto":
        if "prefect" in eps:
            try:
                return eps["prefect"].load(), "prefect"
            except Exception as exc:  # an installed but broken optional runner must not stop a nightly batch
                print(f"ocr: the prefect runner could not be loaded ({type(exc).__name__}: {exc}); "
                      "running locally", file=sys.stderr)
        return local, "local"
    if name not in eps:
        known = ", ".join(sorted(["auto", "local", *eps]))
        raise OCRError(f"no runner named {name!r} (known: {known})")
    try:
        return eps[name].load(), name
    except Exception as exc:
        raise OCRError(f"runner {name!r} could not be loaded ({type(exc).__name__}: {exc})") from None


def cmd_batch(args) -> int:
    from ocr.batch import BatchConfig, archive_inputs, check_archive_dir, run_batch

    config = BatchConfig(input_dir=args.input_dir, out_dir=args.out, templates_dir=args.templates,
                         template=args.template, device=args.device, batch_size=args.batch_size,
                         chunk_size=args.chunk_size, target_error=args.target_error,
                         field_error=args.field_error, weights=args.weights,
                         max_pixels=args.max_pixels, ledger=args.ledger)
    run, used = resolve_runner(args.runner)
    if args.archive is not None:
        check_archive_dir(config, args.archive)
    try:
        if used == "local" and args.quiet:
            summary = run_batch(config, progress=False)
        else:
            summary = run(config)
        # Only now are the rows safely in the merged CSVs (written complete, then renamed).
        moved = archive_inputs(config, args.archive) if args.archive is not None else []
    except OSError as exc:  # a full disk, a read-only or vanished folder: one line, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        raise OCRError(f"the run stopped: {exc.strerror or exc}{where}; the previous outputs in {config.out_dir} "
                       "are kept and running again resumes from the finished chunks") from None
    rows = [("runner", used), *summary.table()]
    if args.archive is not None:
        rows.append(("archived", f"{len(moved)} files to {args.archive}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def cmd_ledger_forget(args) -> int:
    from ocr.batch import forget_in_ledger

    removed = forget_in_ledger(args.ledger, args.out_dir)
    print(f"{args.ledger}: {removed} files of {args.out_dir} forgotten")
    return 0


def cmd_synth(args) -> int:
    from ocr.synth import write_batch

    if args.n < 1:
        raise OCRError(f"--n must be at least 1, got {args.n}")
    truth = write_batch(args.kind, args.n, args.seed, args.out, dpi=args.dpi, jpeg_quality=tuple(args.quality),
                        max_skew=args.max_skew, cts_hand=args.cts_hand)
    print(f"wrote {args.n} {args.kind} scans to {args.out} (truth: {truth})")
    return 0


def cmd_score(args) -> int:
    from ocr.score import format_table, score

    figures = score(args.out_dir, args.truth)
    print(json.dumps(figures, indent=1) if args.json else format_table(figures))
    return 0

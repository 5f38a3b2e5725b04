"""``ocr review html OUT_DIR`` and ``ocr review apply OUT_DIR/review.csv``."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="review sheets of a batch: the HTML page, and applying an audited review.csv")
    rsub = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    h = rsub.add_parser("html", help="write review.html and the plots (confidence histogram, review counts per "
                                     "digit) into a batch output folder")
    h.add_argument("out_dir", metavar="OUT_DIR", help="output folder of `ocr batch`")
    h.set_defaults(func=cmd_html)

    a = rsub.add_parser("apply", help="apply an audited review.csv: final.csv and the corrected digits as a "
                                      "training set under OUT_DIR/corrections/")
    a.add_argument("sheet", metavar="REVIEW_CSV", help="the audited sheet (OUT_DIR/review.csv or a copy of it)")
    a.add_argument("--reviewer", default=None, help="who audited the sheet (recorded in final.csv)")
    a.add_argument("--batch", default=None, metavar="OUT_DIR",
                   help="the batch output folder (default: the folder the sheet is in)")
    a.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to re-read the corrected fields' crops for the training set")
    a.add_argument("--no-export", action="store_true", help="write final.csv only, no training set")
    a.set_defaults(func=cmd_apply)


def cmd_html(args) -> int:
    from ocr.review import write_review_outputs

    for path in write_review_outputs(args.out_dir):
        print(path)
    return 0


def cmd_apply(args) -> int:
    from ocr.corrections import ReviewSheetError, apply_review

    try:
        result = apply_review(args.sheet, reviewer=args.reviewer, out_dir=args.batch, device=args.device,
                              export=not args.no_export)
    except ReviewSheetError as exc:
        # One line per bad row (the exception's own message squeezes them onto one line).
        print(f"ocr review apply: {exc.sheet}: {len(exc.problems)} bad row(s); nothing was applied:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(f"{result.final_csv}: {result.fields_corrected} fields corrected ({result.fields_unchanged} confirmed "
          f"as read), {result.fields_illegible} illegible, {result.fields_duplicate} duplicates")
    print(f"{result.digits_npz}: {result.digits_exported} labelled digits (train with: ocr train --extra "
          f"{result.digits_npz.parent})")
    for line in result.not_exported:
        print(f"not exported: {line}", file=sys.stderr)
    return 0

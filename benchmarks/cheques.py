"""Real cheques: run the ``cheque-cts2010`` template over a folder of Indian CTS-2010 cheque scans and
compare the amount and date with the folder's ``labels.csv``.

    .venv/bin/python benchmarks/cheques.py --cheques /path/to/cheques_idrbt      # or $OCR_CHEQUES_DIR

Prints, per field: cheques, accepted, accepted and right, accepted and WRONG, read rate, error among
accepted. The target is no accepted value wrong. The scans show real people's details: outputs (CSVs,
crops) go to a temporary folder under /tmp that is deleted at the end unless --keep is given; never
copy them into the repository.

    .venv/bin/python benchmarks/cheques.py --cheques DIR --turn 180     # every scan fed upside down

``--turn 90|180|270`` reads copies of the scans turned that many degrees clockwise (lossless PNG, in a
temporary folder under /tmp, deleted at the end), as a scanner fed them the wrong way would give them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr.batch import BatchConfig, run_batch, versions_text  # noqa: E402
from ocr.classify import DEFAULT_FIELD_TARGET, DEFAULT_TARGET, FIELD_ERROR_HELP, field_error_option  # noqa: E402
from ocr.report import read_csv  # noqa: E402
from ocr.score import same_value  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cheques", default=os.environ.get("OCR_CHEQUES_DIR"),
                    help="folder with the cheque scans and labels.csv (default: $OCR_CHEQUES_DIR)")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--target-error", type=float, default=DEFAULT_TARGET)
    ap.add_argument("--field-error", type=field_error_option, default=DEFAULT_FIELD_TARGET, help=FIELD_ERROR_HELP)
    ap.add_argument("--verbose", action="store_true", help="one line per cheque and field (read vs label)")
    ap.add_argument("--keep", action="store_true", help="keep the output folder in /tmp (it is printed)")
    ap.add_argument("--turn", type=int, choices=(0, 90, 180, 270), default=0,
                    help="read copies of the scans turned this many degrees clockwise")
    args = ap.parse_args(argv)
    if not args.cheques:
        ap.error("give --cheques DIR or set OCR_CHEQUES_DIR")
    folder = Path(args.cheques)
    labels = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    out = Path(tempfile.mkdtemp(prefix="ocr-cheques-", dir="/tmp"))
    turned = Path(tempfile.mkdtemp(prefix="ocr-cheques-turned-", dir="/tmp")) if args.turn else None
    try:
        if turned is not None:
            for name in labels["file"]:
                with Image.open(folder / name) as im:
                    im.rotate(-args.turn, expand=True).save(turned / f"{name}.png")
            labels["file"] = labels["file"] + ".png"
        cfg = BatchConfig(input_dir=turned or folder, out_dir=out, template="cheque-cts2010", weights=args.weights,
                          device=args.device, target_error=args.target_error,
                          field_error=args.field_error, chunk_size=8)
        summary = run_batch(cfg, progress=False)
        res = read_csv(out / "results.csv")
        errs = read_csv(out / "errors.csv")
        rows = []
        for _, lab in labels.iterrows():
            for field, col in (("amount", "amount_digits"), ("date", "date_ddmmyyyy")):
                truth = lab[col]
                if not truth:
                    continue  # the label says it cannot be read with confidence
                hit = res[(res["file"] == lab["file"]) & (res["field"] == field)]
                value = hit["value"].iloc[0] if len(hit) else ""
                status = hit["status"].iloc[0] if len(hit) else "missing"
                reason = hit["reason"].iloc[0] if len(hit) else ""
                rows.append({"file": lab["file"], "bank": lab["bank"], "field": field, "truth": truth,
                             "read": value, "status": status, "right": same_value(field, value, truth),
                             "reason": reason})
        df = pd.DataFrame(rows)
        if args.verbose:
            with pd.option_context("display.width", 200, "display.max_rows", 200, "display.max_colwidth", 70):
                print(df.to_string(index=False))
        print(f"\n{summary.documents} cheques, {summary.errors} errors, {summary.seconds:.1f} s "
              f"({summary.pages_per_second:.2f} pages/s)")
        print(f"{'field':<8} {'labelled':>8} {'accepted':>8} {'right':>6} {'WRONG':>6} {'read rate':>9} "
              f"{'err|acc':>8}")
        for field, g in df.groupby("field", sort=False):
            acc = g["status"] == "accepted"
            right = int((acc & g["right"]).sum())
            wrong = int((acc & ~g["right"]).sum())
            print(f"{field:<8} {len(g):>8} {int(acc.sum()):>8} {right:>6} {wrong:>6} {right / len(g):>9.1%} "
                  f"{(wrong / acc.sum() if acc.sum() else 0):>8.1%}")
        print(f"(any field read right, accepted or not: {df['right'].mean():.1%})")
        print(f"libraries: {versions_text()}")
        if len(errs):
            print(errs[["file", "reason"]].to_string(index=False))
    finally:
        if args.keep:
            print(f"outputs kept in {out} (real people's details: delete when done)")
        else:
            shutil.rmtree(out, ignore_errors=True)
        if turned is not None:
            shutil.rmtree(turned, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

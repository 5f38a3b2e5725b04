"""Pages fed the wrong way: a batch read as scanned and turned 90, 180 and 270 degrees clockwise.

    .venv/bin/python benchmarks/orientation.py                     # the sample batch, data/samples
    .venv/bin/python benchmarks/orientation.py --input DIR --truth DIR/truth.csv

Every scan of the input folder is copied, turned (lossless PNG, in a temporary folder under /tmp that is
deleted at the end), and each turn is read as its own batch by the library runner, the template chosen by
the page's shape (no batch.yaml: a page fed sideways must be matched as it stands). Prints per turn: pages,
error rows, fields, read rate, error among accepted, review rate, and how many fields read the same value
with the same status as the pages fed the right way (all of them when every page was turned back upright).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr.batch import BatchConfig, run_batch, safe_name  # noqa: E402
from ocr.pages import SUPPORTED_SUFFIXES  # noqa: E402
from ocr.report import read_csv  # noqa: E402
from ocr.score import score  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _turned_batch(src: Path, truth: pd.DataFrame, degrees: int, folder: Path) -> Path:
    """Copies of ``src``'s scans turned ``degrees`` clockwise into ``folder``, and their truth file."""
    folder.mkdir(parents=True)
    renamed = {}
    for path in sorted(p for p in src.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES and p.suffix != ".pdf"):
        with Image.open(path) as im:
            name = f"{path.stem}.png"
            im.rotate(-degrees, expand=True).save(folder / name)
        renamed[safe_name(path.name)] = safe_name(name)
    t = truth[truth["document"].isin(renamed)].copy()
    t["document"] = t["document"].map(renamed)
    t.to_csv(folder.parent / f"truth-{degrees}.csv", index=False)
    return folder.parent / f"truth-{degrees}.csv"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(ROOT / "data" / "samples"))
    ap.add_argument("--truth", default=None, help="truth.csv of the input (default: INPUT/truth.csv)")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    src = Path(args.input)
    truth = read_csv(Path(args.truth) if args.truth else src / "truth.csv")
    work = Path(tempfile.mkdtemp(prefix="ocr-orientation-", dir="/tmp"))
    try:
        reads: dict[int, pd.DataFrame] = {}
        rows = []
        for degrees in (0, 90, 180, 270):
            inp = work / f"in-{degrees}"
            truth_file = _turned_batch(src, truth, degrees, inp)
            out = work / f"out-{degrees}"
            summary = run_batch(BatchConfig(input_dir=inp, out_dir=out, weights=args.weights, device=args.device),
                                progress=False)
            figures = score(out, truth_file)["all"]
            reads[degrees] = read_csv(out / "results.csv")[["document", "field", "value", "status"]]
            same = reads[degrees].merge(reads[0], on=["document", "field"], suffixes=("", "_upright"))
            agree = int(((same["value"] == same["value_upright"]) & (same["status"] == same["status_upright"])).sum())
            rows.append((degrees, summary.pages, summary.errors, figures["fields"], figures["read_rate"],
                         figures["error_among_accepted"], figures["review_rate"], f"{agree} of {len(reads[0])}"))
        print(f"{'turned':>6} {'pages':>5} {'errors':>6} {'fields':>6} {'read rate':>9} {'err|acc':>8} "
              f"{'review':>7}  same as fed upright")
        for d, pages, errors, fields, rate, err, review, agree in rows:
            print(f"{d:>5}° {pages:>5} {errors:>6} {fields:>6} {rate:>9.1%} {err:>8.2%} {review:>7.1%}  {agree}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

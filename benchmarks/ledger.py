"""What the ledger of files read (``ocr batch --ledger``) costs a batch as it grows.

    .venv/bin/python benchmarks/ledger.py --rows 100000 1000000 --docs 1000

For each size, a ledger of that many earlier files (random sha256, in batches of 1,000 files a night) is
written to a temporary folder, and a batch of ``--docs`` new files, one in ten of them already in the ledger,
goes through the two steps the ledger adds to a run: looking its files up (:func:`ocr.batch.seen_before`,
before any reading) and adding them (:func:`ocr.batch.record_in_ledger`, after the CSVs). No scan is read:
the batch's ``manifest.json`` and ``results.csv`` are written as a run would leave them. Prints seconds per
step, the ledger's size on disk and how many files were found sent again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr.batch import LEDGER_COLUMNS, BatchConfig, Document, record_in_ledger, seen_before  # noqa: E402
from ocr.report import write_csv  # noqa: E402


def _sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def measure(rows: int, docs: int, folder: Path) -> dict:
    ledger = folder / "ledger.csv"
    nights = max(1, rows // 1000)
    write_csv(pd.DataFrame({"sha256": [_sha(i) for i in range(rows)],
                            "file": [f"cheque-{i:07d}.jpg" for i in range(rows)],
                            "batch": [f"night-{i % nights:04d}" for i in range(rows)],
                            "output": [f"/out/nightly/night-{i % nights:04d}" for i in range(rows)],
                            "read_at": ["2026-01-01T02:00:00+00:00"] * rows}, columns=LEDGER_COLUMNS), ledger)
    out = folder / "out"
    out.mkdir()
    # One file in ten was read on an earlier night.
    shas = [_sha(rows + i) if i % 10 else _sha(i * 7 % rows) for i in range(docs)]
    documents = [Document(id=f"scan-{i:05d}.jpg", path=folder / f"scan-{i:05d}.jpg", sha256=s, size=1,
                          relative=f"scan-{i:05d}.jpg") for i, s in enumerate(shas)]
    config = BatchConfig(input_dir=folder, out_dir=out, ledger=ledger)
    t0 = time.perf_counter()
    marked = seen_before(documents, config)
    t1 = time.perf_counter()
    (out / "manifest.json").write_text(json.dumps({"batch": "tonight", "documents": [
        {"id": d.id, "file": d.relative, "sha256": d.sha256, "error": ""} for d in documents]}))
    write_csv(pd.DataFrame({"document": [d.id for d in documents]}), out / "results.csv")
    t2 = time.perf_counter()
    added = record_in_ledger(config)
    t3 = time.perf_counter()
    return {"rows": rows, "docs": docs, "look_up_s": t1 - t0, "record_s": t3 - t2, "added": added,
            "sent_again": sum(1 for d in marked if d.same_as), "ledger_mb": ledger.stat().st_size / 2**20}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="files already in the ledger")
    p.add_argument("--docs", type=int, default=1000, help="files in tonight's batch")
    args = p.parse_args(argv)
    logging.getLogger("ocr.batch").setLevel(logging.ERROR)  # not one warning per file found again
    print("| files in the ledger | ledger size | batch | look-up before reading | adding after writing "
          "| found sent again |")
    print("|---:|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="ocr-ledger-") as tmp:
            r = measure(rows, args.docs, Path(tmp))
        print(f"| {r['rows']:,} | {r['ledger_mb']:.0f} MB | {r['docs']:,} | {r['look_up_s']:.1f} s | "
              f"{r['record_s']:.1f} s | {r['sent_again']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

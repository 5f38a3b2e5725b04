"""A processed batch for the review and corrections tests, made once per test session.

The committed sample batch (``data/samples``) when it is there, else a small synthetic batch made here
from MNIST test digits; processed with the shipped weights on the CPU. Tests that write into the
output folder work on a copy (:func:`copy_batch`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
_made: dict[str, Path] = {}


def input_folder(tmp_factory) -> Path:
    """The sample scans (with ``truth.csv``)."""
    if "in" not in _made:
        if (SAMPLES / "truth.csv").is_file():
            _made["in"] = SAMPLES
        else:
            from ocr.synth import write_batch

            folder = tmp_factory.mktemp("review-samples")
            write_batch("both", 10, 2026, folder)
            _made["in"] = folder
    return _made["in"]


def processed_batch(tmp_factory) -> Path:
    """The sample batch's output folder (read only: copy it before writing)."""
    if "out" not in _made:
        from ocr.batch import BatchConfig, run_batch

        out = tmp_factory.mktemp("review-batch") / "out"
        run_batch(BatchConfig(input_folder(tmp_factory), out, device="cpu"), progress=False)
        _made["out"] = out
    return _made["out"]


def copy_batch(tmp_factory, dest: Path) -> Path:
    """A private copy of the processed batch at ``dest``."""
    shutil.copytree(processed_batch(tmp_factory), dest, ignore=shutil.ignore_patterns(".parts"))
    return dest


def truth(tmp_factory) -> dict[tuple[str, str], str]:
    """(file name, field) -> the true value's digits (``truth.csv`` of the sample scans)."""
    t = pd.read_csv(input_folder(tmp_factory) / "truth.csv", dtype=str, keep_default_na=False)
    return {(r.document, r.field): "".join(c for c in r.value if c.isdigit()) for r in t.itertuples()}

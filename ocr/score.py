"""Score a batch's output against ground truth (``truth.csv`` from ``ocr synth``).

Per field type and overall:

- ``read_rate``: fields accepted *and* right, over all truth fields;
- ``error_among_accepted``: accepted but wrong, over accepted;
- ``review_rate``: fields not accepted (review, error, or missing because the document failed);
- ``segmentation``: fields whose digits.csv rows number as many as the digits written.

A truth field with no result row (its document in errors.csv) counts as not accepted, never as right.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

from ocr.errors import OCRError
from ocr.report import read_csv

KEY = ["document", "page", "field"]


def same_value(field_type: str, read: str, truth: str) -> bool:
    """Whether a read value is the true one: amounts compare as numbers (``1689.5`` == ``1689.50``),
    other types on their digits (a zip read as ``12345-6789`` is the digits ``123456789``)."""
    read, truth = str(read).lstrip("'"), str(truth)
    if field_type == "amount":
        try:
            return Decimal(read.replace(",", "")) == Decimal(truth.replace(",", ""))
        except InvalidOperation:
            return False
    digits = re.sub(r"\D", "", read)
    return bool(digits) and digits == re.sub(r"\D", "", truth)


def _rates(df: pd.DataFrame) -> dict:
    n = len(df)
    accepted = int(df["accepted"].sum())
    right = int((df["accepted"] & df["right"]).sum())
    wrong = accepted - right
    return {"fields": n, "accepted": accepted, "read_rate": right / n if n else 0.0,
            "error_among_accepted": wrong / accepted if accepted else 0.0, "accepted_wrong": wrong,
            "review_rate": (n - accepted) / n if n else 0.0,
            "segmentation": float(df["seg_ok"].mean()) if n else 0.0}


def score(out_dir: str | Path, truth: str | Path) -> dict[str, dict]:
    """``{field type: figures, ..., "all": figures}`` for a batch output folder and a truth file."""
    out_dir, truth = Path(out_dir), Path(truth)
    for p in (out_dir / "results.csv", out_dir / "digits.csv", truth):
        if not p.is_file():
            raise OCRError(f"{p} not found")
    t = read_csv(truth)
    missing = {"document", "field", "type", "value"} - set(t.columns)
    if missing:
        raise OCRError(f"{truth.name}: missing columns {', '.join(sorted(missing))}")
    if "page" not in t.columns:
        t["page"] = "1"
    if "digits" not in t.columns:
        t["digits"] = t["value"].map(lambda v: str(sum(c.isdigit() for c in v)))
    r = read_csv(out_dir / "results.csv")[KEY + ["value", "status"]].rename(columns={"value": "read"})
    d = read_csv(out_dir / "digits.csv")
    counts = d.groupby(KEY).size().rename("found").reset_index() if len(d) else pd.DataFrame(columns=KEY + ["found"])
    m = t.merge(r, on=KEY, how="left").merge(counts, on=KEY, how="left")
    m["read"] = m["read"].fillna("")
    m["accepted"] = m["status"].fillna("") == "accepted"
    m["right"] = [same_value(ft, a, b) for ft, a, b in zip(m["type"], m["read"], m["value"], strict=True)]
    m["seg_ok"] = pd.to_numeric(m["found"], errors="coerce").fillna(0).astype(int) == m["digits"].astype(int)
    out = {ft: _rates(g) for ft, g in m.groupby("type", sort=True)}
    out["all"] = _rates(m)
    return out


def format_table(figures: dict[str, dict]) -> str:
    """The figures as a fixed-width table for a terminal."""
    head = f"{'type':<8} {'fields':>6} {'read rate':>9} {'err|acc':>8} {'review':>7} {'segment':>8}"
    lines = [head, "-" * len(head)]
    for ft, f in figures.items():
        lines.append(f"{ft:<8} {f['fields']:>6} {f['read_rate']:>9.1%} {f['error_among_accepted']:>8.2%} "
                     f"{f['review_rate']:>7.1%} {f['segmentation']:>8.1%}")
    return "\n".join(lines)

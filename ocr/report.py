"""The batch's CSVs (results, digits, review, errors), crops for the review queue, and atomic writes.

Every CSV cell is written through :func:`safe_cell`: a text cell that a spreadsheet would run as a
formula (starting with ``= + - @``, a tab or a carriage return) gets a leading apostrophe. Values can
come from file names, which anybody who can drop a file in the scan folder controls.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import cv2
import numpy as np
import pandas as pd

RESULTS_COLUMNS = ["batch", "document", "file", "page", "template", "field", "type", "value", "status",
                   "confidence", "reason"]
DIGITS_COLUMNS = ["document", "page", "field", "position", "x0", "y0", "x1", "y1", "label", "penalty_best",
                  "penalty_second", "confidence", "status"]
REVIEW_COLUMNS = ["kind", "document", "page", "field", "position", "value", "confidence", "reason", "field_crop",
                  "digit_crops", "corrected_value"]
ERRORS_COLUMNS = ["batch", "document", "file", "page", "reason"]
TABLES = {"results": RESULTS_COLUMNS, "digits": DIGITS_COLUMNS, "review": REVIEW_COLUMNS, "errors": ERRORS_COLUMNS}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A cell as written to CSV: text that a spreadsheet would take for a formula gets a leading ``'``.

    Numbers are left alone (a negative number is data, not a formula); everything else is text.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly ``columns`` (missing keys empty), every cell made safe."""
    df = pd.DataFrame(rows, columns=columns)
    return _safe(df)


def _safe(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        # object (pandas 2) or the string dtype (pandas 3): any column that can hold text
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col].dtype):
            df[col] = df[col].map(safe_cell)
    return df


OUTPUT_MODE = 0o644


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; when the block ends without an error it is
    flushed to disk and renamed over ``path``, so a reader (or a crash) sees the old file or the new one,
    never half. On any error the temporary file is removed and the error goes on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes owner-only files; outputs are for auditors too (a shared drive), like any file written.
    os.chmod(tmp, OUTPUT_MODE)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as fh:
        fh.write(data)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """A DataFrame to CSV (UTF-8, no index, ``\\n`` line ends), atomically; cells made safe."""
    safe = _safe(df.copy())
    write_atomic_bytes(path, safe.to_csv(index=False, lineterminator="\n").encode("utf-8"))


def read_csv(path: Path) -> pd.DataFrame:
    """One of our CSVs back, every cell as text (so re-writing it changes nothing)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


CSV_ROWS = 20_000  # rows per piece when a batch's CSV is read piece by piece


def read_csv_pieces(path: Path, columns: Sequence[str] | None = None, rows: int | None = None):
    """One of our CSVs (every cell as text) in pieces of ``rows`` rows (:data:`CSV_ROWS` by default), with
    only those of ``columns`` it has (all by default): what reads a whole batch's ``digits.csv`` holds one
    piece at a time, so its memory does not grow with the batch."""
    wanted = set(columns) if columns is not None else None
    yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=rows or CSV_ROWS,
                           usecols=(lambda c: c in wanted) if wanted is not None else None)


def write_png(path: Path, image: np.ndarray) -> None:
    """A ``uint8`` grayscale image as PNG, atomically."""
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise OSError(f"could not encode {path.name} as PNG")
    write_atomic_bytes(path, buf.tobytes())


def review_order(df: pd.DataFrame) -> pd.DataFrame:
    """Review rows lowest confidence first; ties keep document, field and digit order (a stable sort)."""
    if df.empty:
        return df
    conf = pd.to_numeric(df["confidence"], errors="coerce").fillna(-1.0)
    return df.assign(_c=conf).sort_values("_c", kind="stable").drop(columns="_c").reset_index(drop=True)

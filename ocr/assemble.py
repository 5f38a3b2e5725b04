"""Digits -> a field's value, checked against what the field must hold.

- ``zip``: 5 digits, or 9 (ZIP+4, written ``12345-6789``);
- ``amount``: digits with an optional decimal part of two digits (``123.45``); commas, Indian grouping
  (1,68,900), currency signs and '/-' were already left out by :mod:`ocr.segment`;
- ``date``: 8 digits DDMMYYYY forming a real calendar date (the value stays ``DDMMYYYY``);
- ``digits``: any digit string.

A field is ``accepted`` only when every digit passes the calibrated threshold, the value is well
formed (in a comb field, one digit per printed cell) and segmentation had no doubt; otherwise
``review`` with every reason, in words.
The field's confidence is the *smallest* digit confidence: a value is as trustworthy as its
weakest digit, and unlike a product it does not fall with the number of digits. (When the weights
carry a field score for its type, the reader replaces it with how likely the score says the whole
field is right: :func:`ocr.reader.decide_fields`.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from ocr.records import DigitResult, FieldImage, FieldResult

# Digit counts a well-formed field may have (its grammar; amounts: any, with 2 after a point).
ALLOWED_COUNTS = {"zip": (5, 9), "date": (8,)}
# The years a date on a cheque or form may have: a reading outside them is a misread digit.
DATE_YEARS = (1900, 2099)


def _date_of(s: str) -> dt.date | None:
    """``"DDMMYYYY"`` -> the date, or ``None`` when it is no calendar date within :data:`DATE_YEARS`."""
    try:
        d = dt.date(int(s[4:]), int(s[2:4]), int(s[:2]))
    except ValueError:
        return None
    return d if DATE_YEARS[0] <= d.year <= DATE_YEARS[1] else None


def date_alternatives(labels: Sequence[int]) -> np.ndarray:
    """For a date read as ``labels`` (8 digits), ``bool [8, 10]``: which digits at each position
    would still make a date (the others' labels kept). Only these can be the other reading of a
    digit: in "25/0?/2016" the '?' is 1-9, in "?5/12/2016" 0-2."""
    s = [str(int(d)) for d in labels]
    out = np.zeros((len(s), 10), bool)
    for i in range(len(s)):
        for digit in range(10):
            out[i, digit] = _date_of("".join(s[:i] + [str(digit)] + s[i + 1 :])) is not None
    return out


def format_value(field_type: str, labels: Sequence[int], point_after: int | None = None) -> str:
    """Digit labels -> the field's value string (no validation)."""
    s = "".join(str(int(d)) for d in labels)
    if field_type == "amount" and point_after is not None and 0 <= point_after < len(s):
        # ".74" when nothing was read before the point: never 74, a hundred times the amount.
        return s[:point_after] + "." + s[point_after:]
    if field_type == "zip" and len(s) == 9:
        return s[:5] + "-" + s[5:]
    return s


def form_problem(field_type: str, labels: Sequence[int], point_after: int | None = None) -> str:
    """Why the digits do not make a well-formed value of ``field_type`` ("" when they do)."""
    n = len(labels)
    if n == 0:
        return "no digits found"
    if field_type == "zip" and n not in (5, 9):
        return f"wrong digit count ({n}, zip needs 5 or 9)"
    if field_type == "date":
        if n != 8:
            return f"wrong digit count ({n}, date needs 8: DDMMYYYY)"
        s = "".join(str(int(d)) for d in labels)
        if _date_of(s) is None:
            outside = not DATE_YEARS[0] <= int(s[4:]) <= DATE_YEARS[1]
            why = f": a year outside {DATE_YEARS[0]}-{DATE_YEARS[1]}" if outside else ""
            return f"not a valid date ({s[:2]}/{s[2:4]}/{s[4:]}{why})"
    if field_type == "amount" and point_after is not None and n - point_after != 2:
        # Cheques and forms write cents/paise as two digits: one digit after the point is far more
        # often a lost digit (two touching digits read as one) than "12.5".
        return f"decimal part must have 2 digits (read {n - point_after})"
    if field_type == "amount" and point_after == 0:
        # Cheques write "0.74", not ".74": a first digit before the point was left out (taken for a
        # '$' or a '₹' sign, or too faint to read).
        return "nothing read before the decimal point (a digit taken for a sign?)"
    return ""


def assemble(field: FieldImage, digits: list[DigitResult], point_after: int | None = None,
             doubts: Sequence[str] = ()) -> FieldResult:
    """Build the :class:`FieldResult` of one field from its digits (left to right).

    ``point_after``: digits before the decimal point of an amount (``None``: no point).
    ``doubts``: segmentation reasons for a person to check.
    """
    labels = [d.label for d in digits]
    value = format_value(field.type, labels, point_after)
    reasons: list[str] = []
    problem = form_problem(field.type, labels, point_after)
    if problem:
        reasons.append(problem)
    elif field.cells > 1 and len(labels) != field.cells:
        # A comb holds one digit per cell: a 9-digit zip is valid, in 5 printed cells it is not.
        reasons.append(f"{len(labels)} digits read in {field.cells} printed cells")
    whole = labels[:point_after] if point_after is not None else labels
    if field.type == "amount" and whole and whole[0] == 0 and (len(whole) > 1 or len(whole) == len(labels)):
        # Nobody writes "0284", nor a cheque for 0: a leading '0' is a mark read as a digit (a '$' cut
        # into pieces), or the digits before it were taken for a sign (a tall '3' before a small '0'
        # looks like a '$'). A person decides. ("0.50" is an amount.) Only here: a person's own
        # correction may say so.
        reasons.append("amount starts with 0 (a mark read as a digit?)" if len(whole) > 1
                       else "amount of 0 (a digit taken for a sign?)")
    low = [d.position + 1 for d in digits if not d.accepted]
    if low:
        where = ", ".join(str(k) for k in low)
        reasons.append(f"low-confidence digit at position{'s' if len(low) > 1 else ''} {where}")
    reasons.extend(dict.fromkeys(doubts))  # keep order, no repeats
    confidence = min((d.confidence for d in digits), default=0.0)
    status = "review" if reasons else "accepted"
    return FieldResult(field=field, value=value, status=status, confidence=float(confidence),
                       reason="; ".join(reasons), digits=list(digits))

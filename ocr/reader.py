"""The field reader: field images -> values with their confidence and what a person must check.

:func:`read_fields` is the public entry of the batch pipeline::

    clean (ocr.fields) -> segment (ocr.segment) -> normalise every candidate of every field
    (ocr.normalize) -> ONE ``classifier.penalties`` call over the whole stack (it batches
    internally) -> per field, the cheapest path through each segmentation graph -> assemble
    (ocr.assemble)

A failure in one field becomes that field's ``error`` result with its reason; the others go on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocr.assemble import assemble
from ocr.classify import Classifier
from ocr.errors import OCRError
from ocr.fields import CleanField, clean_field
from ocr.normalize import normalize_digit
from ocr.records import DigitResult, FieldImage, FieldResult
from ocr.reject import confidence as confidence_of
from ocr.reject import margins
from ocr.segment import Segmentation, segment

# Cost of reading a candidate as one digit (paper VIII: the path with the smallest total penalty).
# The RBF penalties are turned into -log P(best digit | candidate) with the rubbish class of the
# MAP criterion (ocr.reject), so a blob of two digits (near no prototype) is expensive and two
# well-formed halves are cheap; PIECE_COST is added per digit so that a single wide digit is not
# cut into confident slivers.
PIECE_COST = 4.0
# A candidate wider than WIDE * H (H: the field's digit height) is more likely two digits: each
# 0.1 H beyond costs WIDE_COST / 10.
WIDE = 0.9
WIDE_COST = 10.0
# The best path must beat the runner-up (with a different reading) by this much, else "segmentation doubt".
DOUBT_MARGIN = 1.0


@dataclass
class Timings:
    """Seconds spent in each step (accumulated over calls)."""

    clean: float = 0.0
    segment: float = 0.0
    normalize: float = 0.0
    classify: float = 0.0
    assemble: float = 0.0


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _error_result(field: FieldImage, reason: str) -> FieldResult:
    return FieldResult(field=field, value="", status="error", confidence=0.0, reason=reason, digits=[])


def _choose_paths(seg: Segmentation, costs: np.ndarray, labels: np.ndarray,
                  accepted: np.ndarray) -> tuple[list[int], list[str], int | None]:
    """Per group, the cheapest path; ``costs``/``labels``/``accepted`` are this field's candidates
    in order. An optional group (a possible rupee sign) is read only when its whole blob is a
    confidently recognised digit.

    Returns (candidate indices of the chosen digits, doubts, digits before the decimal point).
    """
    point_after = None
    chosen: list[int] = []
    doubts: list[str] = []
    offset = 0
    for gi, g in enumerate(seg.groups):
        if gi == seg.point_after:
            point_after = len(chosen)
        n = len(g.candidates)
        if g.optional and not accepted[offset]:
            offset += n
            continue
        scored = sorted((float(sum(costs[offset + c] for c in p)), p) for p in g.paths)
        best_cost, best = scored[0]
        reading = tuple(int(labels[offset + c]) for c in best)
        for cost, p in scored[1:]:
            if cost - best_cost >= DOUBT_MARGIN:
                break
            if tuple(int(labels[offset + c]) for c in p) != reading:
                doubts.append("segmentation doubt")
                break
        chosen.extend(offset + c for c in best)
        offset += n
    return chosen, doubts, point_after


def read_fields(fields: Sequence[FieldImage], classifier: Classifier, *,
                timings: Timings | None = None) -> list[FieldResult]:
    """Read many fields at once.

    Parameters
    ----------
    fields : sequence of FieldImage
        Crops (``uint8`` gray, dark ink on light paper) with their type.
    classifier : Classifier
        Its ``penalties`` is called once, on every candidate of every field (``float32 [N, 32, 32]``);
        it batches internally, so the forward passes number ``ceil(N / batch_size)``.
    timings : Timings, optional
        Accumulates the seconds spent per step.

    Returns
    -------
    list of FieldResult, one per field, in order. ``DigitResult.bbox`` is in field-crop pixels and
    ``digit_image`` is the 32x32 network input.
    """
    t = timings if timings is not None else Timings()
    results: list[FieldResult | None] = [None] * len(fields)
    cleaned: list[tuple[int, CleanField, Segmentation]] = []
    for i, f in enumerate(fields):
        try:
            t0 = time.perf_counter()
            c = clean_field(f.crop)
            t1 = time.perf_counter()
            s = segment(c.ink, c.mask, f.type)
            t2 = time.perf_counter()
            t.clean += t1 - t0
            t.segment += t2 - t1
            cleaned.append((i, c, s))
        except OCRError as exc:
            results[i] = _error_result(f, str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad field must not stop the others
            results[i] = _error_result(f, f"could not read the field ({type(exc).__name__}: {exc})")
    t0 = time.perf_counter()
    inputs: list[np.ndarray] = []
    valid: list[bool] = []
    for _, _, s in cleaned:
        for g in s.groups:
            for comp in g.candidates:
                try:
                    inputs.append(normalize_digit(comp.ink))
                    valid.append(True)
                except OCRError:
                    inputs.append(np.full((32, 32), -0.1, np.float32))
                    valid.append(False)
    stack = np.stack(inputs) if inputs else np.zeros((0, 32, 32), np.float32)
    t1 = time.perf_counter()
    penalties = classifier.penalties(stack) if len(stack) else np.zeros((0, 10), np.float32)
    t2 = time.perf_counter()
    t.normalize += t1 - t0
    t.classify += t2 - t1
    rej = classifier.rejector
    margin = margins(penalties, rej.j) if len(penalties) else np.zeros(0)
    labels = np.argmin(penalties, axis=1) if len(penalties) else np.zeros(0, np.int64)
    costs = _softplus(-margin) + PIECE_COST
    widths = np.array([(comp.bbox[2] - comp.bbox[0]) / max(s.digit_height, 1.0)
                       for _, _, s in cleaned for g in s.groups for comp in g.candidates])
    if len(widths):
        costs = costs + WIDE_COST * np.maximum(widths - WIDE, 0.0)
    costs[~np.asarray(valid, bool)] = np.inf
    conf = confidence_of(margin)
    accepted = margin >= rej.threshold
    offset = 0
    for i, c, s in cleaned:
        f = fields[i]
        n = sum(len(g.candidates) for g in s.groups)
        try:
            comps = [comp for g in s.groups for comp in g.candidates]
            chosen, doubts, point_after = _choose_paths(s, costs[offset : offset + n], labels[offset : offset + n],
                                           accepted[offset : offset + n])
            digits = []
            for pos, k in enumerate(chosen):
                j = offset + k
                digits.append(DigitResult(position=pos, bbox=c.box_in_crop(comps[k].bbox), label=int(labels[j]),
                                          penalties=penalties[j].copy(), confidence=float(conf[j]),
                                          accepted=bool(accepted[j]), digit_image=stack[j]))
            results[i] = assemble(f, digits, point_after, s.doubts + doubts)
        except OCRError as exc:
            results[i] = _error_result(f, str(exc))
        except Exception as exc:  # noqa: BLE001
            results[i] = _error_result(f, f"could not read the field ({type(exc).__name__}: {exc})")
        offset += n
    t.assemble += time.perf_counter() - t2
    return [r for r in results if r is not None]


def read_files(paths: Sequence[str | Path], field_type: str, classifier: Classifier) -> list[FieldResult]:
    """Read image files that each hold one field of ``field_type``: one result per path, in order.

    An unreadable file becomes an ``error`` result with the reason (its ``field.crop`` is empty);
    the other files are still read.
    """
    from ocr.pages import read_gray

    fields: list[FieldImage] = []
    failed: dict[int, FieldResult] = {}
    for k, p in enumerate(paths):
        try:
            crop = read_gray(p)
            fields.append(FieldImage(name=str(p), type=field_type, crop=crop, document=str(p)))
        except OCRError as exc:
            empty = FieldImage(name=str(p), type=field_type, crop=np.zeros((0, 0), np.uint8), document=str(p))
            failed[k] = _error_result(empty, str(exc))
    read = iter(read_fields(fields, classifier))
    return [failed[k] if k in failed else next(read) for k in range(len(paths))]


def print_review(results: Sequence[FieldResult], file=sys.stderr) -> None:
    """One line per field that is not accepted: name, status, reason (for people at a terminal)."""
    for r in results:
        if r.status != "accepted":
            print(f"{r.field.name}: {r.status}: {r.reason}", file=file)

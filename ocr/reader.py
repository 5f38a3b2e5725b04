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

from ocr.assemble import ALLOWED_COUNTS, assemble, date_alternatives, form_problem
from ocr.classify import Classifier, threshold_key
from ocr.errors import OCRError
from ocr.fields import CleanField, clean_field, faint_marks, faint_point, faint_walls
from ocr.fieldscore import digit_features, score
from ocr.normalize import BACKGROUND, PAIR_WIDTH, SIZE, normalize_digit
from ocr.pairs import TWO_DIGITS, pair_doubt, reading_class
from ocr.records import Component, DigitResult, FieldImage, FieldResult
from ocr.reject import confidence as confidence_of
from ocr.reject import margins
from ocr.segment import (
    HALF_MARK_DOUBT,
    MAY_BE_DIGIT,
    SMALL_DIGIT_DOUBT,
    SMALL_MARK,
    TOWERING,
    Comb,
    Segmentation,
    find_comb,
    segment,
)

# Cost of reading a candidate as one digit (paper VIII: the path with the smallest total penalty).
# The RBF penalties are turned into -log P(best digit | candidate) with the rubbish class of the
# MAP criterion (ocr.reject), so a blob of two digits (near no prototype) is expensive and two
# well-formed halves are cheap; PIECE_COST is added per digit so that a single wide digit is not
# cut into confident slivers.
PIECE_COST = 4.0
# Width/height of MNIST *training* digits (ink > 60) per class: 1st and 99th percentiles and
# standard deviation. A candidate read as digit c whose shape falls outside [P1, P99] costs
# ASPECT_COST per standard deviation beyond: a blob "14" read as a '4' is too wide for a '4', a
# sliver cut from a '0' too narrow for a '3'.
ASPECT_P1 = np.array([0.55, 0.15, 0.55, 0.45, 0.5, 0.5, 0.4, 0.5, 0.45, 0.4])
ASPECT_P99 = np.array([1.43, 1.0, 1.67, 1.25, 1.25, 1.67, 1.11, 1.25, 1.25, 1.05])
ASPECT_SD = np.array([0.18, 0.2, 0.21, 0.17, 0.17, 0.25, 0.16, 0.17, 0.17, 0.14])
ASPECT_COST = 2.0
# A candidate wider than WIDE * H (H: the field's digit height) is more likely two digits: each
# 0.1 H beyond costs WIDE_COST / 10.
WIDE = 0.9
WIDE_COST = 10.0
# When no confident reading keeps the field's grammar (a zip of 5 or 9 digits), the cheapest
# one that does is shown all the same, with the reading as written and this in the reason.
UNSURE_CUT = "shown with a wide mark cut into unsure digits"
# The best path must beat the runner-up (with a different reading) by this much, else "segmentation doubt".
DOUBT_MARGIN = 1.0
# A mark shaped like a sign (currency, rupee, the '/' of '/-') is read as a digit when accepted, and
# dropped as the sign when it is not even digit-like: its margin is below the threshold calibrated
# for this (loose) digit error.
LOOSE_TARGET = "0.005"
TOWERING_DOUBT = "a mark nearly twice as tall as the digits, read as a digit (the '/' of '/-'?)"
GROUPING_DOUBT = "the digits between the commas do not group as 1,23,456 or 1,234,567 (a digit lost or added?)"
LOW_ONE_DOUBT = "a '1' standing lower than the digits beside it (a comma written long?)"
FIRST_COMMA_DOUBT = ("a long stroke left out as a comma with no digit read before it "
                     "(a digit written low after the sign?)")
FAINT_MARK_DOUBT = "a faint mark as large as a digit, not read (a digit written lightly?)"
# The digits a rupee sign is most like to the classifier: a bar over a stroke down ('7'), a bar over a
# curve ('2', '3'). Of 890 rupee signs left out as not digit-like on 3,000 ordinary and 2,000 CTS-style
# strips (session 36), every one read closest to these; the only two digits left out so read closest to
# a '9' ("541.50" read 41.50 and accepted, its '5' a flag and a bowl taken for the sign's bars). A mark
# left out as the sign that looks most like another digit is left out with a doubt.
RUPEE_READS = (2, 3, 7)
# The digits the two-digit detector (ocr.pairs) is asked about: those read whole from a mark wide enough for two.
PAIR_SOURCES = ("wide blob",)
# The digits the two-digit detector is asked about in fields with no digit count: every mark read whole. A
# narrow one it calls two digits is two strokes run together, a '1' drawn along a '9''s stem ("914" read 94):
# on 3,000 amount strips (session 36) it named 2 of the 7 amounts accepted wrong and none of the 1,783 accepted
# right.
ASKED_SOURCES = ("blob", "wide blob")
# What reading whole a mark the detector calls two digits adds to its path cost, so that the reading shown
# to the person cuts it where a cut reading exists (the field goes to review either way).
PAIR_COST = 10.0
# The start of the reason a field whose digits all pass goes to a person with when its field score falls short.
SCORE_DOUBT = "the digits together are not sure enough"
# The pair reader's say in how a wide mark is read: its -log P(reading), times this, is added to the
# path cost of reading the mark so (ocr.pairs), at most READING_CAP.
READING_WEIGHT = 1.0
READING_CAP = 10.0
# A wide mark that the pair reader reads as two digits ``a b`` with P at least PAIR_READ, when no path of its
# graph reads ``a b`` (two digits drawn over each other leave no cut between them), may be read as those two
# digits by the pair reader alone: one more path of its graph, of two digits with source PAIR_READ_SOURCE (a
# recogniser slid along the mark reads what no segmenter cuts; LeCun et al. 1998, section VII).
PAIR_READ = 0.9
PAIR_READ_SOURCE = "pair read"
STRICT_DOUBT = False  # True: any confident alternative reading is a doubt (costs ~20 points of acceptance)


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


def margin_cost(margin: np.ndarray) -> np.ndarray:
    """What reading a piece as its digit costs in the segmentation graph at that digit's ``margin`` (its
    -log P, by the log-odds) plus ``PIECE_COST``, before what its shape adds (:func:`shape_costs`)."""
    return _softplus(-margin) + PIECE_COST


def shape_costs(boxes: Sequence[tuple[int, int, int, int]], heights: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """What a candidate's shape adds to the cost of reading it as one digit: ``WIDE_COST`` per H
    beyond ``WIDE`` (``float [N]``), and per digit ``ASPECT_COST`` per standard deviation its
    width/height falls outside that digit's [P1, P99] (``float [N, 10]``). ``boxes`` are the
    candidates' boxes, ``heights`` their fields' digit heights H. The reader's path costs and the
    field-level training (ocr.graphtrain) both use it."""
    box = np.asarray(boxes, float).reshape(-1, 4)
    w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    wide = WIDE_COST * np.maximum(w / np.maximum(np.asarray(heights, float), 1.0) - WIDE, 0.0)
    aspect = (w / np.maximum(h, 1.0))[:, None]
    outside = np.maximum(ASPECT_P1[None] - aspect, 0.0) + np.maximum(aspect - ASPECT_P99[None], 0.0)
    return wide, ASPECT_COST * outside / ASPECT_SD[None]


def _error_result(field: FieldImage, reason: str) -> FieldResult:
    return FieldResult(field=field, value="", status="error", confidence=0.0, reason=reason, digits=[])


# The segmentation search prefers the digit counts a well-formed field may have (ocr.assemble's
# ALLOWED_COUNTS; paper VIII: the graph is composed with the field's grammar before the best path
# is taken).
GRAMMAR_ASPECT = 1.0


def grouped_after_comma(n: int) -> bool:
    """Can ``n`` digits of an amount's whole part follow a grouping comma? Western grouping leaves
    a multiple of three after each comma (1,234,567), Indian grouping three plus pairs (1,68,900)."""
    return n >= 3 and (n % 3 == 0 or n % 2 == 1)


def reading_cost(readings: np.ndarray | None, first: int, reading: Sequence[int]) -> float:
    """What the pair reader (``readings``: the field's rows of log P(reading), NaN for marks it did not
    read) adds to the cost of reading the mark whose whole is candidate ``first`` as the digits
    ``reading``: :data:`READING_WEIGHT` times -log P(that reading), at most :data:`READING_CAP` (three
    digits or more, which it cannot judge: the cap); 0 for a mark it did not read."""
    if readings is None or READING_WEIGHT == 0 or not np.isfinite(readings[first, 0]):
        return 0.0
    cls = reading_class(reading)
    return READING_WEIGHT * (READING_CAP if cls is None else min(-float(readings[first, cls]), READING_CAP))


def pair_read_marks(seg: Segmentation, labels: np.ndarray, accepted: np.ndarray,
                    readings: np.ndarray | None) -> list[tuple[int, int, int, int, float]]:
    """The wide marks of a field (``labels``, ``readings``: its candidates', in order) that the pair reader
    alone may read (:data:`PAIR_READ`): per such group, (group index, its first candidate, a, b, log P(a b)).
    Only a mark the segmenter may cut (not a comb cell's, which holds one digit), not one that may be a sign
    (an optional group), and not one that a cut reads as three digits or more, each confidently (``accepted``):
    the pair reader knows pairs and single digits only, and reads three touching digits as the pair it finds
    likeliest ("124" read "64")."""
    out: list[tuple[int, int, int, int, float]] = []
    if readings is None:
        return out
    start = 0
    for gi, g in enumerate(seg.groups):
        if len(g.candidates) > 1 and not g.optional and np.isfinite(readings[start, 0]):
            cls = int(np.argmax(readings[start, :100]))  # the likeliest of the 100 digit pairs
            log_p = float(readings[start, cls])
            a, b = divmod(cls, 10)
            if log_p >= np.log(PAIR_READ) \
                    and not any(len(p) > 2 and all(accepted[start + c] for c in p) for p in g.paths) \
                    and all(tuple(int(labels[start + c]) for c in p) != (a, b) for p in g.paths):
                out.append((gi, start, a, b, log_p))
        start += len(g.candidates)
    return out


def split_mark(whole: Component) -> tuple[Component, Component]:
    """A mark read as two digits by the pair reader, as the two halves of its box (where each digit is
    shown to a person and given to the review sheet; no claim that the digits part there)."""
    x0, y0, x1, y1 = whole.bbox
    mid = whole.ink.shape[1] // 2
    return (Component(ink=whole.ink[:, :mid], bbox=(x0, y0, x0 + mid, y1)),
            Component(ink=whole.ink[:, mid:], bbox=(x0 + mid, y0, x1, y1)))


def _choose_paths(seg: Segmentation, field_type: str, costs: np.ndarray, labels: np.ndarray,
                  accepted: np.ndarray, digit_like: np.ndarray,
                  readings: np.ndarray | None = None,
                  extra: dict[int, tuple[int, int]] | None = None) -> tuple[list[int], list[str], int | None]:
    """Choose one path through every group's segmentation graph.

    ``costs``/``labels``/``accepted``/``digit_like`` are this field's candidates in order
    (``digit_like``: the margin passes the threshold calibrated for ``LOOSE_TARGET``). The choice
    minimises the total cost; when that reading breaks the field's grammar (zip: 5 or 9 digits;
    date: 8; an amount's decimal part: 2), the cheapest reading that keeps it replaces it if it is
    unambiguous. An optional group (a possible sign, see ``ocr.segment.MAY_BE_DIGIT``) is read
    only when its whole blob is a confidently recognised digit; one that is not, but is
    digit-like, is left out with a doubt, and so is a possible rupee sign that reads most like a digit
    no rupee sign does (:data:`RUPEE_READS`).
    *Segmentation doubt*: another path of some group, whose pieces are all confidently recognised,
    reads differently and is (nearly) as cheap.

    ``extra`` maps a group's index to two more candidates (indices past the groups' own, in ``costs``,
    ``labels``, ``accepted``) that read its mark as two digits: the pair reader's reading
    (:func:`pair_read_marks`), one more path of that group.

    Returns (candidate indices of the chosen digits, doubts, digits before the decimal point).
    """
    extra = extra or {}
    options: list[list[tuple[float, tuple[int, ...], tuple[int, ...], bool]]] = []  # per group
    offset = 0
    sign_doubts: list[str] = []
    for gi, g in enumerate(seg.groups):
        n = len(g.candidates)
        opts = []
        if g.optional and not accepted[offset]:
            opts.append((0.0, (), (), True))
            if g.optional == SMALL_MARK:  # neither surely a digit nor surely not: a person decides
                sign_doubts.append(HALF_MARK_DOUBT)
            elif digit_like[offset]:  # not sure enough to read, too much like a digit to drop
                sign_doubts.append(f"a mark that may be {g.optional} or a digit")
            elif any(len(p) > 1 and all(accepted[offset + c] for c in p) for p in g.paths):
                # Cut, it reads as confident digits: two touching digits (a '15') with a sign's bars.
                sign_doubts.append(f"a mark that may be {g.optional} or digits")
            elif g.optional == MAY_BE_DIGIT["rupee?"] and int(labels[offset]) not in RUPEE_READS:
                like = int(labels[offset])
                sign_doubts.append(f"a mark left out as {g.optional} (it looks most like {'an' if like == 8 else 'a'} "
                                   f"'{like}': a digit with two bars?)")
            elif seg.sign_printed and g is seg.groups[0]:
                # The form prints the sign: a second one is rare, a first digit written tall is not.
                sign_doubts.append(f"a first mark left out as {g.optional}, though the form prints one "
                                   "(a digit written tall?)")
        else:
            for idx in [tuple(offset + c for c in p) for p in g.paths] + ([extra[gi]] if gi in extra else []):
                reading = tuple(int(labels[k]) for k in idx)
                opts.append((float(sum(costs[k] for k in idx)) + reading_cost(readings, offset, reading), idx, reading,
                             bool(all(accepted[k] for k in idx))))
        opts.sort(key=lambda o: o[0])
        options.append(opts)
        offset += n
    # What the grammar counts: every digit (zip, date), or the digits after an amount's point, or else
    # after the last comma of its whole part: every grouping style ends on three (1,234 and 1,68,900;
    # "2,70,000" with its zeros written in one run, cut into two, is read again as three if a confident
    # reading of the run gives three). (Not after a comma that may be a decimal point written low.)
    first, rule = 0, ALLOWED_COUNTS.get(field_type, ())
    after_comma = False
    if field_type == "amount" and seg.point_after is not None:
        first = seg.point_after
        rule = (2,) if first else ()
    elif field_type == "amount" and seg.last_comma is not None and seg.comma_after is None:
        first, rule, after_comma = seg.last_comma, (3,), True

    def cheapest(usable) -> dict[int, tuple[float, list[int]]]:
        """Dynamic programme over groups: for each count of digits, the cheapest combination."""
        best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
        for gi, (g, opts) in enumerate(zip(seg.groups, options, strict=True)):
            nxt: dict[int, tuple[float, list[int]]] = {}
            for count, (cost, picks) in best.items():
                for k, (c, idx, _, ok) in enumerate(opts):
                    if k and not usable(g, ok, k, opts):
                        continue
                    key = count + (len(idx) if gi >= first else 0)
                    if key not in nxt or cost + c < nxt[key][0]:
                        nxt[key] = (cost + c, picks + [k])
            best = nxt
        return best

    free = cheapest(lambda g, ok, k, opts: True)
    count = min(free, key=lambda n: free[n][0])
    picks = free[count][1]
    allowed: list[int] = []
    unsure_reason = ""
    if rule and count not in rule:
        # The field's grammar may pick another reading of a blob wider than tall (a touching pair:
        # single digits are taller than wide), with every digit confidently recognised.
        def usable(g, ok, k, opts):
            x0, y0, x1, y1 = g.bbox
            return ok and (x1 - x0) >= GRAMMAR_ASPECT * (y1 - y0)

        ruled = cheapest(usable)
        allowed = [n for n in rule if n in ruled]
        fits = [n for n in rule if n in free]
        if not allowed and fits and not (sign_doubts or seg.doubts):
            # No confident reading keeps the grammar. The cheapest one that does, unsure as its
            # pieces are, still shows the person a value of the right length ("22962" with the cut
            # "96" to check, not "2262"); the doubt sends the field to review whatever its
            # thresholds, and tells what the reading as written was (a zip may really be four
            # digits long). Not when a mark was left out with a doubt: that mark is the likelier
            # missing digit.
            picks = free[min(fits, key=lambda n: free[n][0])][1]
            written = f"{count} digit{'s' if count != 1 else ''} after the last comma, not 3" if after_comma \
                else form_problem(field_type, [0] * count, 0 if field_type == "amount" else None)
            unsure_reason = f"{written}, read as written; {UNSURE_CUT}"

    def doubts_of(picks: list[int]) -> list[str]:
        """A confident alternative reading of some group, nearly as cheap (or cheaper)."""
        for opts, k in zip(options, picks, strict=True):
            c0, _, reading, _ = opts[k]
            for c, _idx, other, all_ok in opts:
                if other == reading or not all_ok:
                    continue
                if STRICT_DOUBT or c - c0 < DOUBT_MARGIN:
                    return ["segmentation doubt"]
        return []

    # After an unsure cut, that the reading as written was cheaper is no news to the person.
    doubts = [unsure_reason, *sign_doubts] if unsure_reason else doubts_of(picks) + sign_doubts
    if allowed:
        count = min(allowed, key=lambda n: ruled[n][0])
        forced = ruled[count][1]
        # The grammar picks the reading only when no other reading is confident as well: a blob
        # "10" read confidently as a '0' stays a doubt (wrong digit count), not a forced guess.
        forced_doubts = doubts_of(forced)
        if not forced_doubts:
            picks, doubts = forced, sign_doubts
    chosen: list[int] = []
    starts = []  # digits chosen before each group (and, last, all of them)
    for opts, k in zip(options, picks, strict=True):
        starts.append(len(chosen))
        chosen.extend(opts[k][1])
    starts.append(len(chosen))
    point_after = starts[seg.point_after] if seg.point_after is not None else None
    comma_after = starts[seg.comma_after] if seg.comma_after is not None else None
    whole = point_after if point_after is not None else len(chosen)
    if any(starts[gi] == 0 for gi in seg.long_commas):
        # A grouping comma has digits before it: with none read there (only a sign), the stroke taken for
        # one may be the first digit, written a little low after a sign ("4,352" accepted as 352).
        doubts = [*doubts, FIRST_COMMA_DOUBT]
    for gi in seg.long_commas:
        n = whole - starts[gi]
        if not (n == 3 if gi == seg.last_comma else grouped_after_comma(n)):
            # A long stroke hanging below the line was left out as a comma: where the digits after
            # it cannot follow a grouping comma, it may be a '1' written low.
            follow = f"{n} digit{'s follow' if n != 1 else ' follows'} it"
            doubts = [*doubts, f"a long stroke left out as a comma, but {follow} (a '1' written low?)"]
    if field_type == "amount":
        # A digit read from a mark half a digit high: nothing counts an amount's digits, so a person
        # checks it, unless it is a zero in the group of three after the last comma, which the grouping
        # counts ("1,50,000" with its zeros written small: a mark taken for a digit or a digit lost there
        # leaves two or four after the comma, doubts of their own).
        # (The last comma is a grouping comma, or one before the last marks that may be a point written low.)
        comma = seg.comma_after if comma_after is not None else seg.last_comma
        counted = comma is not None and whole - starts[comma] == 3
        small = [(gi, opts[k][2]) for gi, (g, opts, k) in enumerate(zip(seg.groups, options, picks, strict=True))
                 if g.optional == SMALL_MARK]
        if any(reading and not (counted and gi >= comma and starts[gi] < whole and reading == (0,))
               for gi, reading in small):
            doubts = [*doubts, SMALL_DIGIT_DOUBT]
    if any(options[gi][picks[gi]][2] == (1,) for gi in seg.low_strokes):
        # Read as a '1', a stroke standing lower than the digits may be a comma written long.
        doubts = [*doubts, LOW_ONE_DOUBT]
    if seg.last_comma is not None and seg.last_comma not in seg.long_commas and comma_after is None \
            and whole - starts[seg.last_comma] > 3:
        # Every grouping style has three digits after its last comma (1,234 and 1,68,900): more is a
        # decimal point lost ("688,958.47" read 68895847, a hundred times too much) or a digit added.
        # (Fewer is mostly a digit lost, which its own doubt already catches, or a speck taken for a comma.)
        n = whole - starts[seg.last_comma]
        doubts = [*doubts, f"{n} digits after the last comma, not 3 (a decimal point lost, or a digit added?)"]
    if field_type == "amount" and seg.commas and comma_after is None:
        # Digits before the first comma and between commas: Indian grouping (1,23,45,678) has 1-2 then
        # pairs, Western (1,234,567) 1-3 then threes. Anything else is a digit lost (a touching pair read
        # as one digit: "1,68,900" read 1,8,900) or added. (After the last comma: the check above.)
        at = [starts[g] for g in seg.commas]
        sizes = [b - a for a, b in zip([0, *at[:-1]], at, strict=True)]
        first, middle = sizes[0], sizes[1:]
        if not ((1 <= first <= 2 and all(m == 2 for m in middle)) or (1 <= first <= 3 and all(m == 3 for m in middle))):
            doubts = [*doubts, GROUPING_DOUBT]
    if comma_after is not None and len(chosen) - comma_after != 3:
        # Every grouping style ends on a group of three (1,234 and 1,68,900): a comma before one
        # or two digits is a decimal point written low, or a grouping comma before a touching
        # pair read as one digit ("58,124" read 58,14). A person decides.
        n = len(chosen) - comma_after
        doubts = [*doubts, f"a comma before the last {n} digit{'s' if n != 1 else ''} (a decimal point?)"]
    if field_type == "amount" and any(opts[k][1] and g.bbox[3] - g.bbox[1] >= TOWERING * seg.digit_height
                                      for g, opts, k in zip(seg.groups, options, picks, strict=True)):
        # No digit is nearly twice as tall as the others: a digit read out of such a mark is the '/' of
        # '/-' run into the last digit ("000/" read 0001, or cut into a '9' and a '1'), or a sign.
        doubts = [*doubts, TOWERING_DOUBT]
    return chosen, doubts, point_after


@dataclass
class Prepared:
    """Fields cleaned and segmented, every candidate normalised: all that comes before the classifier.

    ``stack`` ``float32 [N, 32, 32]`` holds every candidate of every segmented field in order
    (field, group, candidate); ``boxes``, ``heights`` (the field's digit height), ``sources`` and
    ``valid`` (normalisable) follow the same order. ``marks`` ``int [M]`` are the rows of the marks wide
    enough for two digits read whole (sources :data:`PAIR_SOURCES`), ``mark_stack`` ``float32 [M, 32, 64]``
    the same marks normalised ``wide`` for the pair reader. ``failed`` maps a field's index to its error
    result; ``cleaned`` lists the others as (index, cleaned field, segmentation).
    """

    fields: Sequence[FieldImage]
    failed: dict[int, FieldResult]
    cleaned: list[tuple[int, CleanField, Segmentation]]
    stack: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    heights: list[float]
    sources: list[str]
    valid: list[bool]
    marks: np.ndarray
    mark_stack: np.ndarray


def comb_of(c: CleanField, cells: int) -> Comb | None:
    """The printed cells of a field the template prints as a comb of ``cells`` cells: from the lines
    the cleaning found and took out (:func:`ocr.segment.find_comb`), or else from walls printed too
    faint to be ink (:func:`ocr.fields.faint_walls`), which leave nothing outside the cells. ``None``
    when neither shows such a comb: the field is read as written freely."""
    if cells < 2:
        return None
    comb = find_comb(c.rules, c.walls, cells, *c.ink.shape)
    if comb is None and c.gray is not None:
        edges = faint_walls(c.gray, cells)
        if edges is not None:
            comb = Comb(edges, 0.0, float(c.ink.shape[0]))
    return comb


def prepare_fields(fields: Sequence[FieldImage], timings: Timings | None = None, *,
                   hysteresis: bool = False) -> Prepared:
    """Clean and segment every field, and normalise every candidate of every segmentation graph.
    A field that fails here is kept as its ``error`` result with the reason. ``hysteresis``: clean as
    :func:`ocr.fields.clean_field` with it (what the network was trained on: ``Classifier.hysteresis``)."""
    t = timings if timings is not None else Timings()
    failed: dict[int, FieldResult] = {}
    cleaned: list[tuple[int, CleanField, Segmentation]] = []
    for i, f in enumerate(fields):
        try:
            t0 = time.perf_counter()
            c = clean_field(f.crop, hysteresis=hysteresis)
            t1 = time.perf_counter()
            comb = comb_of(c, f.cells)
            s = segment(c.ink, c.mask, f.type, comb=comb, printed_sign=f.printed_sign)
            if f.type == "amount" and s.point_after is None and c.gray is not None:
                after = faint_point(c.gray, c.mask, [g.bbox for g in s.groups], s.digit_height)
                if after:
                    s.doubts.append(f"a faint dot before the last {after} digit{'s' if after > 1 else ''} "
                                    "(a decimal point?)")
            if f.type in ("amount", "digits") and c.faint is not None and not comb \
                    and faint_marks(c.faint, c.mask, [g.bbox for g in s.groups if not g.optional], s.digit_height):
                # No digit count catches a digit lost from an amount: "54" read 4.
                s.doubts.append(FAINT_MARK_DOUBT)
            t2 = time.perf_counter()
            t.clean += t1 - t0
            t.segment += t2 - t1
            cleaned.append((i, c, s))
        except OCRError as exc:
            failed[i] = _error_result(f, str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad field must not stop the others
            failed[i] = _error_result(f, f"could not read the field ({type(exc).__name__}: {exc})")
    t0 = time.perf_counter()
    inputs: list[np.ndarray] = []
    valid: list[bool] = []
    # One walk over every candidate (field, group, candidate order): its box, its field's digit
    # height, and where it came from (a digit-sized blob, a wide blob read whole, a cut piece).
    boxes: list[tuple[int, int, int, int]] = []
    heights: list[float] = []
    sources: list[str] = []
    marks: list[int] = []
    mark_inputs: list[np.ndarray] = []
    for _, _, s in cleaned:
        for g in s.groups:
            for k, comp in enumerate(g.candidates):
                boxes.append(comp.bbox)
                heights.append(s.digit_height)
                sources.append("cut" if k > 0 else "wide blob" if g.wide_mark else "blob")
                try:
                    inputs.append(normalize_digit(comp.ink))
                    valid.append(True)
                except OCRError:
                    inputs.append(np.full((SIZE, SIZE), BACKGROUND, np.float32))
                    valid.append(False)
                    continue
                if sources[-1] in PAIR_SOURCES:
                    marks.append(len(inputs) - 1)
                    mark_inputs.append(normalize_digit(comp.ink, wide=True))
    stack = np.stack(inputs) if inputs else np.zeros((0, SIZE, SIZE), np.float32)
    mark_stack = np.stack(mark_inputs) if mark_inputs else np.zeros((0, SIZE, PAIR_WIDTH), np.float32)
    t.normalize += time.perf_counter() - t0
    return Prepared(fields, failed, cleaned, stack, boxes, heights, sources, valid, np.asarray(marks, np.int64),
                    mark_stack)


def classify_prepared(prep: Prepared, classifier: Classifier) -> tuple[np.ndarray, np.ndarray | None,
                                                                         np.ndarray | None]:
    """Every candidate's penalties ``float32 [N, 10]``; for every mark read whole (:data:`ASKED_SOURCES`)
    in fields with no digit count (amounts, digits: a zip or a date read a digit short is wrong for its
    count already), P(two digits) from the weights' two-digit detector (``float32 [N]``, NaN for the
    others; ``None`` without a detector); and for every mark wide enough for two digits read
    whole, the pair reader's log P(reading) (``float32 [N, READINGS]``, :mod:`ocr.pairs`; NaN rows for
    the others; ``None`` without a pair reader). Batched (:meth:`Classifier.read`,
    :meth:`Classifier.read_marks`)."""
    if not len(prep.stack):
        return np.zeros((0, 10), np.float32), None, None
    uncounted = [prep.fields[i].type not in ALLOWED_COUNTS for i, _, s in prep.cleaned
                 for g in s.groups for _ in g.candidates]
    whole = np.isin(np.asarray(prep.sources), ASKED_SOURCES)
    penalties, two = classifier.read(prep.stack, ask=whole & np.asarray(uncounted, bool))
    read = classifier.read_marks(prep.mark_stack)
    if read is None:
        return penalties, two, None
    readings = np.full((len(prep.stack), read.shape[1]), np.nan, np.float32)
    readings[prep.marks] = read
    return penalties, two, readings


@dataclass
class FieldCandidates:
    """One field's candidates as the path choice sees them: its groups' own, in order, then two per wide mark
    the pair reader alone may read (:func:`pair_read_marks`, source :data:`PAIR_READ_SOURCE`: the halves of
    the mark's box, label and margin from the pair reader, no RBF penalties: NaN). ``extra`` maps such a
    group's index to its two; ``group_of`` and ``group_first`` give each candidate's group and that group's
    first candidate (the mark read whole)."""

    costs: np.ndarray
    labels: np.ndarray
    accepted: np.ndarray
    digit_like: np.ndarray
    margin: np.ndarray
    penalties: np.ndarray
    two: np.ndarray
    readings: np.ndarray | None
    sources: list[str]
    comps: list[Component]
    images: list[np.ndarray]
    extra: dict[int, tuple[int, int]]
    group_of: np.ndarray
    group_first: np.ndarray


def _field_candidates(prep: Prepared, seg: Segmentation, offset: int, n: int, penalties: np.ndarray,
                      margin: np.ndarray, labels: np.ndarray, costs: np.ndarray, accepted: np.ndarray,
                      digit_like: np.ndarray, two: np.ndarray | None, readings: np.ndarray | None,
                      threshold: float) -> FieldCandidates:
    """:class:`FieldCandidates` of the field whose candidates are rows ``offset`` to ``offset + n`` of
    the batch's arrays (``threshold``: the digit threshold, which a pair-read digit's margin is held to)."""
    rows = slice(offset, offset + n)
    field_readings = readings[rows] if readings is not None else None
    group_of = np.asarray([gi for gi, g in enumerate(seg.groups) for _ in g.candidates], np.int64)
    starts = np.cumsum([0] + [len(g.candidates) for g in seg.groups])
    reads = pair_read_marks(seg, labels[rows], accepted[rows], field_readings)
    comps = [comp for g in seg.groups for comp in g.candidates]
    images = list(prep.stack[rows])
    extra: dict[int, tuple[int, int]] = {}
    new_labels, new_margins, new_groups = [], [], []
    for gi, first, a, b, log_p in reads:
        extra[gi] = (n + 2 * len(extra), n + 2 * len(extra) + 1)
        for half, label in zip(split_mark(comps[first]), (a, b), strict=True):
            comps.append(half)
            try:
                images.append(normalize_digit(half.ink))
            except OCRError:
                images.append(np.full((SIZE, SIZE), BACKGROUND, np.float32))
            new_labels.append(label)
            # The log-odds of the pair reading, as a digit's margin is the log-odds of its reading.
            new_margins.append(log_p - np.log(-np.expm1(log_p)) if log_p < 0 else np.inf)
            new_groups.append(gi)
    k = len(new_labels)
    new_m = np.asarray(new_margins, np.float64)
    sure = new_m >= threshold  # accepted, and digit-like
    field_two = two[rows] if two is not None else np.full(n, np.nan)
    groups = np.concatenate([group_of, np.asarray(new_groups, np.int64)])
    return FieldCandidates(
        costs=np.concatenate([costs[rows], margin_cost(new_m)]),
        labels=np.concatenate([labels[rows], np.asarray(new_labels, labels.dtype)]),
        accepted=np.concatenate([accepted[rows], sure]),
        digit_like=np.concatenate([digit_like[rows], sure]),
        margin=np.concatenate([margin[rows], new_m]),
        penalties=np.concatenate([penalties[rows], np.full((k, 10), np.nan, penalties.dtype)]),
        two=np.concatenate([field_two, np.full(k, np.nan)]),
        readings=(np.concatenate([field_readings, np.full((k, field_readings.shape[1]), np.nan, field_readings.dtype)])
                  if field_readings is not None else None),
        sources=list(prep.sources[rows]) + [PAIR_READ_SOURCE] * k,
        comps=comps, images=images, extra=extra,
        group_of=groups, group_first=starts[groups])


def decide_fields(prep: Prepared, penalties: np.ndarray, classifier: Classifier,
                  thresholds: dict[str, dict[str, float]] | None = None,
                  two: np.ndarray | None = None, readings: np.ndarray | None = None) -> list[FieldResult]:
    """From the penalties of every candidate (``float32 [N, 10]``, in ``prep.stack`` order): per
    field, the cheapest path through each segmentation graph, then the value and its status.

    The path is chosen with the digit threshold alone (which readings are confident enough to force
    the grammar or to raise a segmentation doubt), so it does not depend on the field thresholds. A
    chosen digit is then accepted when its margin also reaches its field type's threshold for where
    it came from (:meth:`Classifier.threshold_for`; ``thresholds``, if given, stands in for the
    classifier's calibrated field thresholds; weights with field scores hold each digit to the digit
    threshold only, and a field whose digits all pass to its score, :func:`score_doubt`). ``two``
    (:func:`classify_prepared`) is P(two digits) of the wide marks read whole: a chosen digit read
    from one the detector gives at least
    :data:`ocr.pairs.TWO_DIGITS` is a doubt (:func:`ocr.pairs.pair_doubt`). ``readings`` (the same) is the
    pair reader's log P(reading) of those marks: each digit read from one, whole or cut, carries the
    log-probability of its mark's reading (``DigitResult.pair_reading``), a feature of the field score.
    """
    rej = classifier.rejector
    margin = margins(penalties, rej.j) if len(penalties) else np.zeros(0)
    labels = np.argmin(penalties, axis=1) if len(penalties) else np.zeros(0, np.int64)
    costs = margin_cost(margin)
    if len(costs):
        wide, aspect = shape_costs(prep.boxes, prep.heights)
        costs = costs + wide + aspect[np.arange(len(labels)), labels]
    costs[~np.asarray(prep.valid, bool)] = np.inf
    accepted = margin >= rej.threshold
    loose = classifier.info.get("calibration", {}).get("thresholds", {}).get(LOOSE_TARGET, {}).get("threshold")
    digit_like = margin >= (loose if loose is not None else rej.threshold)
    results: dict[int, FieldResult] = dict(prep.failed)
    offset = 0
    for i, c, s in prep.cleaned:
        f = prep.fields[i]
        n = sum(len(g.candidates) for g in s.groups)
        try:
            field = _field_candidates(prep, s, offset, n, penalties, margin, labels, costs, accepted, digit_like,
                                      two, readings, rej.threshold)
            rest = (field.labels, field.accepted, field.digit_like, field.readings, field.extra)
            chosen, doubts, point_after = _choose_paths(s, f.type, field.costs, *rest)
            called_two = np.nan_to_num(field.two, nan=0.0) >= TWO_DIGITS
            first_positions = [pos + 1 for pos, k in enumerate(chosen) if called_two[k]]
            flagged: set[int] = set()  # groups read whole that the detector calls two digits
            if first_positions:
                # The field goes to a person, shown the reading with such a mark cut where a cut reading
                # exists (reading it whole costs more).
                flagged = {field.group_of[k] for k in chosen if called_two[k]}
                chosen, doubts, point_after = _choose_paths(s, f.type, field.costs + PAIR_COST * called_two, *rest)
            marks = mark_readings(chosen, field.labels, field.readings, field.group_first)
            m = field.margin[chosen]
            read = [pos for pos, k in enumerate(chosen) if k < n]  # not the pair reader's: they have penalties
            if f.type == "date" and not form_problem("date", field.labels[chosen]) and read:
                # A date's grammar rules readings out: a digit is only in doubt against the digits
                # that would still make a date there (a month's first digit is 0 or 1).
                m[read] = margins(field.penalties[[chosen[pos] for pos in read]], rej.j,
                                  date_alternatives(field.labels[chosen])[read])
            digits = []
            for pos, k in enumerate(chosen):
                source = field.sources[k]
                field_threshold = classifier.threshold_for(f.type, source, f.cells, thresholds)
                digits.append(DigitResult(position=pos, bbox=c.box_in_crop(field.comps[k].bbox),
                                          label=int(field.labels[k]), penalties=field.penalties[k].copy(),
                                          confidence=float(confidence_of(m[pos])),
                                          accepted=bool(m[pos] >= field_threshold),
                                          digit_image=field.images[k], source=source, margin=float(m[pos]),
                                          two_digits=float(field.two[k]), pair_reading=marks[pos]))
            if flagged:
                called = [(pos + 1, k) for pos, k in enumerate(chosen)
                          if field.group_of[k] in flagged and called_two[k]]
                whole = [pos for pos, k in called if field.sources[k] in PAIR_SOURCES]
                narrow = [pos for pos, k in called if field.sources[k] not in PAIR_SOURCES]
                cut = [pos + 1 for pos, k in enumerate(chosen) if field.group_of[k] in flagged and not called_two[k]]
                shown = ([pair_doubt(whole)] if whole else []) + ([pair_doubt(cut, cut=True)] if cut else []) \
                    + ([pair_doubt(narrow, narrow=True)] if narrow else [])
                doubts = [*doubts, *(shown or [pair_doubt(first_positions)])]
            results[i] = assemble(f, digits, point_after, s.doubts + doubts)
            got = field_score(classifier, f, digits)
            if results[i].status == "accepted":
                low = score_doubt(classifier, f, digits, got, thresholds)
                if low:
                    results[i] = assemble(f, digits, point_after, [*s.doubts, *doubts, low])
            if got is not None:  # the field's confidence: how likely its score says it is read right
                results[i].confidence = float(confidence_of(got))
        except OCRError as exc:
            results[i] = _error_result(f, str(exc))
        except Exception as exc:  # noqa: BLE001
            results[i] = _error_result(f, f"could not read the field ({type(exc).__name__}: {exc})")
        offset += n
    return [results[i] for i in range(len(prep.fields))]


def mark_readings(chosen: Sequence[int], labels: np.ndarray, readings: np.ndarray | None,
                  group_first: np.ndarray) -> list[float]:
    """Per chosen digit (``chosen``: indices into the field's candidates, ``labels`` theirs), the pair
    reader's log P of the reading chosen for the mark it was read from, when that mark was read by the
    pair reader (``readings``, NaN rows for the others; ``group_first``: each candidate's group's first
    candidate, the mark read whole) and one or two digits were read from it; NaN otherwise."""
    out = [float("nan")] * len(chosen)
    if readings is None:
        return out
    for first in {int(group_first[k]) for k in chosen}:
        mine = [pos for pos, k in enumerate(chosen) if group_first[k] == first]
        cls = reading_class([int(labels[chosen[pos]]) for pos in mine])
        if cls is not None and np.isfinite(readings[first, cls]):
            for pos in mine:
                out[pos] = float(readings[first, cls])
    return out


def field_score(classifier: Classifier, field: FieldImage, digits: Sequence[DigitResult]) -> float | None:
    """The field score (:mod:`ocr.fieldscore`: the log-odds that the field is read right) of a field
    read as ``digits``, or ``None`` when the weights carry no score for its type or it has no digits."""
    key = threshold_key(field.type, field.cells, classifier.field_scorers)
    if not digits or key not in classifier.field_scorers:
        return None
    return float(score(classifier.field_scorers[key], digit_features(digits, key)))


def score_doubt(classifier: Classifier, field: FieldImage, digits: Sequence[DigitResult], got: float | None,
                thresholds: dict[str, dict[str, float]] | None = None) -> str:
    """Why a field whose every digit passed is still not sure enough, by its field score ``got``
    (:func:`field_score`), or "" (no score, no score threshold for its type, or it reaches it).
    ``thresholds`` stands in for the classifier's calibrated field thresholds when given."""
    table = classifier.field_thresholds if thresholds is None else thresholds
    key = threshold_key(field.type, field.cells, table)
    need = table.get(key, {}).get("score")
    if need is None or got is None or got >= need:
        return ""
    weakest = min(digits, key=lambda d: d.margin)
    return (f"{SCORE_DOUBT} for an accepted {field.type} (field score {got:.1f}, "
            f"needs {need:.1f}; weakest: digit {weakest.position + 1}, read {weakest.label})")


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
    prep = prepare_fields(fields, t, hysteresis=classifier.hysteresis)
    t1 = time.perf_counter()
    penalties, two, readings = classify_prepared(prep, classifier)
    t2 = time.perf_counter()
    t.classify += t2 - t1
    results = decide_fields(prep, penalties, classifier, two=two, readings=readings)
    t.assemble += time.perf_counter() - t2
    return results


def read_files(paths: Sequence[str | Path], field_type: str, classifier: Classifier,
               cells: int = 0, printed_sign: str = "") -> list[FieldResult]:
    """Read image files that each hold one field of ``field_type`` (written in ``cells`` printed
    cells, one digit in each; 0: freely; ``printed_sign``: :attr:`ocr.records.FieldImage.printed_sign`):
    one result per path, in order.

    An unreadable file becomes an ``error`` result with the reason (its ``field.crop`` is empty);
    the other files are still read.
    """
    from ocr.pages import read_gray

    fields: list[FieldImage] = []
    failed: dict[int, FieldResult] = {}
    for k, p in enumerate(paths):
        try:
            crop = read_gray(p)
            fields.append(FieldImage(name=str(p), type=field_type, crop=crop, document=str(p), cells=cells,
                                     printed_sign=printed_sign))
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

"""Cleaned field -> digit candidates: connected components, merged, filtered, and split.

The steps (paper, section VII, "heuristic over-segmentation"):

1. connected components of the ink mask (8-connected), left to right;
2. merge the pieces of one broken digit: a piece stacked above another (a 5's detached bar), a
   small piece right beside a digit (an open 4, a faint stroke broken by binarisation);
3. leave out what is not a digit, by size and place relative to the field's digit height ``H``:
   specks, dashes, commas, '*', a leading '$' or '₹', the '/' of a trailing '/-'; keep the last
   point of an amount as the decimal point when one or two digits follow it;
4. a component wider than a digit may be is over-segmented by cut paths: from anchor columns
   (projection minima, valleys of the outline, even divisions) the cheapest top-to-bottom path
   through little ink, bending between digits whose boxes overlap; every run of pieces between
   two cuts is a *candidate*. The candidates form a graph (nodes = cuts, edges = candidates);
   the reader classifies all candidates of all fields in one batch and keeps, per component,
   the path through the graph with the smallest total cost (section VIII, the Viterbi search
   over the graph).

Everything here works on NumPy arrays; boxes are ``(x0, y0, x1, y1)`` half-open, in the cleaned
field's pixels.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.morphology import skeletonize

from ocr.records import Box, Component

# Shape rules, as fractions of the field's digit height H (tuned on the dev seed of benchmarks/fields.py).
SPLIT_WIDTH = 0.75  # a component wider than this * H gets candidate cuts
MAX_PIECE_WIDTH = 1.3  # a candidate piece wider than this * H is not one digit (a wide 2 of a "22" may be 1.2 H)
MIN_PIECE_WIDTH = 0.12  # ... nor one narrower than this (a sliver next to a cut)
MAX_CUTS = 6  # cut candidates per component (2^6 = 64 paths at most; 4 left the right cut of some pairs out)
TALL = 1.22  # taller than this * H: a currency sign's bar, not a digit
DASH_HEIGHT = 0.3  # a dash by its shape is at most this * H tall (a '-' taller than that was taken for one otherwise)
SMALL = 0.42  # point, comma, speck: both sides smaller than this * H
COMMA_WIDTH = 0.5  # an amount's comma (hanging below the baseline) may be this * H wide, written thick
# An amount's comma written as a long stroke: from the lower part of the writing (its top at least
# LONG_COMMA_TOP * H below the top line) to well below the baseline (LONG_COMMA_DROP * H), up to
# LONG_COMMA * H long. A '1' stands between the top line and the baseline.
# It is one stroke (no loop: a small '0' written low is not a comma), slanted, so up to
# LONG_COMMA_WIDTH * H wide, and has digits after it.
LONG_COMMA = 1.25
LONG_COMMA_TOP = 0.25
LONG_COMMA_TOP_AFTER_SIGN = 0.4  # ... when only a possible currency sign stands before it
LONG_COMMA_DROP = 0.2
LONG_COMMA_WIDTH = 0.75
# Where a form prints the currency sign inside an amount field (FieldImage.printed_sign), it stands within
# this fraction of the field's width from its left edge (CTS-2010, Axis Bank: its left edge at 2-5%).
PRINTED_SIGN_ZONE = 0.1
# Between a '1' and a long comma: a stroke standing at least LOW_ONE_TOP * H under the top line and
# LOW_ONE_DROP * H below the baseline, but not as low as a long comma, is read, and if it reads '1'
# a person checks it ("9,324" with its comma just short of a long comma's drop was accepted as 91324).
LOW_ONE_TOP = 0.2
LOW_ONE_DROP = 0.1
# Such a stroke may be up to LOW_ONE_WIDTH wide and LOW_ONE_TALL tall, of H or of the digit before it where that is
# taller: more than a long comma (LONG_COMMA_WIDTH, LONG_COMMA), because zeros written small after a comma pull the
# median height H down, and a long comma measured against it is too long and too wide to be left out as one
# ("69,000" was accepted as 691000).
LOW_ONE_WIDTH = 1.0
LOW_ONE_TALL = 1.8
TRAILING_DASH = 0.4  # the '-' of a trailing '/-' may be this * H tall (a dash elsewhere: DASH_HEIGHT)
FLOURISH = 1.5  # ... or, written as a flourish, up to 1 H tall but this many times as wide, one stroke,
FLOURISH_WIDTH = 1.2  # and at least this * H long (a 5's bar written apart is shorter)
# As the last mark, right after a '/', the flourish may be as short as a bowed stroke rising steeply: as wide as
# tall (FLOURISH_AFTER_SLASH) and FLOURISH_WIDTH_AFTER_SLASH * H wide, still one stroke. ("59,000/" followed by
# such a stroke read 5900011: both marks were read as '1's.)
FLOURISH_AFTER_SLASH = 1.0
FLOURISH_WIDTH_AFTER_SLASH = 0.9
FLOURISH_ACROSS = 0.9  # ... and crossing this share of its columns once (_one_run_per_column): no '7' or '4'
# The '/' of '/-' found inside a mark (_trailing_slash: joined to the digit before it, or with its '-' drawn through
# it or on from it): a straight stroke at least SLASH_LENGTH * H long, leaning right at SLASH_ANGLES degrees; a '-'
# in the same mark reaches SLASH_DASH_REACH * H right of it and is at most SLASH_DASH_TALL * H tall.
SLASH_LENGTH = 0.85
SLASH_ANGLES = (55.0, 87.0)
SLASH_DASH_REACH = 0.4
SLASH_DASH_TALL = 0.8
# ... and no other stroke runs beside it along ALONG_SLASH of its length (a '1' leaning on it).
ALONG_SLASH = 0.8
# A narrow mark before a trailing '-' is its '/' only if it is one stroke down (_one_stroke_across): at least
# SLASH_ACROSS of its rows cross its ink once. Where '/'s touch the digit before them (CTS strips), a '9' or a '1'
# written against the '/' made a narrow mark that was left out whole, and "79/-" was accepted as 7; such marks cross
# their ink once in a third to a half of their rows.
SLASH_ACROSS = 0.9
TOWERING = 1.8  # an amount's mark this many times as tall as the next is no guide to the digits' height
RUPEE_WIDTH = 1.2  # a printed or written rupee sign taller than the digits may be this * H wide
# A cut path's cost per row for straying H columns from its anchor (cut_paths): 0.8 per column per
# row at H = 40, nearly an ink pixel, so a path moves a column only to save as much ink, and stays
# almost straight. Looser paths (1.0: 0.025 per column per row) wander round digits' ends into the
# next digit: touching pairs read right 69 -> 93 of 128 (zips, seed 11), segmentation 90.5 -> 91.7%.
DRIFT = 32.0
# The cut paths the shipped network was *trained* on wander (ocr.fieldset.field_examples, `ocr train
# --cut-drift`): trained on the straight cuts of DRIFT instead, it read fewer dates at the same error.
TRAIN_DRIFT = 1.0
# Marks of an amount shaped like signs that a digit may hide behind: what else each may be. They are
# classified like digits; the reader leaves them out only when they are not even digit-like. (A '$'
# taller than the digits and the '/' of a trailing '/-' are told by where they stand and left out:
# the classifier cannot tell a '$' from an '8', or a '/' from a '1'.)
MAY_BE_DIGIT = {"rupee?": "a rupee sign", "sign?": "a currency sign", "slash-dash?": "a '/-' written in one stroke"}
# A mark half a digit high (not a dash, point, comma or raised star) in a zip, date or digit string:
# a digit written small (a flat '0', a '2' like a tilde) more often than anything else. It is read
# only when the classifier is sure it is a digit; otherwise it is left out and a person asked.
SMALL_MARK = "a mark half a digit high"
HALF_MARK_DOUBT = "a mark half a digit high that is neither a digit nor punctuation"
# ... and in an amount, read as a digit all the same: no digit count checks it, so a person does (unless it
# is a zero in the group of three after the last comma, which the grouping counts: ocr.reader._choose_paths).
SMALL_DIGIT_DOUBT = "a digit half as high as the others, read (a zero written small?)"
SMALL_DIGIT = 0.3  # ... at least this * H tall
COMPACT_HULL = 0.5  # ... and in an amount, compact: its convex hull fills this much of its box (_compact)
# Comb fields (printed cells, one digit in each): a found wall may stray this much of a cell's width
# from the even division between the outer walls; a sliver this narrow hugging a wall is what is
# left of the wall; a blob with this much of its ink in each of two cells is two digits touching
# across the wall.
COMB_SLACK = 0.2
WALL_SLIVER = 0.12
ACROSS = 0.25


@dataclass
class Blob:
    """A group of connected components treated as one mark: ``mask`` ``bool`` cut to ``bbox``."""

    mask: np.ndarray
    bbox: Box

    @property
    def width(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> int:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class Group:
    """One digit-sized or wider blob and its segmentation graph.

    ``paths`` lists every way to read the blob as consecutive candidates, each path a tuple of
    indices into ``candidates``; ``paths[0]`` is the blob read whole. ``optional`` names what else
    the blob may be than a digit (:data:`MAY_BE_DIGIT`: a rupee sign; :data:`SMALL_MARK`): the
    reader reads it only if the classifier is sure it is a digit. A possible sign it leaves out if
    it is not even digit-like, and asks a person in between; a small mark it leaves out and asks.
    """

    bbox: Box
    candidates: list[Component]
    paths: list[tuple[int, ...]]
    optional: str = ""
    wide: bool = False  # wider than a digit, read whole only (a comb cell's mark is never cut)

    @property
    def wide_mark(self) -> bool:
        """Whether ``candidates[0]``, the blob read whole, is a mark wide enough for two digits (the
        blob may be cut, or is wider than a digit): a ``"wide blob"``, what the two-digit detector and
        the pair reader are asked about."""
        return len(self.candidates) > 1 or self.wide


@dataclass
class Segmentation:
    """A field cut into digit groups (left to right), and what was left out.

    ``point_after`` is the number of *groups* before the decimal point (``None``: no point; a
    group may be read as several digits); ``comma_after``, the number of groups before a comma
    with only one or two marks after it (a grouping comma only if they are read as three digits);
    ``long_commas``, the number of groups before each comma written as a long stroke (a grouping
    comma only if the digits read after it group as after a comma: 3, 5, 6, 7, ...); ``low_strokes``,
    the groups of a single stroke standing low in an amount's line, read, but a '1' there may be a comma
    (:data:`LOW_ONE_TOP`); ``commas``, the number of groups before each comma of an amount's whole part
    that has digits on both sides (short or long); ``last_comma``,
    the number of groups before the last comma of the whole part (every grouping style has exactly
    three digits after it);
    ``dropped`` names every mark left out and why; ``doubts`` are geometric reasons for a person
    to check (e.g. a mark half a digit high that is neither a digit nor punctuation).
    """

    groups: list[Group]
    digit_height: float
    point_after: int | None = None
    point_box: Box | None = None
    comma_after: int | None = None
    long_commas: list[int] = field(default_factory=list)
    sign_printed: bool = False  # the first group may be a sign, but the form prints one: not read, a doubt
    low_strokes: list[int] = field(default_factory=list)
    last_comma: int | None = None
    commas: list[int] = field(default_factory=list)
    dropped: list[tuple[str, Box]] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comb:
    """The printed cells of a comb field, in the cleaned field's pixels: ``edges`` are the ``n + 1``
    wall positions left to right (cell ``k`` lies between ``edges[k]`` and ``edges[k + 1]``); ink
    entirely above ``top`` or below ``bottom`` (the rules' inner edges) is outside the cells."""

    edges: tuple[float, ...]
    top: float
    bottom: float

    @property
    def pitch(self) -> float:
        return (self.edges[-1] - self.edges[0]) / (len(self.edges) - 1)

    def cell_of(self, x: float) -> int:
        return int(np.clip(np.searchsorted(self.edges, x) - 1, 0, len(self.edges) - 2))


def _on_grid(xs: np.ndarray, left: float, pitch: float, cells: int) -> bool:
    """Every wall in ``xs`` stands on its own edge of an even division from ``left``, and at
    least half of the inner edges have one."""
    k = np.round((xs - left) / pitch)
    inner = int(((k > 0) & (k < cells)).sum())
    return bool(np.all(np.abs(xs - (left + k * pitch)) <= COMB_SLACK * pitch) and len(np.unique(k)) == len(xs)
                and k.min() >= 0 and k.max() <= cells and inner >= (cells - 1) / 2)


def find_comb(rules: Sequence[tuple[int, int]], walls: Sequence[float], cells: int, height: int,
              width: int | None = None) -> Comb | None:
    """The cells of a comb of ``cells`` equal cells from the printed lines a cleaning found
    (``rules``: rows ``(y0, y1)`` of the horizontal lines; ``walls``: columns of the vertical ones),
    or ``None`` when they are not such a comb: at least half of the inner walls must be found where
    an even division puts them, and nothing else (a '1' taken for a wall leaves the reader to
    segment the field as written freely). Both outer walls must be found, or, given the field's
    ``width``, all but one at an end where the missing one would fall outside the field (a crop
    that cut off the frame's last side)."""
    if cells < 2 or len(walls) < 2 or len(rules) < 2:
        return None
    xs = np.sort(np.asarray(walls, np.float64))
    left, right = float(xs[0]), float(xs[-1])
    pitch = (right - left) / cells
    if pitch <= 0:
        return None
    if not _on_grid(xs, left, pitch, cells):
        pitch = (right - left) / (cells - 1)  # one outer wall not found
        if width is None or not _on_grid(xs, left, pitch, cells - 1):
            return None
        fits_left = left - pitch >= -COMB_SLACK * pitch
        fits_right = right + pitch <= width + COMB_SLACK * pitch
        if fits_left == fits_right:
            return None  # both ends possible, or neither: no telling where the cells are
        left = left - pitch if fits_left else left
    top = float(min(r[1] for r in rules))
    bottom = float(max(r[0] for r in rules))
    if bottom - top < 0.3 * height:
        top, bottom = 0.0, float(height)
    return Comb(tuple(left + i * pitch for i in range(cells + 1)), top, bottom)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _merge(a: Blob, b: Blob) -> Blob:
    box = _union(a.bbox, b.bbox)
    m = np.zeros((box[3] - box[1], box[2] - box[0]), bool)
    for blob in (a, b):
        x0, y0 = blob.bbox[0] - box[0], blob.bbox[1] - box[1]
        m[y0 : y0 + blob.height, x0 : x0 + blob.width] |= blob.mask
    return Blob(m, box)


def components(mask: np.ndarray) -> list[Blob]:
    """8-connected components of a ``bool [h, w]`` mask as blobs, left to right."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    blobs = []
    for i in range(1, n):
        x, y, w, h, _ = (int(v) for v in stats[i])
        blobs.append(Blob(lab[y : y + h, x : x + w] == i, (x, y, x + w, y + h)))
    blobs.sort(key=lambda b: (b.bbox[0], b.bbox[1]))
    return blobs


def digit_height(blobs: list[Blob], tall_sign: bool = False) -> float:
    """The field's digit height: median height of the blobs at least half as tall as the tallest
    (leaves out points, commas and dashes; a '$' barely moves a median). ``tall_sign``: the tallest
    may be a mark far taller than the digits (an amount's '/' drawn through '/-' at twice their
    height): when it is ``TOWERING`` times the next, the next sets the half."""
    if not blobs:
        return 0.0
    heights = sorted(b.height for b in blobs)
    tallest = heights[-1]
    if tall_sign and len(heights) >= 3 and heights[-1] >= TOWERING * heights[-2]:
        tallest = heights[-2]
    return float(np.median([h for h in heights if h >= 0.5 * tallest]))


def _line_height(blobs: list[Blob], amount: bool) -> float:
    """A field's digit height (:func:`digit_height`); in an amount, of the marks after the first where
    that is not far smaller: a leading '$' is taller than the digits, and with few digits it would pull
    the median up."""
    H = digit_height(blobs, amount)
    if amount and len(blobs) > 1:
        rest = digit_height(blobs[1:], amount)
        if rest >= 0.6 * H:
            H = rest
    return H


def _x_overlap(a: Box, b: Box) -> int:
    return min(a[2], b[2]) - max(a[0], b[0])


def _y_overlap(a: Box, b: Box) -> int:
    return min(a[3], b[3]) - max(a[1], b[1])


def merge_broken(blobs: list[Blob], H: float, comb: Comb | None = None) -> list[Blob]:
    """Merge the pieces of one broken digit (within one cell of a ``comb``).

    - stacked: two pieces sharing most of the narrower one's columns and hardly any rows (a 5's
      bar above its body), together no taller than a digit;
    - beside: a piece shorter than 0.75 H within 0.1 H of a neighbour and reaching into the
      digit band (an open 4's stroke, a faint stroke broken by binarisation), together no wider
      than a digit.
    """
    out = sorted(blobs, key=lambda b: b.bbox[0])
    changed = True
    while changed:
        changed = False
        for i, j in itertools.combinations(range(len(out)), 2):
            a, b = out[i], out[j]
            if comb is not None and comb.cell_of(_ink_centre(a)) != comb.cell_of(_ink_centre(b)):
                continue
            u = _union(a.bbox, b.bbox)
            small = min(a.height, b.height) < 0.75 * H
            xo, yo = _x_overlap(a.bbox, b.bbox), _y_overlap(a.bbox, b.bbox)
            # a small piece lying within the other's box (a broken-off top of a 9's loop)
            inside = xo >= 0.7 * min(a.width, b.width) and yo >= 0.7 * min(a.height, b.height) and small
            if (u[3] - u[1] > 1.35 * H or u[2] - u[0] > 1.1 * H) and not inside:
                continue
            stacked = xo >= 0.5 * min(a.width, b.width) and yo <= 0.3 * min(a.height, b.height)
            beside = small and -0.1 * H <= xo and yo > 0.3 * min(a.height, b.height) \
                and min(a.area, b.area) >= 0.02 * H * H
            if stacked and max(a.height, b.height) >= 0.3 * H and min(a.area, b.area) >= 0.01 * H * H or beside \
                    or inside:
                out[i] = _merge(a, b)
                del out[j]
                changed = True
                break
    return sorted(out, key=lambda b: b.bbox[0])


def _two_bars(blob: Blob, H: float) -> bool:
    """A rupee sign: two level bars across (almost) its whole width in its upper 45%."""
    m = blob.mask
    h, w = m.shape
    if w < 0.4 * H or h < 8:
        return False
    rows = m[: int(0.45 * h)]
    span = np.array([(np.flatnonzero(r)[-1] - np.flatnonzero(r)[0] + 1) if r.any() else 0 for r in rows])
    wide = span >= 0.8 * w
    runs = np.diff(np.concatenate([[0], wide.astype(int), [0]]))
    return int((runs == 1).sum()) >= 2


def _anchors(blob: Blob, H: float) -> list[int]:
    """Columns where a cut between two digits may pass (the *anchors* of the cut paths).

    - minima of the vertical ink projection (a thin joint between two digits);
    - valleys of the upper contour and peaks of the lower one (where two digits meet, the outline
      dips in from above or rises from below even when the digits overlap in x);
    - the even division of the blob into as many digit-wide parts as its width suggests.

    The lowest projection minima and deepest valleys come first; at most ``MAX_CUTS`` anchors, at
    least ``0.15 H`` apart and ``MIN_PIECE_WIDTH * H`` from the blob's ends.
    """
    m = blob.mask
    h, w = m.shape
    lo, hi = int(MIN_PIECE_WIDTH * H), w - int(MIN_PIECE_WIDTH * H)
    if hi <= lo:
        return []
    xs = np.arange(lo, hi)
    smooth = np.ones(3) / 3

    def minima(profile: np.ndarray) -> list[int]:
        p = np.convolve(profile.astype(np.float64), smooth, mode="same")
        is_min = (p[xs] <= p[xs - 1]) & (p[xs] <= p[np.minimum(xs + 1, w - 1)])
        return [int(x) for x in xs[is_min][np.argsort(p[xs[is_min]], kind="stable")]]

    cols = m.any(axis=0)
    top = np.where(cols, np.argmax(m, axis=0), h)  # first ink row per column (h: none)
    bottom = np.where(cols, h - 1 - np.argmax(m[::-1], axis=0), -1)
    # A valley of the upper contour is a *maximum* of ``top``; a peak of the lower one a minimum of ``bottom``.
    lists = [minima(m.sum(axis=0)), minima(-top), minima(bottom)]
    parts = max(2, int(round(w / (0.7 * H))))
    lists.append([int(round(w * k / parts)) for k in range(1, parts)])
    anchors: list[int] = []
    for rank in range(max(len(v) for v in lists)):  # round robin: the best of each kind first
        for v in lists:
            if rank < len(v) and lo <= v[rank] < hi and all(abs(v[rank] - a) >= 0.15 * H for a in anchors):
                anchors.append(v[rank])
            if len(anchors) == MAX_CUTS:
                return sorted(anchors)
    return sorted(anchors)


def cut_paths(mask: np.ndarray, anchors: list[int], H: float, drift: float = DRIFT) -> list[np.ndarray]:
    """The cheapest top-to-bottom cut through ``mask`` near each anchor column.

    A path takes one column per row and moves at most one column between rows; it pays ``1`` per
    ink pixel it crosses and ``drift / H`` per row for each column it strays from its anchor. At the
    reader's ``DRIFT`` that is nearly as dear as an ink pixel, so a path steps aside only where it
    saves as much ink (a stroke running along the cut) and otherwise goes straight down: paths free
    to follow gaps round a digit's end cut more pairs wrong than they freed (see ``DRIFT``; the
    training strips are cut with ``TRAIN_DRIFT``). All anchors are solved
    together, one row at a time (dynamic programming). Returns one ``int [h]`` per anchor: the
    first column *right* of the cut in each row.
    """
    h, w = mask.shape
    if not anchors:
        return []
    a = np.asarray(anchors, np.float64)[:, None, None]
    cost = mask.astype(np.float64)[None] + (drift / max(H, 1.0)) * np.abs(np.arange(w)[None, None, :] - a)
    n = len(anchors)
    total = cost[:, 0].copy()
    step = np.zeros((n, h, w), np.int8)
    inf = np.full((n, 1), np.inf)
    rows = np.arange(n)[:, None]
    for y in range(1, h):
        options = np.stack([np.concatenate([inf, total[:, :-1]], axis=1), total,
                            np.concatenate([total[:, 1:], inf], axis=1)])
        k = np.argmin(options, axis=0)
        step[:, y] = k - 1
        total = cost[:, y] + np.take_along_axis(options, k[None], axis=0)[0]
    paths = np.empty((n, h), np.int64)
    paths[:, -1] = np.argmin(total, axis=1)
    for y in range(h - 1, 0, -1):
        paths[:, y - 1] = paths[:, y] + step[rows[:, 0], y, paths[:, y]]
    return list(paths)


def _between(blob: Blob, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The blob's mask between two cut paths (``left[y] <= x < right[y]`` in each row), in its box."""
    cols = np.arange(blob.width)[None, :]
    return blob.mask & (cols >= left[:, None]) & (cols < right[:, None])


def _cropped(blob: Blob, m: np.ndarray) -> Blob:
    """A non-empty mask in ``blob``'s box -> a blob cut to that mask's ink, in field pixels."""
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    m = m[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    x0, y0 = blob.bbox[0] + int(cols[0]), blob.bbox[1] + int(rows[0])
    return Blob(m, (x0, y0, x0 + m.shape[1], y0 + m.shape[0]))


def _piece(blob: Blob, left: np.ndarray, right: np.ndarray, ink: np.ndarray) -> Component | None:
    """The ink of a blob between two cut paths as a candidate; bits of a neighbour that a cut
    leaves behind (under a tenth of the largest part) are dropped."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(_between(blob, left, right).astype(np.uint8),
                                                        connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    piece = _cropped(blob, np.isin(lab, 1 + np.flatnonzero(areas >= 0.1 * areas.max())))
    x0, y0, x1, y1 = piece.bbox
    crop = np.where(piece.mask, ink[y0:y1, x0:x1], 0).astype(np.uint8)
    return Component(ink=crop, bbox=piece.bbox, kind="digit")


def build_group(blob: Blob, H: float, ink: np.ndarray, drift: float = DRIFT, split: bool = True) -> Group:
    """A digit blob and its segmentation graph: the blob whole, plus, when it is wider than a
    digit may be (and ``split``), every run of pieces between candidate cut paths (nodes: the
    blob's left edge, the cuts left to right, its right edge; edges: the digit-sized pieces between
    two nodes)."""
    whole = Component(ink=np.where(blob.mask, ink[blob.bbox[1] : blob.bbox[3], blob.bbox[0] : blob.bbox[2]], 0)
                      .astype(np.uint8), bbox=blob.bbox)
    if not split or blob.width <= SPLIT_WIDTH * H:
        return Group(blob.bbox, [whole], [(0,)], wide=blob.width > SPLIT_WIDTH * H)
    h = blob.height
    cuts = cut_paths(blob.mask, _anchors(blob, H), H, drift)
    # Two anchors whose paths end up in the same gap give the same cut: keep one.
    distinct: list[np.ndarray] = []
    for c in sorted(cuts, key=lambda p: float(p.mean())):
        if not distinct or np.abs(c - distinct[-1]).mean() >= 0.08 * H:
            distinct.append(c)
    nodes = [np.zeros(h, np.int64)] + distinct + [np.full(h, blob.width, np.int64)]
    candidates: list[Component] = [whole]
    # The whole blob always stays a candidate: some single digits are wider than H (a long-barred 5).
    edge: dict[tuple[int, int], int] = {(0, len(nodes) - 1): 0}
    for i, j in itertools.combinations(range(len(nodes)), 2):
        if (i, j) in edge:
            continue
        piece = _piece(blob, nodes[i], nodes[j], ink)
        if piece is None:
            continue
        width = piece.bbox[2] - piece.bbox[0]
        if width > MAX_PIECE_WIDTH * H or width < MIN_PIECE_WIDTH * H:
            continue
        edge[(i, j)] = len(candidates)
        candidates.append(piece)
    # Every path from the first node to the last through the edges (few: at most 2^MAX_CUTS).
    paths: list[tuple[int, ...]] = []

    def walk(node: int, sofar: tuple[int, ...]) -> None:
        if node == len(nodes) - 1:
            paths.append(sofar)
            return
        for j in range(node + 1, len(nodes)):
            if (node, j) in edge:
                walk(j, sofar + (edge[(node, j)],))

    walk(0, ())
    if not paths:  # no cut sequence gives digit-sized pieces: read the blob whole
        paths.append((0,))
    paths.sort(key=lambda p: (len(p), p))  # the whole blob first
    return Group(blob.bbox, candidates, paths)


def _where_sign_is_printed(b: Blob, printed_sign: str, width: int) -> bool:
    """Whether ``b`` stands where the form prints the currency sign inside the field (``printed_sign``
    "inside", within :data:`PRINTED_SIGN_ZONE` of the left edge of a field ``width`` pixels wide)."""
    return printed_sign == "inside" and b.bbox[0] < PRINTED_SIGN_ZONE * width


def _on_baseline(bottom: float, line: float, H: float) -> bool:
    """Whether a mark whose ink ends at ``bottom`` sits on the baseline ``line``, where points sit: its foot
    at most 0.3 H above it and 0.15 H below it."""
    return line - 0.3 * H < bottom < line + 0.15 * H


def _long_comma(b: Blob, left: list[Blob], main: list[Blob], kinds: list[str], blobs: list[Blob],
                H: float, top: float, base: float, sign_printed_first: bool = False) -> bool:
    """An amount's grouping comma written as a long stroke (``LONG_COMMA``): low against the digit it
    follows (a comma hangs from its baseline) or against the line where it stands (``top``,
    ``base``: from its neighbours), lower still when the only mark before it may be a currency sign,
    one stroke with no loop, with digits after it. Never right after the sign the form prints inside the
    field (``sign_printed_first``: the first mark stands where it is printed): no digit comes before it."""
    if not left or b.height >= LONG_COMMA * H or b.width >= LONG_COMMA_WIDTH * H:
        return False
    before = [i for i, k in enumerate(kinds) if k == "digit"]
    # With only a mark before it that may be a currency sign ('₹' or an '8'?), a stroke there may be a
    # '1' written low after the sign: it must hang lower still to be a comma.
    sign = before == [0] and (blobs[0].height >= TALL * H or _two_bars(blobs[0], H))
    if sign and sign_printed_first:
        # The printed '₹' stands higher than most writing: a digit written after it (an open '4') stood
        # "low" against it and was left out ("4,352" accepted as 352).
        return False
    below = LONG_COMMA_TOP_AFTER_SIGN if sign else LONG_COMMA_TOP
    if not _stands_low(b, left, top, base, below * H, LONG_COMMA_DROP * H):
        return False
    return bool(before) and any(m.bbox[0] >= b.bbox[2] for m in main) and not _has_loop(b)


def _just_before(left: list[Blob]) -> Blob:
    """The mark of ``left`` (marks left of some mark) that ends furthest right: the one just before it."""
    return max(left, key=lambda m: m.bbox[2])


def _stands_low(b: Blob, left: list[Blob], top: float, base: float, below: float, drop: float) -> bool:
    """Whether ``b``'s top is more than ``below`` pixels under, and its foot more than ``drop`` pixels
    below, those of the digit before it (the last of ``left``) or of the line where it stands (``top``,
    ``base``)."""
    prev = _just_before(left)
    return any(b.bbox[3] > b_ + drop and b.bbox[1] > t_ + below
               for t_, b_ in ((prev.bbox[1], prev.bbox[3]), (top, base)))


def _standing_low(b: Blob, left: list[Blob], right: list[Blob], H: float, top: float, base: float) -> bool:
    """A narrow stroke with no loop, between digits, standing low (``LOW_ONE_TOP``, ``LOW_ONE_DROP``)
    against the digit before it or the line where it stands: a '1', or a comma not quite long or low
    enough to be left out as one (:func:`_long_comma`), or one the field's height misjudged (``H`` pulled
    down by zeros written small after it: the digit before it measures how wide and tall it may be)."""
    if not left or not right:
        return False
    h = max(H, float(_just_before(left).height))
    if b.width >= LOW_ONE_WIDTH * h or b.height >= LOW_ONE_TALL * h or _has_loop(b):
        return False
    return _stands_low(b, left, top, base, LOW_ONE_TOP * H, LOW_ONE_DROP * H)


def _few_strokes(b: Blob, longest: float) -> bool:
    """No loop, and a skeleton (the ink's centre line) at most ``longest`` pixels long: the ink is a
    stroke or two however broad the pen, not a digit or a run of them (skimage's skeletonize)."""
    return not _has_loop(b) and int(skeletonize(b.mask).sum()) <= longest


def _flourish(b: Blob, H: float, after_slash: bool = False) -> bool:
    """The '-' of '/-' drawn as a long rising or curved stroke: at most 1 H tall, ``FLOURISH`` times
    as wide as tall and ``FLOURISH_WIDTH`` H wide, one stroke (its centre line at most 1.25 times its
    box's diagonal). ``after_slash``: the mark comes right after a '/' and ends the amount, and may be
    shorter (:data:`FLOURISH_AFTER_SLASH`, :data:`FLOURISH_WIDTH_AFTER_SLASH`)."""
    aspect, width = (FLOURISH_AFTER_SLASH, FLOURISH_WIDTH_AFTER_SLASH) if after_slash else (FLOURISH, FLOURISH_WIDTH)
    return b.height <= H and b.width >= max(aspect * b.height, width * H) \
        and _few_strokes(b, 1.25 * np.hypot(b.width, b.height)) and (not after_slash or _one_run_per_column(b))


def _one_run_per_column(b: Blob) -> bool:
    """Whether at least :data:`FLOURISH_ACROSS` of the blob's columns cross its ink once: a stroke drawn
    across, as the '-' of '/-' is; the bar of a '7', the bowls of a '5' or a '2' and the arms of a '4' stand
    over other ink."""
    runs = (np.diff(b.mask.astype(np.int8), axis=0, prepend=0) == 1).sum(axis=0)
    return bool((runs == 1).sum() >= FLOURISH_ACROSS * b.width)


def _one_stroke_across(b: Blob) -> bool:
    """Whether at least :data:`SLASH_ACROSS` of the blob's rows cross its ink once: one stroke drawn down, as
    a '/' is; a digit written against it (a '9' beside the '/', a '1' leaning on it) adds a second run to
    many rows."""
    runs = (np.diff(b.mask.astype(np.int8), axis=1, prepend=0) == 1).sum(axis=1)
    return bool((runs == 1).sum() >= SLASH_ACROSS * b.height)


def _slash(b: Blob, H: float) -> bool:
    """The '/' of '/-' written wide: one straight stroke under 1 H wide, taller than wide, leaning
    right (its top half's ink right of its bottom half's)."""
    if b.width >= H or b.height < 1.2 * b.width or not _few_strokes(b, 1.15 * np.hypot(b.width, b.height)):
        return False
    ys, xs = np.nonzero(b.mask)
    upper = ys < b.height / 2
    return bool(upper.any() and (~upper).any() and xs[upper].mean() - xs[~upper].mean() >= 0.3 * b.width)


def _slash_dash(b: Blob, H: float) -> bool:
    """'/-' written without lifting the pen: taller than the digits (``TALL``), at least 0.6 H wide,
    two strokes at most (its centre line no longer than 1.2 times its width and height together; a
    run of joined digits has far more)."""
    return b.height >= TALL * H and b.width >= 0.6 * H and _few_strokes(b, 1.2 * (b.width + b.height))


def _foot(slash: Blob, dash: Blob, H: float) -> bool:
    """Whether the '-' taken with ``slash`` for '/-' is rather the foot of a '2' broken off by
    binarisation: in the bottom quarter of the mark and starting where it ends ("9402" read 940).
    The '-' of '/-' is written at mid-height, or rises from the foot as a flourish, longer than a foot."""
    _, sy0, sx1, _ = slash.bbox
    dx0, dy0, dx1, dy1 = dash.bbox
    return (dy0 + dy1) / 2 >= sy0 + 0.75 * slash.height and dx0 <= sx1 + 0.1 * H and dx1 - dx0 <= 0.5 * H


def _half_pen(mask: np.ndarray) -> float:
    """Half the pen's width in a field: the median distance from its ink's centre line to the paper."""
    skel = skeletonize(mask)
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return float(np.median(dist[skel])) if skel.any() else 1.0


@dataclass
class TrailingSlash:
    """A mark taken apart by :func:`_trailing_slash`: the ink left of its '/' (``None``: none as tall as
    half a digit), the '/' with what is drawn on it, and whether that includes a '-', and how tall the '/' is."""

    left: Blob | None
    slash: Blob
    dash: bool
    height: float


def _trailing_slash(b: Blob, H: float, top: float, half_pen: float) -> TrailingSlash | None:
    """The '/' of '/-' standing at the right of ``b``, as CTS cheque writers join it to the last digit or draw
    the '-' through it or on from it. The '/' is the rightmost straight stroke in ``b`` (a probabilistic Hough
    transform, OpenCV's ``HoughLinesP``, its line fitted again to the ink along it) at least
    :data:`SLASH_LENGTH` H long and leaning right within :data:`SLASH_ANGLES`, with the ink within half a pen
    (``half_pen``, :func:`_half_pen`) of that line as far as it runs. Right of it there may be only a '-' (one
    stroke across, wider than tall, at most :data:`SLASH_DASH_TALL` H tall, reaching :data:`SLASH_DASH_REACH` H
    right of it), a tail the pen left, and specks; a flag at its top as a '1' has (above ``top`` + 0.25 H) and
    where a '-' drawn through it starts are part of it too; what else stands left of it is the digit it
    touches, at least half a digit tall. ``None`` when there is no such stroke, another stroke runs beside it
    (:data:`ALONG_SLASH`), or other ink stands right of it or small beside it. Whether a mark so taken apart is
    '/-' is for the caller: a '1' is such a stroke too, and a '2' such a stroke with a foot."""
    lines = cv2.HoughLinesP(b.mask.astype(np.uint8) * 255, 1, np.pi / 180, threshold=max(8, int(0.6 * H)),
                            minLineLength=max(8, int(SLASH_LENGTH * H)), maxLineGap=max(2, int(0.1 * H)))
    if lines is None:
        return None
    found = []
    for x1, y1, x2, y2 in lines.reshape(-1, 4).astype(float):
        if y1 < y2:  # (x1, y1) the foot, (x2, y2) the top
            x1, y1, x2, y2 = x2, y2, x1, y1
        if SLASH_ANGLES[0] <= np.degrees(np.arctan2(y1 - y2, x2 - x1)) <= SLASH_ANGLES[1]:
            found.append((x1, y1, x2, y2))
    if not found:
        return None
    right = max((x1 + x2) / 2 for x1, _, x2, _ in found)
    x1, y1, x2, y2 = max((f for f in found if (f[0] + f[2]) / 2 >= right - 0.3 * H),
                         key=lambda f: np.hypot(f[2] - f[0], f[3] - f[1]))
    ys, xs = np.nonzero(b.mask)
    length = np.hypot(x2 - x1, y1 - y2)
    for _ in range(3):  # the Hough line may run along one edge of the stroke: fitted again to its ink
        ux, uy = (x2 - x1) / length, (y2 - y1) / length  # along the stroke, foot to top
        along = (xs - x1) * ux + (ys - y1) * uy
        across = (ys - y1) * ux - (xs - x1) * uy  # > 0: right of the stroke
        near = (np.abs(across) <= half_pen + 2) & (along >= 0) & (along <= length)
        vx, vy, cx, cy = cv2.fitLine(np.stack([xs[near], ys[near]], axis=1).astype(np.float32),
                                     cv2.DIST_L2, 0, 0.01, 0.01).ravel()
        if vy > 0:
            vx, vy = -vx, -vy
        x1, y1 = cx - vx * length / 2, cy - vy * length / 2
        x2, y2 = cx + vx * length / 2, cy + vy * length / 2
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    if not SLASH_ANGLES[0] <= np.degrees(np.arctan2(-uy, ux)) <= SLASH_ANGLES[1]:
        return None
    along = (xs - x1) * ux + (ys - y1) * uy
    across = (ys - y1) * ux - (xs - x1) * uy
    near = np.abs(across) <= half_pen + 1.5
    # The stroke runs on as far as its ink does, gaps of a pixel or two bridged.
    ts = np.unique(np.round(along[near]).astype(int))
    runs = np.split(ts, np.flatnonzero(np.diff(ts) > 2) + 1)
    run = max(runs, key=lambda r: np.minimum(r[-1], length) - np.maximum(r[0], 0))
    on = near & (along >= run[0] - 1) & (along <= run[-1] + 1)
    # Another stroke along it, as a '1' written against it: no telling the two apart.
    beside = ~near & (np.abs(across) <= 3 * half_pen + 3) & (along >= run[0]) & (along <= run[-1])
    if np.unique(np.round(along[beside])).size >= ALONG_SLASH * (run[-1] - run[0] + 1):
        return None
    rest = np.zeros_like(b.mask)
    rest[ys[~on], xs[~on]] = True
    slash = np.zeros_like(b.mask)
    slash[ys[on], xs[on]] = True
    left = np.zeros_like(b.mask)
    dash = False
    n, lab, stats, _ = cv2.connectedComponentsWithStats(rest.astype(np.uint8), connectivity=8)
    side = np.zeros(b.mask.shape)
    side[ys, xs] = across
    for k in range(1, n):
        part = lab == k
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < 0.01 * H * H:
            slash |= part  # a speck, or a crumb the stroke left of the digit
        elif np.abs(side[part]).max() <= 2 * half_pen + 3:
            slash |= part  # the stroke's own edge
        elif side[part].mean() > 0 and h < 0.4 * H and w < 0.4 * H and side[part].max() < SLASH_DASH_REACH * H:
            slash |= part  # a tail the pen left at its foot or top
        elif side[part].mean() > 0:
            if h > SLASH_DASH_TALL * H or w < 1.2 * h or side[part].max() < SLASH_DASH_REACH * H \
                    or side[part].min() < -0.3 * H or not _one_run_per_column(_cropped(b, part)):
                return None  # ink right of the '/' that is no '-'
            slash |= part
            dash = True
        elif b.bbox[1] + y + h <= top + 0.25 * H and h < 0.3 * H and w < 0.3 * H:
            slash |= part  # a hook at the '/'s top
        elif h <= 0.3 * H and w <= 0.3 * H and side[part].min() >= -0.3 * H:
            slash |= part  # where a '-' drawn through it starts
        else:
            left |= part
    if left.any() and np.ptp(np.nonzero(left)[0]) + 1 < 0.5 * H:
        return None  # something small beside the stroke: no telling what
    return TrailingSlash(_cropped(b, left) if left.any() else None, _cropped(b, slash), dash,
                         float(np.ptp(ys[on])) + 1)


def _has_loop(b: Blob) -> bool:
    """Does the blob's ink close round a hole (a '0', '6', '8', '9'; not a stroke)?"""
    _, hierarchy = cv2.findContours(b.mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


def _compact(b: Blob) -> bool:
    """A compact mark, as a small '0' is (a ring, open or closed, or filled in by a broad pen): no thinner one
    way than half the other, and its convex hull fills at least :data:`COMPACT_HULL` of its box. A
    comma, a '/' or a dash is a stroke, its hull as thin as it."""
    if min(b.width, b.height) < 0.5 * max(b.width, b.height):
        return False
    pts = cv2.findNonZero(b.mask.astype(np.uint8))
    return pts is not None and cv2.contourArea(cv2.convexHull(pts)) >= COMPACT_HULL * b.width * b.height


def _small(b: Blob, H: float) -> bool:
    """A point, comma, speck or star: smaller than ``SMALL * H`` both ways."""
    return b.height < SMALL * H and b.width < SMALL * H


def _ink_centre(b: Blob) -> float:
    cols = b.mask.sum(axis=0)
    return b.bbox[0] + float((np.arange(b.width) * cols).sum() / max(int(cols.sum()), 1)) + 0.5


def _split_at(blob: Blob, cuts: list[np.ndarray]) -> list[Blob]:
    """The parts of ``blob`` between consecutive cut paths (``int [h]`` each, the first column right
    of the cut in each row), left to right, empty parts left out."""
    bounds = [np.zeros(blob.height, np.int64), *cuts, np.full(blob.height, blob.width, np.int64)]
    masks = [_between(blob, lo, hi) for lo, hi in itertools.pairwise(bounds)]
    return [_cropped(blob, m) for m in masks if m.any()]


def into_cells(blobs: list[Blob], comb: Comb, H: float) -> tuple[list[Blob], list[tuple[str, Box]]]:
    """Comb fields: one digit per cell. Returns the marks to classify, left to right, and what was
    left out as printed matter.

    - ink wholly above or below the cells is printed text (a 'D D M M Y Y' under the date cells);
    - a blob with ``ACROSS`` of its ink in each of two cells is two digits touching across the
      wall: it is cut there, along the cheapest path near the wall (:func:`cut_paths`);
    - a sliver hugging a wall, as tall as the cell or beside a bigger mark in its cell, is what
      cleaning left of the wall;
    - the pieces of a broken digit are merged as elsewhere (:func:`merge_broken`, within a cell),
      and then all the marks of one cell that are not small (points, specks), so a cell is never
      read as two digits.
    """
    pitch = comb.pitch
    left_out: list[tuple[str, Box]] = []
    inside = []
    for b in blobs:
        if b.bbox[1] >= comb.bottom - 1 or b.bbox[3] <= comb.top + 1:
            left_out.append(("outside the cells", b.bbox))
        else:
            inside.append(b)
    parts: list[Blob] = []
    for b in inside:
        cols = b.mask.sum(axis=0)
        walls = [e for e in comb.edges[1:-1] if b.bbox[0] < e < b.bbox[2]]
        shares = np.array([cols[max(0, int(round(lo - b.bbox[0]))) : max(0, int(round(hi - b.bbox[0])))].sum()
                           for lo, hi in itertools.pairwise([b.bbox[0], *walls, b.bbox[2]])], np.float64)
        if walls and b.height >= 0.6 * H and (shares >= ACROSS * cols.sum()).sum() >= 2:
            cuts = cut_paths(b.mask, [int(round(e - b.bbox[0])) for e in walls], H)
            parts.extend(_split_at(b, cuts))
        else:
            parts.append(b)
    parts = merge_broken(parts, H, comb)
    cell = [comb.cell_of(_ink_centre(b)) for b in parts]
    small = [_small(b, H) for b in parts]
    keep: list[int] = []
    for i, b in enumerate(parts):
        centre = (b.bbox[0] + b.bbox[2]) / 2
        hugs = b.width <= WALL_SLIVER * pitch and min(abs(centre - e) for e in comb.edges) <= WALL_SLIVER * pitch
        if hugs and (b.height >= 0.85 * (comb.bottom - comb.top)
                     or any(cell[j] == cell[i] and j != i and parts[j].area > b.area and parts[j].height >= 0.5 * H
                            for j in range(len(parts)))):  # as tall as the cell, or beside a bigger mark
            left_out.append(("cell wall", b.bbox))
        else:
            keep.append(i)
    out: list[Blob] = []
    merged: dict[int, int] = {}  # cell -> index in out
    for i in keep:
        if small[i]:
            out.append(parts[i])
        elif cell[i] in merged:
            out[merged[cell[i]]] = _merge(out[merged[cell[i]]], parts[i])
        else:
            merged[cell[i]] = len(out)
            out.append(parts[i])
    return sorted(out, key=lambda b: (b.bbox[0], b.bbox[1])), left_out


# Kinds of marks the segmenter leaves out without asking anyone (each on its own).
LEFT_OUT = ("speck", "comma", "long comma", "dash", "raised mark", "point", "star", "half mark")


SLASH_JOINED_DOUBT = "the '/' of '/-' may have a digit written against it"
TRAILING_SLASH_DOUBT = "the last digit may have a '/-' joined to it (a '/-' written in one stroke?)"
CRUMBS_AT_POINT = "marks left out beside the decimal point (a faint digit broken up?)"
STROKE_OVER_DIGIT = "a stroke left out just above a digit (a 5's bar written apart?)"
POINT_BEFORE_SLASH = "a point before a '/-' with a tall '-' (the decimal digits taken for '/-'?)"
SLASH_FOOT_DOUBT = "a mark left out as the '/' of '/-' with the '-' at its foot (a '2' broken in two?)"


def _stroke_over_digit(blobs: list[Blob], kinds: list[str], H: float) -> bool:
    """Whether a mark left out above the writing (a raised mark, a star) stands over a digit's
    columns close above it: the bar of a '5' written apart, too long to merge (:func:`merge_broken`),
    leaves a body read confidently as a '6'. A '*' before or after an amount stands beside the digits."""
    digits = [b for b, k in zip(blobs, kinds, strict=True) if k == "digit"]
    for b, k in zip(blobs, kinds, strict=True):
        if k not in ("raised mark", "star"):
            continue
        for d in digits:
            if _x_overlap(b.bbox, d.bbox) >= 0.3 * min(b.width, d.width) \
                    and b.bbox[3] <= d.bbox[1] + 0.35 * d.height and d.bbox[1] - b.bbox[3] <= 0.3 * H:
                return True
    return False


def _broken_digit(blobs: list[Blob], kinds: list[str], H: float) -> str:
    """A doubt when marks left out one by one lie close together and, together, are as tall as a
    digit: a faint digit broken into dots and strokes by binarisation would otherwise vanish from
    the value without a trace. ``""`` when there is none."""
    run: list[Blob] = []
    for b, k in [*zip(blobs, kinds, strict=True), (None, "end")]:
        if k in LEFT_OUT and b is not None and (not run or b.bbox[0] - max(r.bbox[2] for r in run) < 0.25 * H):
            run.append(b)
            continue
        if len(run) >= 2:
            y0, y1 = min(r.bbox[1] for r in run), max(r.bbox[3] for r in run)
            x0, x1 = min(r.bbox[0] for r in run), max(r.bbox[2] for r in run)
            if y1 - y0 >= 0.6 * H and x1 - x0 >= 0.2 * H:
                return "pieces of ink that together are as tall as a digit (a broken digit?)"
        run = [b] if k in LEFT_OUT and b is not None else []
    return ""


def segment(ink: np.ndarray, mask: np.ndarray, field_type: str, *, drift: float = DRIFT,
            comb: Comb | None = None, printed_sign: str = "") -> Segmentation:
    """Cut a cleaned field into digit groups.

    Parameters
    ----------
    ink : ndarray, uint8 [h, w]
        Ink bright on 0 (from :func:`ocr.fields.clean_field`).
    mask : ndarray, bool [h, w]
        What counts as ink.
    field_type : "zip" | "amount" | "date" | "digits"
        Amounts keep a decimal point and drop currency signs and '/-'.
    comb : Comb, optional
        The printed cells of a comb field (:func:`find_comb`; not for amounts): each cell holds one
        digit, so the marks of a cell are merged (:func:`into_cells`) and never cut.
    printed_sign : "" | "cell" | "inside"
        Amounts: where the form prints the currency sign (:attr:`ocr.records.FieldImage.printed_sign`).
        ``"inside"``: the first mark, if it stands within :data:`PRINTED_SIGN_ZONE` of the left edge and
        has the sign's two bars, is that sign: left out, without asking the classifier whether it might
        be a digit. Where a sign is printed, a first mark that looks like a sign (taller than the
        digits, or with a rupee's two bars) is read only if the classifier is sure it is a digit and is
        otherwise left out *with a doubt*: writers seldom write a second sign, but often a tall first
        digit.
    """
    blobs = components(mask)
    if not blobs:
        return Segmentation([], 0.0)
    amount = field_type == "amount"
    H = digit_height(blobs, amount)
    outside: list[tuple[str, Box]] = []
    if comb is not None and field_type != "amount":
        blobs, outside = into_cells(blobs, comb, H)
        if not blobs:
            return Segmentation([], 0.0, dropped=outside)
    else:
        comb = None
        blobs = merge_broken(blobs, H)
    H = _line_height(blobs, amount)
    seg = Segmentation([], H, dropped=outside)
    sign_zone = bool(blobs) and _where_sign_is_printed(blobs[0], printed_sign, mask.shape[1])
    point_at = comma_at = None  # the decimal point's and a comma before the last one or two marks' blob
    main = [b for b in blobs if b.height >= 0.6 * H]
    top_all = float(np.median([b.bbox[1] for b in main])) if main else 0.0
    base_all = float(np.median([b.bbox[3] for b in main])) if main else float(mask.shape[0])
    # A stroke hanging low in an amount's line (a long comma) is no guide to where the line runs.
    ref = [m for m in main if field_type != "amount"
           or not (m.bbox[3] > base_all + LONG_COMMA_DROP * H and m.bbox[1] > top_all + LONG_COMMA_TOP * H)]
    kinds: list[str] = []
    low_specks: list[int] = []  # specks on the baseline, clear of the digits
    low_at: set[int] = set()  # strokes standing low in an amount (_standing_low)
    for b in blobs:
        x0, y0, x1, y1 = b.bbox
        # The baseline and top line where this mark stands: from its neighbouring digits (the
        # writing drifts up or down along the field), else the field's medians.
        left = [m for m in ref if m.bbox[2] <= (x0 + x1) / 2 and m is not b]
        right = [m for m in ref if m.bbox[0] >= (x0 + x1) / 2 and m is not b]
        near = ([_just_before(left)] if left else []) + ([min(right, key=lambda m: m.bbox[0])] if right else [])
        base = float(np.mean([m.bbox[3] for m in near])) if near else base_all
        top = float(np.mean([m.bbox[1] for m in near])) if near else top_all
        if b.area < 0.002 * H * H or (b.area < 0.006 * H * H and not _on_baseline(y1, base, H)):
            kinds.append("speck")  # tiny, or small and away from the baseline where points sit
            # On the baseline: of its neighbours, of either one (a digit after it written faintly may have
            # lost its foot and stand high: "8.77" read 877), or of the field.
            if any(_on_baseline(y1, line, H) for line in [base, base_all] + [m.bbox[3] for m in near]) \
                    and not any(_x_overlap(b.bbox, o.bbox) > 0 for o in main):
                low_specks.append(len(kinds) - 1)
        elif b.height <= DASH_HEIGHT * H and b.width >= 1.5 * b.height \
                and top + 0.25 * H < (y0 + y1) / 2 < top + 0.85 * H:
            kinds.append("dash")
        elif b.height < 0.65 * H and b.width < (COMMA_WIDTH if field_type == "amount" else SMALL) * H \
                and y1 > base + 0.12 * H and y0 > top + 0.45 * H:
            kinds.append("comma")  # hangs below the baseline
        elif field_type == "amount" and _long_comma(b, left, main, kinds, blobs, H, top, base,
                                                     sign_printed_first=sign_zone):
            kinds.append("long comma")  # a long comma, written from low in the line down past the baseline
        elif _small(b, H):
            if y1 < top + 0.55 * H:
                kinds.append("raised mark")  # '*' or a stray mark above the writing
            elif y1 > base + 0.12 * H or (b.height > 1.6 * b.width and b.height >= 0.2 * H):
                kinds.append("comma")  # below the baseline, or a tall mark (a tiny one may just be a ragged dot)
            elif min(b.width, b.height) >= 0.04 * H and max(b.width, b.height) <= 2 * min(b.width, b.height) \
                    and not any(_x_overlap(b.bbox, o.bbox) > 0 for o in main):
                kinds.append("point")  # a round dot, standing clear of the digits
            else:
                kinds.append("speck")
        elif b.height <= 0.6 * H and (y0 + y1) / 2 < top + 0.4 * H \
                and not (field_type == "amount" and _has_loop(b)):  # a small '0' written high is no '*'
            kinds.append("star")
        elif b.height < 0.6 * H:
            kinds.append("half mark")
        else:
            kinds.append("digit")
            if field_type == "amount" and _standing_low(b, left, right, H, top, base):
                low_at.add(len(kinds) - 1)
    if comb is not None:
        # One mark to a cell, merged (into_cells): whatever its shape, a mark that is not a point or
        # a speck is the cell's digit (a '2' written flat like a tilde, a small '5').
        kinds = ["digit" if not _small(b, H) else k
                 for b, k in zip(blobs, kinds, strict=True)]
    if field_type == "amount":
        digits_at = [i for i, k in enumerate(kinds) if k == "digit"]
        if digits_at:
            # After the last digit, a mark a little thicker than a dash is still the '-' of '/-'.
            for i in range(digits_at[-1] + 1, len(kinds)):
                if kinds[i] == "half mark" and blobs[i].height <= TRAILING_DASH * H \
                        and blobs[i].width >= 1.5 * blobs[i].height:
                    kinds[i] = "dash"
            # The '-' of '/-' written as a flourish, rising or curved: after the last digit, or the last
            # mark itself, one stroke much wider than tall.
            last_digit = blobs[digits_at[-1]].bbox
            for i in range(digits_at[-1] + 1, len(kinds)):
                # (beside the last digit, not over it: a 5's bar written apart runs above the 5's body)
                if kinds[i] in ("half mark", "star") and blobs[i].bbox[0] >= last_digit[2] - 0.15 * H \
                        and _flourish(blobs[i], H):
                    kinds[i] = "dash"
            # The last mark itself only after a '/' (a straight stroke leaning right): a digit with a
            # long bar (a '5') is as wide and as low, but no '/' stands before it.
            flourish = len(digits_at) > 2 and _flourish(blobs[digits_at[-1]], H, after_slash=True)
            if flourish and _slash(blobs[digits_at[-2]], H):
                kinds[digits_at[-1]] = "dash"
                digits_at = digits_at[:-1]
            else:
                # A '/' joined to the last digit, or with its '-' drawn through it or on from it, is taken apart
                # (_trailing_slash): joined to a digit, with a '-' or a flourish after it; with its '-' in the
                # mark, if it towers over the digits (a '2' is such a stroke with a foot, and a '7' or a '4' may
                # have a bar across, but as tall as the digits). A digit joined to such a '/-' no taller goes to a
                # person. (A '/' standing alone before a '-' is found below, as it always was.)
                j = digits_at[-2] if flourish else digits_at[-1]
                after = flourish or any(k == "dash" for k in kinds[j + 1 :])
                alone = after and not flourish and (blobs[j].width < 0.75 * H or _slash(blobs[j], H)) \
                    and _one_stroke_across(blobs[j])
                cut = _trailing_slash(blobs[j], H, top_all, _half_pen(mask)) \
                    if len(digits_at) > 1 and not alone else None
                # (Towering over the other digits: a tall '/' pulls the median up where they are few. What
                # stands left of it counts only as tall as a digit: a crossed '7' is a stroke leaning like a
                # '/' with a bar through it, and the bar's end is no digit to measure it by.)
                left_digit = cut is not None and cut.left is not None and cut.left.height >= 0.6 * H
                tall = cut is not None and cut.height >= TALL * min(H, digit_height(
                    [m for k, m in enumerate(blobs) if k != j and kinds[k] == "digit"]
                    + ([cut.left] if left_digit else [])) or H)
                if cut is not None and cut.dash and cut.left is not None and not after and not tall \
                        and cut.left.bbox[3] >= top_all + 0.8 * H:
                    # Shaped as a digit joined to a '/-' in one stroke, but no taller than a digit: read as
                    # written, and checked. (A '2' or a '4' is such a stroke with a foot or a bar, but what
                    # stands left of it, the bowl or the arm, ends well above the line's foot.)
                    seg.doubts.append(TRAILING_SLASH_DOUBT)
                elif cut is not None and ((cut.dash and tall) or (cut.left is not None and not cut.dash and after)):
                    if flourish:
                        kinds[digits_at[-1]] = "dash"
                    parts = ([cut.left] if cut.left is not None else []) + [cut.slash]
                    blobs[j : j + 1] = parts
                    kinds[j : j + 1] = (["digit" if left_digit else "half mark"]
                                        if cut.left is not None else []) + ["slash"]
                    low_specks = [i + len(parts) - 1 if i > j else i for i in low_specks]
                    low_at = {i + len(parts) - 1 if i > j else i for i in low_at}
                    digits_at = [i for i, k in enumerate(kinds) if k == "digit"]
                    # The digits' height without the '/' that was joined to one of them (with few digits, it
                    # set it): the sign before them and the marks between them are judged by it.
                    H = seg.digit_height = _line_height([m for m, k in zip(blobs, kinds, strict=True) if k != "slash"],
                                                        True)
            first = digits_at[0]
            b = blobs[first]
            # A tall '1' is narrow; a '$' is S-wide, and narrower than two digits (or a box line).
            tall = b.height >= TALL * H and 0.35 * H <= b.width <= 0.9 * H
            if tall:
                kinds[first] = "currency sign"
            elif (b.width <= 0.95 * H or (b.height >= TALL * H and b.width <= RUPEE_WIDTH * H)) and _two_bars(b, H):
                # a rupee sign is narrower than a pair, unless it is taller than the digits (a pair is not)
                kinds[first] = "rupee?"
            if kinds[first] in ("currency sign", "rupee?") and printed_sign:
                if _where_sign_is_printed(b, printed_sign, mask.shape[1]):
                    kinds[first] = "currency sign"  # where the form prints it
                else:
                    # The form prints the sign elsewhere: this is a sign written again, or a first digit
                    # written tall or with bars. Read only if surely a digit, and else left out with a doubt.
                    kinds[first] = "sign?" if tall else "rupee?"
                    seg.sign_printed = True
            # '/-' after the amount, unless found above in a mark taken apart: the digit-sized mark just
            # before a trailing dash is the '/', if one stroke down; else it is read, and checked.
            last = max((i for i, k in enumerate(kinds) if k in ("digit", "dash")), default=-1)
            taken_apart = "slash" in kinds
            if not taken_apart and last >= 0 and kinds[last] == "dash":
                before = [i for i in range(last) if kinds[i] == "digit"]
                narrow = bool(before) and (blobs[before[-1]].width < 0.75 * H or _slash(blobs[before[-1]], H))
                if narrow and not _one_stroke_across(blobs[before[-1]]):
                    seg.doubts.append(SLASH_JOINED_DOUBT)
                elif narrow:
                    kinds[before[-1]] = "slash"
                    if _foot(blobs[before[-1]], blobs[last], H):
                        seg.doubts.append(SLASH_FOOT_DOUBT)
            elif not taken_apart:
                # '/-' in one stroke, the dash drawn on from the foot of the '/': the last mark,
                # taller than the digits, sparse, with no loop.
                digits_at = [i for i, k in enumerate(kinds) if k == "digit"]
                if len(digits_at) > 1 and _slash_dash(blobs[digits_at[-1]], H):
                    kinds[digits_at[-1]] = "slash-dash?"

        marks = [i for i, k in enumerate(kinds) if k in ("point", "comma")]
        # The last mark with digits after it: a crumb broken off the last digit (a faint '8') may
        # sort after the real decimal point, and would hide it (722.98 read as 72298).
        with_digits = [i for i in marks if any(k == "digit" for k in kinds[i + 1 :])]
        if with_digits:
            p = with_digits[-1]
            after = sum(1 for k in kinds[p + 1 :] if k == "digit")
            before = sum(1 for k in kinds[:p] if k == "digit" or k in MAY_BE_DIGIT)
            b = blobs[p]
            # A point before the last one or two marks is the decimal point. A comma there is a
            # decimal point written low, or a grouping comma before a touching pair ("58,124" with
            # "12" one blob): the reader counts the digits it reads after it (ocr.reader._choose_paths).
            if 1 <= after <= 2 and before >= 1:
                if kinds[p] == "point":
                    point_at = p
                    seg.point_box = b.bbox
                    kinds[p] = "decimal point"
                else:
                    comma_at = p
        if point_at is None:
            # A speck too small for a point, but on the baseline before the last one or two digits: a
            # decimal point written or scanned faintly (read without it, 8.81 would be 881).
            for p in low_specks:
                after = sum(1 for k in kinds[p + 1 :] if k == "digit")
                if 1 <= after <= 2 and any(k == "digit" for k in kinds[:p]):
                    seg.doubts.append(f"a speck before the last {after} digit{'s' if after > 1 else ''} "
                                      "(a decimal point?)")
                    break
            # A decimal point before '/-' whose '-' is no thin dash but a stroke taken for a flourish: the '/'
            # and the '-' are the decimal digits, a '1' and a '2' with a long flat foot ("213900.12" read
            # 213900). (A speck before a '/-' written plainly is only a speck.)
            for p in (i for i, k in enumerate(kinds) if k == "point"):
                rest = [i for i in range(p + 1, len(kinds)) if kinds[i] != "speck"]
                if any(kinds[i] == "slash" for i in rest) and all(kinds[i] in ("slash", "dash") for i in rest) \
                        and any(kinds[i] == "dash" and blobs[i].height > DASH_HEIGHT * H for i in rest) \
                        and any(k == "digit" for k in kinds[:p]):
                    seg.doubts.append(POINT_BEFORE_SLASH)
                    break
    broken = _broken_digit(blobs, kinds, H)
    if broken:
        seg.doubts.append(broken)
    if comb is None and _stroke_over_digit(blobs, kinds, H):
        seg.doubts.append(STROKE_OVER_DIGIT)
    # A decimal point with other marks left out right beside it may be a crumb of a digit written too
    # faintly to survive binarisation ('7404' read 7.04): no sure point.
    if seg.point_box is not None and any(
            k in LEFT_OUT and b.bbox != seg.point_box and _x_overlap(b.bbox, seg.point_box) > -0.25 * H
            for b, k in zip(blobs, kinds, strict=True)):
        seg.doubts.append(CRUMBS_AT_POINT)
    # The last comma of an amount's whole part (before its decimal point), with digits after it.
    point = point_at if point_at is not None else len(kinds)
    grouping = [i for i, k in enumerate(kinds[:point]) if k in ("comma", "long comma")
                and any(k2 == "digit" for k2 in kinds[i + 1 : point])]
    last_comma = grouping[-1] if grouping else None
    # The decimal point and the commas are told by how many groups come before them, counted as the
    # groups are made (a small digit read with a doubt is a group too).
    for i, (b, k) in enumerate(zip(blobs, kinds, strict=True)):
        if i == point_at:
            seg.point_after = len(seg.groups)
        if i == comma_at:
            seg.comma_after = len(seg.groups)
        if i == last_comma:
            seg.last_comma = len(seg.groups)
        if field_type == "amount" and i in grouping and i != comma_at and seg.groups \
                and (not seg.commas or seg.commas[-1] != len(seg.groups)):
            seg.commas.append(len(seg.groups))
        if k == "digit":
            if i in low_at:
                seg.low_strokes.append(len(seg.groups))
            seg.groups.append(build_group(b, H, ink, drift, split=comb is None))
        elif k in MAY_BE_DIGIT:  # the classifier decides (a '$' over a '1' would hide the '1')
            g = build_group(b, H, ink, drift)
            g.optional = MAY_BE_DIGIT[k]
            seg.groups.append(g)
        elif k == "half mark" and b.height >= SMALL_DIGIT * H \
                and (field_type != "amount" or _has_loop(b) or _compact(b)):
            # A digit written small? The classifier decides. In amounts only a mark with a loop or a
            # compact one (the trailing zeros of "1,50,000" are often written small, rings left open or
            # filled in by a broad pen): their dashes, slashes and commas are strokes, and a classifier
            # reads a '/' as a sure '1'. Left out, the amount goes to a person (HALF_MARK_DOUBT); read, too
            # (SMALL_DIGIT_DOUBT), unless the grouping after the last comma counts it.
            g = build_group(b, H, ink, drift)
            g.optional = SMALL_MARK
            seg.groups.append(g)
        elif k == "long comma":
            seg.long_commas.append(len(seg.groups))
            seg.dropped.append(("comma", b.bbox))
        elif k != "decimal point":
            seg.dropped.append(("separator" if k == "point" else k, b.bbox))
            if k == "half mark":
                seg.doubts.append(HALF_MARK_DOUBT)
    return seg


def all_candidates(segs: list[Segmentation]) -> list[Component]:
    """Every candidate of every field, in a fixed order (field, group, candidate): the one batch."""
    return [c for s in segs for g in s.groups for c in g.candidates]

"""Field images: from scanned grayscale to clean ink.

:func:`clean_field` levels the crop on its printed lines, removes box lines, comb cells and
baselines (keeping the strokes that cross them), binarises and drops specks. The result keeps
the grey levels of the ink: LeNet-5 was trained on MNIST's anti-aliased strokes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import median_filter
from skimage.filters import threshold_otsu

from ocr.errors import OCRError
from ocr.records import Box

MAX_SKEW_DEG = 5.0  # printed lines further from level than this are not taken as the field's lines
# A comb printed too faint to binarise (a light cell wall, blurred) still darkens nearly every row it
# crosses, which a stroke rarely does: a column's darkness exceeded in FAINT_ROWS of its rows, against
# the columns around it, must stand FAINT_SIGMA of that profile's noise and FAINT_GREY grey levels above.
FAINT_ROWS = 0.8
FAINT_SIGMA = 5.0
FAINT_GREY = 6.0
FAINT_KEPT = 0.45  # a mark the ink threshold kept less of than this is faint (faint_marks)


def ink_from_gray(gray: np.ndarray, invert: bool = False) -> np.ndarray:
    """Scanned grayscale (dark ink on light paper; ``invert=True`` for light on dark) -> ``uint8``
    ink image, ink bright on 0, paper set to exactly 0 by an Otsu threshold (grey levels of the
    ink are kept: LeNet-5 was trained on MNIST's anti-aliased strokes)."""
    g = np.asarray(gray, dtype=np.uint8)
    ink = g if invert else 255 - g
    if ink.max() == ink.min():
        return np.zeros_like(ink)
    t = threshold_otsu(ink)
    out = np.where(ink > t, ink, 0).astype(np.float32)
    # Stretch so the darkest stroke is full ink, whatever the pen and scanner contrast.
    top = float(np.percentile(out[out > 0], 95)) if (out > 0).any() else 1.0
    return np.clip(out / max(top, 1.0) * 255.0, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class CleanField:
    """A cleaned field.

    ``ink`` ``uint8 [h, w]``: ink bright on 0, printed lines and specks removed, levelled by
    ``angle`` degrees (counter-clockwise) about the crop's centre; ``mask`` ``bool [h, w]`` is
    ``ink > 0``. ``to_crop`` is the 2x3 affine matrix from ``ink`` pixels back to the crop's.
    ``lines`` counts the printed lines removed (horizontal, vertical); ``rules`` are the rows
    ``(y0, y1)`` the horizontal ones filled and ``walls`` the centre columns of the vertical ones
    (box sides, comb cell walls), top to bottom and left to right, in ``ink`` pixels. ``gray`` is the
    levelled crop itself (dark on light), where printed lines too faint to be ink can still be seen
    (:func:`faint_walls`). ``faint`` ``bool [h, w]`` is what the sensitive threshold sees as ink, the
    printed lines taken out: strokes too light for ``mask`` (:func:`faint_marks`).
    """

    ink: np.ndarray
    mask: np.ndarray
    angle: float
    to_crop: np.ndarray
    rules: tuple[tuple[int, int], ...] = ()
    walls: tuple[float, ...] = ()
    gray: np.ndarray | None = None
    faint: np.ndarray | None = None

    @property
    def lines(self) -> tuple[int, int]:
        return len(self.rules), len(self.walls)

    def box_in_crop(self, box: Box) -> Box:
        """A box in ``ink`` pixels -> the box around it in the original crop's pixels."""
        x0, y0, x1, y1 = box
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)
        pts = corners @ self.to_crop.T
        return (int(np.floor(pts[:, 0].min())), int(np.floor(pts[:, 1].min())),
                int(np.ceil(pts[:, 0].max())), int(np.ceil(pts[:, 1].max())))


def _binary(gray: np.ndarray, sensitive: bool = False) -> np.ndarray:
    """Dark-on-light ``uint8`` -> ``bool`` ink mask by Otsu.

    ``sensitive=True`` halves the threshold's distance to the paper, so faint printed lines (which
    Otsu may leave out when the pen is much darker) still show up for line finding.
    """
    ink = 255 - gray
    if int(ink.max()) - int(ink.min()) < 25:
        return np.zeros(gray.shape, bool)
    t = float(threshold_otsu(ink))
    if sensitive:
        paper = float(np.median(ink))
        t = paper + 0.5 * (t - paper)
    return ink > t


def _column_medians(mask: np.ndarray) -> np.ndarray:
    """Median row index of the ``True`` pixels of each column of ``bool [h, w]`` (every column must
    hold one), as ``np.median`` gives it (the mean of the two middle rows for an even count)."""
    count = mask.sum(axis=0)
    cum = np.cumsum(mask, axis=0)
    lower = np.argmax(cum >= ((count - 1) // 2 + 1)[None, :], axis=0)
    upper = np.argmax(cum >= (count // 2 + 1)[None, :], axis=0)
    return (lower + upper) / 2.0


def estimate_skew(gray: np.ndarray) -> float:
    """Angle in degrees of the field's long printed lines, 0.0 when there are none. Positive =
    the line rises to the right (image y points down).

    The lines are the connected groups of horizontal runs (>= 12 px) spanning 40% of the field;
    the angle is the length-weighted mean of straight-line fits to each one's per-column median
    row (a median, so that a digit stroke touching the line does not pull the fit).
    """
    mask = _binary(gray, sensitive=True)
    h, w = mask.shape
    # Only horizontal runs count: a row of handwritten digits must not pass for a line.
    runs = _long_runs(mask, 12, horizontal=True)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(runs.astype(np.uint8), connectivity=8)
    angles, weights = [], []
    for i in range(1, n):
        x, y, cw, ch, _ = (int(v) for v in stats[i])
        if cw < max(20, 0.4 * w):
            continue
        comp = lab[y : y + ch, x : x + cw] == i
        cols = np.flatnonzero(comp.any(axis=0))
        rows = _column_medians(comp[:, cols])
        slope = np.polyfit(cols.astype(np.float64), rows, 1)[0]
        a = float(np.degrees(np.arctan(-slope)))
        if abs(a) <= MAX_SKEW_DEG:
            angles.append(a)
            weights.append(float(cw))
    if not angles:
        return 0.0
    return float(np.average(angles, weights=weights))


def _level(gray: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate so lines at ``angle`` become level -> (levelled gray, 2x3 matrix back to the crop, ``bool``
    mask of the corners brought in from beyond the crop's edge, filled with paper)."""
    h, w = gray.shape
    paper = float(np.median(gray))
    fwd = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
    out = cv2.warpAffine(gray, fwd, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=paper)
    inside = cv2.warpAffine(np.full((h, w), 255, np.uint8), fwd, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, cv2.invertAffineTransform(fwd), inside < 255


def _long_runs(mask: np.ndarray, length: int, horizontal: bool) -> np.ndarray:
    """Pixels of ``mask`` on straight runs at least ``length`` long (morphological opening)."""
    k = np.ones((1, length) if horizontal else (length, 1), np.uint8)
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k).astype(bool)


def _off_the_comb(found: list[tuple[float, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
    """Keep the wall candidates that stand on the comb's pitch.

    A written stroke that fills a cell from line to line (a thick '7' or a '1' in a tight comb) is
    straight and vertical too, but it stands inside a cell, so both its neighbours are nearer than
    the cells' width: drop such candidates, the nearest-spaced first, until every candidate left
    has a neighbour at least 0.75 of the median spacing away."""
    found = sorted(found, key=lambda f: f[0])
    while len(found) >= 4:
        xs = np.array([f[0] for f in found])
        gaps = np.diff(xs)
        pitch = float(np.median(gaps))
        near = [k for k in range(1, len(found) - 1) if max(gaps[k - 1], gaps[k]) < 0.75 * pitch]
        if not near:
            break
        del found[min(near, key=lambda k: gaps[k - 1] + gaps[k])]
    return found


WALL_STEP = 0.12  # a wall's straight run may stop this * the gap between the lines short of a line (_bridge)


def _bridge(mask: np.ndarray, x0: int, x1: int, y0: int, y1: int, limit: int,
            outside: np.ndarray | None = None) -> np.ndarray | None:
    """The ink joining a wall's straight run to a line across rows ``y0:y1``, in the run's columns
    ``x0:x1`` and two on either side, or ``None`` if a row there is blank or the rows are more than
    ``limit``. A printed wall left tilted by a fraction of a degree after levelling is straight only in
    steps, and the vertical opening keeps the longest; at a corner of a levelled crop the wall and the
    line are cut off by the crop's edge (rows reaching ``outside`` count as joined); a '1' written near a
    line leaves paper between."""
    if y1 - y0 > limit:
        return None
    a, b = max(0, x0 - 2), min(mask.shape[1], x1 + 2)
    rows = mask[y0:y1, a:b]
    beyond = outside[y0:y1, a:b].any(axis=1) if outside is not None else False
    if not (rows.any(axis=1) | beyond).all():
        return None
    out = np.zeros_like(mask)
    out[y0:y1, a:b] = rows
    return out


def _where_walls_stand(x: float, straight: list[float], ends: np.ndarray) -> bool:
    """Whether a wall candidate at column ``x`` stands where walls stand: within 4 px of an end of the
    printed lines (columns ``ends``: a box's side, a comb's outer wall), or, given three straight walls or
    more, on their pitch (within a tenth of it)."""
    if ends.size and (x - ends[0] <= 4 or ends[-1] - x <= 4):
        return True
    if len(straight) < 3:
        return False
    xs = np.sort(np.asarray(straight))
    pitch = float(np.median(np.diff(xs)))
    k = (x - xs[0]) / pitch if pitch > 0 else 0.5
    return abs(k - round(k)) <= 0.1


def find_lines(mask: np.ndarray, vertical: bool = True, outside: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]], list[float]]:
    """Printed lines of a levelled field -> (``bool`` masks of the horizontal and of the vertical
    lines, the rows ``(y0, y1)`` of each horizontal line top to bottom, the centre column of each
    vertical one left to right).

    Horizontal lines: straight runs longer than half the field's width and than its height. Vertical lines
    (box sides, cell walls): :func:`find_walls` between the horizontal ones. ``vertical=False`` looks for
    the horizontal lines only (no walls). ``outside`` (``bool``, the mask's shape) marks the pixels that
    levelling brought in from beyond the crop's edge: a wall cut off there reaches the line all the same.
    """
    h, w = mask.shape
    lines = np.zeros_like(mask)
    walls = np.zeros_like(mask)
    # Short kernel, then keep only the groups that span the field: a line tilted by a residual
    # fraction of a degree breaks into steps that a field-wide kernel would miss.
    runs = _long_runs(mask, max(15, w // 8), horizontal=True)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(runs.astype(np.uint8), connectivity=8)
    rows = []
    for i in range(1, n):
        x, y, cw, ch, _ = stats[i]
        # Longer than half the field and than the field is tall, or (a box around a single digit)
        # edge to edge: a digit's bar or a 2's foot may span half of a short field, never more than
        # the field's height, and never the whole width of the crop.
        if cw >= 0.5 * w and (cw >= 1.2 * h or cw >= 0.9 * w):
            comp = lab[y : y + ch] == i
            # A digit's foot or bar touching the line joins its component: keep only the rows
            # the line fills (its band), not the stroke's rows.
            fill = comp.sum(axis=1)
            band = np.flatnonzero(fill >= 0.25 * fill.max())
            if band.size == 0 or band[-1] - band[0] + 1 > max(10, h // 6):
                continue
            y0, y1 = y + int(band[0]), y + int(band[-1]) + 1
            lines[y0:y1] |= lab[y0:y1] == i
            rows.append((y0, y1))
    xs: list[float] = []
    if vertical and len(rows) >= 2:
        walls, xs = find_walls(mask, lines, rows, outside)
    if lines.any():
        # Take the anti-aliased fringe of the lines too.
        lines = cv2.dilate(lines.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return lines, walls, sorted(rows), sorted(xs)


def find_walls(mask: np.ndarray, lines: np.ndarray, rows: list[tuple[int, int]], outside: np.ndarray | None = None
               ) -> tuple[np.ndarray, list[float]]:
    """The vertical lines (box sides, cell walls) of a levelled field between its horizontal lines
    (``lines``, ``bool``; ``rows``, at least two) -> (``bool`` mask of the walls with their anti-aliased
    fringe, and the centre column of each, left to right): straight runs that reach from the top line to
    the bottom one, so a written '1' (which rarely touches both) is not taken for a cell wall, or that stop
    a step short of one where walls stand (:func:`_bridge`, :func:`_where_walls_stand`)."""
    w = mask.shape[1]
    walls = np.zeros_like(mask)
    xs: list[float] = []
    found: list[tuple[float, np.ndarray]] = []  # (centre column, pixels) of each wall candidate
    stepped: list[tuple[float, np.ndarray]] = []  # ... that reach a line only through a step (_bridge)
    top = min(r[1] for r in rows)
    bottom = max(r[0] for r in rows)
    if bottom - top <= 8:
        return walls, xs
    vert = _long_runs(mask, max(8, int(0.6 * (bottom - top))), horizontal=False)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(vert.astype(np.uint8), connectivity=8)
    limit = max(3, int(WALL_STEP * (bottom - top)))
    for i in range(1, n):
        x, y, cw, ch, _ = stats[i]
        if cw > max(8, w // 25):
            continue
        # It must run into both lines (a '$' bar or a '1' stops short of them), straight or, for
        # the last few rows, through a step (_bridge).
        up = None if y <= top else _bridge(mask, x, x + cw, top, y, limit, outside)
        down = None if y + ch >= bottom else _bridge(mask, x, x + cw, y + ch, bottom + 1, limit, outside)
        if (y > top and up is None) or (y + ch < bottom and down is None):
            continue
        # Only the columns the run covers from line to line: a '1' leaning on a cell
        # wall joins its run but does not span the cell, so it stays.
        part = lab[top : bottom + 1, x : x + cw] == i
        full = part.sum(axis=0) >= 0.85 * (bottom + 1 - top)
        if full.any():
            cols = np.zeros_like(mask)
            cols[:, x : x + cw] = full[None, :]
            wall = (lab == i) & cols
            bridges = [b for b in (up, down) if b is not None]
            for b in bridges:
                wall |= b
            (stepped if bridges else found).append((x + float(np.flatnonzero(full).mean()), wall))
    found = _off_the_comb(found)
    # A stepped run is a wall only where walls stand: at an end of the printed lines (a box's
    # side, a comb's first or last wall) or on the pitch of the straight walls.
    ends = np.flatnonzero(lines.any(axis=0))
    straight = [f[0] for f in found]
    found += [f for f in stepped if _where_walls_stand(f[0], straight, ends)]
    for x, wall in sorted(found, key=lambda f: f[0]):
        walls |= wall
        xs.append(x)
    if walls.any():  # with the anti-aliased fringe
        walls = cv2.dilate(walls.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return walls, xs


MICROPRINT_GAP = 0.03  # gaps up to this * the crop's height between printed characters close into a rule
DOTTED = 0.8  # a rule found only with those gaps closed, and inked in less than this share of its closed band


def _add_printed_dots(mask: np.ndarray, lines: np.ndarray, rules: list[tuple[int, int]]):
    """Add the rules printed as rows of tiny characters or dots (the microprinted borders of CTS-2010
    cheque boxes, dotted baselines) to the solid ones: rows found as a rule once the short gaps
    along each row are closed (``MICROPRINT_GAP``), that no solid rule already holds, and whose ink
    fills less than ``DOTTED`` of the closed band (a solid line fills it all). Their ink is taken
    out like a solid rule's, and strokes crossing them are given back the same way."""
    k = max(3, int(round(MICROPRINT_GAP * mask.shape[0])))
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((1, k), np.uint8)).astype(bool)
    found, _, more, _ = find_lines(closed, vertical=False)
    lines, out = lines.copy(), list(rules)
    for y0, y1 in more:
        if any(a < y1 + 1 and y0 < b + 1 for a, b in rules):
            continue
        band = found[max(0, y0 - 1) : y1 + 1]
        if band.sum() == 0 or (band & mask[max(0, y0 - 1) : y1 + 1]).sum() >= DOTTED * band.sum():
            continue
        lines[max(0, y0 - 1) : y1 + 1] |= band
        out.append((y0, y1))
    return lines, sorted(out)


def _restore_crossings(mask: np.ndarray, lines: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """Line pixels to give back to the strokes crossing them: those with ink directly above and
    below (horizontal lines) or left and right (vertical lines) within the line's thickness. (Only
    across: a stroke running along a wall must not bring the wall back.)"""
    rest = (mask & ~(lines | walls)).astype(np.uint8)
    thick = 9
    close_v = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, np.ones((thick, 1), np.uint8)).astype(bool)
    close_h = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, np.ones((1, thick), np.uint8)).astype(bool)
    return (lines & ~walls & close_v) | (walls & ~lines & close_h)


def join_faint(mask: np.ndarray, faint: np.ndarray, gray: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hysteresis, as Canny's edge detector has it: what the sensitive threshold sees as ink (``faint``)
    is ink too where it joins, 8-connected, what the ink threshold kept (``mask``). A thin pen or a pale
    digit, blurred by the scanner, loses stretches of its strokes to Otsu's threshold: a '9''s loop
    opened at the top reads '4', a '6''s reads '4'. Returns the grown mask and ``ink`` (``uint8``, as
    :func:`ink_from_gray` gives it) with the joined pixels' grey levels, stretched as the mask's are
    (its 95th percentile full ink)."""
    n, lab = cv2.connectedComponents((mask | faint).astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(lab[mask])] = True
    keep[0] = False
    extra = keep[lab] & ~mask
    if not extra.any():
        return mask, ink
    raw = (255 - gray).astype(np.float32)
    top = float(np.percentile(raw[mask], 95))
    ink = np.where(extra, np.clip(raw / max(top, 1.0) * 255.0, 0, 255), ink).astype(np.uint8)
    return mask | extra, ink


def clean_field(crop: np.ndarray, *, min_speck: int = 4, level: bool = True, hysteresis: bool = False) -> CleanField:
    """Clean a scanned field crop.

    Parameters
    ----------
    crop : ndarray, uint8 [h, w]
        Dark ink on light paper, any size (a colour crop must be converted first).
    min_speck : int
        Connected ink blobs with fewer pixels than this are dropped as scanner specks.
    level : bool
        Rotate the crop so its printed lines are level (up to +-5 degrees).
    hysteresis : bool
        Also keep as ink the faint stretches of strokes joined to the ink (:func:`join_faint`), as
        networks trained with ``ocr train --hysteresis`` read (their calibration says so).

    Returns
    -------
    CleanField
        ``ink`` uint8 [h, w] ink bright on 0 with grey levels kept, and its mask.

    Raises
    ------
    OCRError
        If the crop is not a 2-D image or is too small to hold a digit.
    """
    gray = np.asarray(crop)
    if gray.ndim != 2:
        raise OCRError(f"a field crop must be a 2-D grayscale image, got shape {gray.shape}")
    if gray.shape[0] < 8 or gray.shape[1] < 8:
        raise OCRError(f"the field crop is too small ({gray.shape[1]}x{gray.shape[0]} px)")
    gray = gray.astype(np.uint8) if gray.dtype != np.uint8 else gray
    angle = estimate_skew(gray) if level else 0.0
    if abs(angle) > 0.2:
        gray, to_crop, outside = _level(gray, angle)
    else:
        angle, to_crop, outside = 0.0, np.array([[1.0, 0, 0], [0, 1.0, 0]]), None
    mask = _binary(gray)
    sensitive = _binary(gray, sensitive=True)
    lines, walls, solid, wall_xs = find_lines(sensitive, outside=outside)
    lines, rules = _add_printed_dots(sensitive, lines, solid)
    if len(solid) < 2 <= len(rules):
        # Walls are searched between two lines: where one of them is printed dotted, or broken along its
        # length, look again between the rules found with the dots.
        walls, wall_xs = find_walls(sensitive, lines, rules, outside)
    # (the lines grown by 2 px: the sensitive threshold sees a printed line a little wider than it found it)
    faint = sensitive & ~(cv2.dilate((lines | walls).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    if lines.any():
        lines &= mask
        mask = mask & ~((lines | walls) & ~_restore_crossings(mask, lines, walls))
    # Drop specks.
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_speck)
    small = small[small > 0]
    if small.size:
        mask &= ~np.isin(lab, small)
    ink = ink_from_gray(gray)
    if hysteresis:
        mask, ink = join_faint(mask, faint, gray, ink)
        faint = faint & ~mask
    # Grey levels from the scan where the mask says ink; the mask decides what is ink.
    ink = np.where(mask, np.maximum(ink, 40), 0).astype(np.uint8)
    return CleanField(ink=ink, mask=mask, angle=angle, to_crop=to_crop, rules=tuple(rules), walls=tuple(wall_xs),
                      gray=gray, faint=faint)


def faint_point(gray: np.ndarray, mask: np.ndarray, boxes: list[Box], height: float) -> int:
    """A decimal point too faint for the ink threshold: a dot, dark enough for the sensitive threshold
    (:func:`_binary`), in the gap before the last or the last-but-one digit group (``boxes``, left to
    right), on the baseline. Returns how many groups follow it (1 or 2), or 0 for none.

    Ink the mask holds, and 2 px round it, is not looked at: a point that survived binarisation was
    judged by the segmenter. Read without it, "45.52" would be 4552, a hundred times too much.
    """
    if len(boxes) < 2 or height <= 0:
        return 0
    near_ink = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    faint = _binary(gray, sensitive=True) & ~near_ink
    base = float(np.median([b[3] for b in boxes]))
    y0, y1 = max(0, int(base - 0.35 * height)), min(gray.shape[0], int(base + 0.2 * height) + 1)
    for after in (1, 2):
        if len(boxes) <= after:
            break
        x0, x1 = boxes[-after - 1][2], boxes[-after][0]
        if x1 - x0 < 3 or y1 - y0 < 3:
            continue
        _, _, stats, _ = cv2.connectedComponentsWithStats(faint[y0:y1, x0:x1].astype(np.uint8), connectivity=8)
        for x, y, w, h, area in stats[1:]:
            round_dot = max(w, h) <= 0.3 * height and min(w, h) >= 0.04 * height and max(w, h) <= 2.5 * min(w, h)
            # clear of the gap's sides: a rule or a stroke's faint tail running into the gap is no dot
            inside = x > 0 and x + w < x1 - x0 and y > 0 and y + h < y1 - y0
            if round_dot and inside and area >= 0.004 * height * height:
                return after
    return 0


def faint_marks(faint: np.ndarray, mask: np.ndarray, read: list[Box], height: float) -> list[Box]:
    """Marks of a digit's size written too lightly for the ink threshold: a faint '5' beside a dark '4',
    which binarisation loses whole or breaks into crumbs left out one by one as a '*', a '-' and a ','
    ("54" would read 4).

    ``faint`` is :attr:`CleanField.faint`, ``mask`` the ink mask, ``read`` the boxes of the marks read as
    digits, ``height`` the digits' height. Such a mark is a connected component of ``faint`` at least
    0.6 of a digit high, 0.15-1.2 of one wide and 0.03 of its square in area, clear of the crop's edges
    by a tenth of a digit (what is left of a box's sides and corners), at most a fifth of it inside the
    boxes read, and of which the ink threshold kept less than :data:`FAINT_KEPT` (a '$' or a '/' written
    in the same pen keeps two thirds or more). Returns their boxes, left to right.
    """
    if height <= 0 or not faint.any():
        return []
    inside = np.zeros(faint.shape, bool)
    for x0, y0, x1, y1 in read:
        inside[y0:y1, x0:x1] = True
    n, lab, stats, _ = cv2.connectedComponentsWithStats(faint.astype(np.uint8), connectivity=8)
    hh, ww = faint.shape
    edge = max(3, int(0.1 * height))
    found: list[Box] = []
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if h < 0.6 * height or not 0.15 * height <= w <= 1.2 * height or area < 0.03 * height * height \
                or x < edge or y < edge or x + w > ww - edge or y + h > hh - edge:
            continue
        comp = lab[y : y + h, x : x + w] == k
        kept = np.count_nonzero(comp & mask[y : y + h, x : x + w]) / area
        if np.count_nonzero(comp & inside[y : y + h, x : x + w]) <= 0.2 * area and kept < FAINT_KEPT:
            found.append((x, y, x + w, y + h))
    return sorted(found)


def faint_walls(gray: np.ndarray, cells: int) -> tuple[float, ...] | None:
    """The ``cells + 1`` wall columns of a comb of ``cells`` equal cells printed too light for the
    ink threshold (a pale or worn print, blurred by the scanner), or ``None``.

    A wall darkens almost every row it crosses; a stroke, even a '1' in its cell, leaves the rows above
    or below it light. Each column's darkness exceeded in ``FAINT_ROWS`` of the rows of ``gray`` (the
    levelled crop, dark on light), less the running median of its neighbours, is a profile in which
    walls are peaks. The comb is the even division, of any pitch and offset that fit the crop, whose
    every edge falls on such a peak (within a column) and which does not go on with another wall one
    cell beyond either end (four cells are not a comb of three); among several, the one standing
    highest.
    """
    h, w = gray.shape
    if cells < 2 or w < 4 * (cells + 1):
        return None
    dark = 255.0 - gray.astype(np.float32)
    profile = np.percentile(dark, 100 * (1 - FAINT_ROWS), axis=0)
    lift = profile - median_filter(profile, size=max(9, (w // (2 * cells)) | 1), mode="nearest")
    noise = 1.4826 * float(np.median(np.abs(lift - np.median(lift))))
    high = lift >= max(FAINT_SIGMA * noise, FAINT_GREY)
    count = np.concatenate([[0], np.cumsum(high)])  # walls in columns [a, b): count[b] - count[a]
    peak = high.copy()
    peak[1:] |= high[:-1]  # within a column of the edge
    peak[:-1] |= high[1:]
    best, best_lift = None, -np.inf
    k = np.arange(cells + 1)
    for pitch in np.arange(max(0.3 * h, 0.5 * w / cells), (w - 1) / cells + 1e-9, 0.25):
        left = np.arange(0.0, w - 1 - cells * pitch + 1e-9, 1.0)
        edges = np.rint(left[:, None] + k[None, :] * pitch).astype(int)
        # Every edge on a wall, and no wall about one cell beyond either end: not part of a longer comb.
        beyond = left[:, None] + np.array([-1, cells + 1])[None, :] * pitch
        lo = np.clip(np.floor(beyond - 0.25 * pitch), 0, w).astype(int)
        hi = np.clip(np.ceil(beyond + 0.25 * pitch) + 1, 0, w).astype(int)
        walled = (count[hi] - count[lo]) > 0
        fit = peak[edges].all(axis=1) & ~walled.any(axis=1)
        if not fit.any():
            continue
        height = lift[edges[fit]].sum(axis=1)
        i = int(np.argmax(height))
        if height[i] > best_lift:
            best_lift, best = height[i], tuple(float(left[fit][i] + j * pitch) for j in k)
    return best

"""Registration: straighten a scanned page, find the document on the scanner bed, map it onto its
template's frame, and snap each field box to the printed box nearby.

Coordinates: the *page* is the image as loaded; the *document* is the registered image
(upright, cropped to the paper). ``Registered.to_document`` is the 2x3 affine page -> document;
:func:`document_box_to_page` maps boxes back so the CSVs can give page pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ocr.errors import OCRError
from ocr.records import Box, FieldImage, Page
from ocr.templates import FieldSpec, Template

WORK_SIDE = 1000  # the long side (px) the angle and extent are measured at: enough for 0.1 degree
INSET = 0.03  # how far inside a snapped frame a non-comb field is cut, as a fraction of its height
FRAME_PAD = 0.08  # crop margin around a field's box, as a fraction of its height
MAX_SKEW = 20.0  # degrees; a page turned by more is beyond what deskewing is for
# No document is longer than this times its width (a CTS cheque is 2.2:1, A4 1.4:1): a bright "paper" that is,
# is a light band of the document itself (a cheque's untinted top strip above its tinted security print).
MAX_PAPER_ASPECT = 3.0


@dataclass(frozen=True)
class Registered:
    """A page mapped onto its template: ``image`` is ``uint8 [h, w]`` upright document pixels.

    ``to_document`` is the ``float64 [2, 3]`` affine from page pixels to document pixels;
    ``angle`` the skew found (degrees, counter-clockwise positive as the page looked);
    ``method`` says how the document was found (``"paper"``: its edges on a darker bed;
    ``"lines"``: the printed rules, the scan being the document); ``turned``, by how many degrees
    clockwise (0, 90, 180, 270) it was turned after that to stand the right way up (:func:`upright`).
    """

    image: np.ndarray
    to_document: np.ndarray
    angle: float
    method: str
    turned: int = 0  # degrees clockwise the document was turned to stand the right way up (upright)


def _paper_rect(small: np.ndarray) -> tuple | None:
    """``cv2.minAreaRect`` of the bright paper on a darker scanner bed, or ``None`` if the paper
    fills the scan (no bed visible) or cannot be told from the bed."""
    blur = cv2.GaussianBlur(small, (5, 5), 0)
    t, mask = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # A bed is only a bed if it is clearly darker than the paper (not the ink of a white-bed scan).
    paper_level = float(np.median(blur[mask > 0])) if (mask > 0).any() else 0.0
    bed_level = float(np.median(blur[mask == 0])) if (mask == 0).any() else 255.0
    if paper_level - bed_level < 25:
        return None
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(c)
    total = small.shape[0] * small.shape[1]
    if not (0.2 * total <= area <= 0.97 * total):
        return None
    rect = cv2.minAreaRect(c)
    (_, _), (w, h), _ = rect
    # The paper must be a rectangle, not a blob of ink on white: its contour fills its box.
    if w * h <= 0 or area / (w * h) < 0.9:
        return None
    if max(w, h) > MAX_PAPER_ASPECT * min(w, h):
        return None
    return rect


def _line_angle(small: np.ndarray) -> float:
    """Dominant angle (degrees) of the long near-horizontal printed rules, length-weighted median."""
    edges = cv2.Canny(cv2.GaussianBlur(small, (3, 3), 0), 50, 150)
    w = small.shape[1]
    lines = cv2.HoughLinesP(edges, 1, np.pi / 720, threshold=80, minLineLength=int(0.15 * w), maxLineGap=8)
    if lines is None:
        return 0.0
    seg = np.asarray(lines).reshape(-1, 4).astype(np.float64)  # OpenCV 4 gives [N, 1, 4], 5 gives [N, 4]
    dx, dy = seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]
    ang = np.degrees(np.arctan2(dy, dx))
    ang = (ang + 90) % 180 - 90  # direction does not matter
    length = np.hypot(dx, dy)
    keep = np.abs(ang) <= MAX_SKEW
    if not keep.any():
        return 0.0
    ang, length = ang[keep], length[keep]
    order = np.argsort(ang)
    cum = np.cumsum(length[order])
    return float(ang[order][np.searchsorted(cum, cum[-1] / 2)])


def register_page(page: Page) -> Registered:
    """Deskew ``page`` and cut out the document (the paper when a darker scanner bed shows around it,
    else the whole page straightened by its printed rules).

    Angles up to :data:`MAX_SKEW` degrees either way are corrected. Raises :class:`OCRError` for a
    page too small or blank to register.
    """
    gray = page.image
    H, W = gray.shape[:2]
    if min(H, W) < 64:
        raise OCRError(f"{page.source.name}: page is only {W}x{H} pixels, too small to be a scan")
    if int(gray.max()) - int(gray.min()) < 20:
        raise OCRError(f"{page.source.name} page {page.page_number}: page is blank")
    s = min(1.0, WORK_SIDE / max(H, W))
    small = cv2.resize(gray, (max(1, round(W * s)), max(1, round(H * s))), interpolation=cv2.INTER_AREA)
    rect = _paper_rect(small)
    if rect is not None:
        (cx, cy), _, _ = rect
        corners = cv2.boxPoints(rect).astype(np.float64)
        edges = [corners[(i + 1) % 4] - corners[i] for i in range(2)]
        # The side nearest to horizontal is the document's width, whatever OpenCV's angle convention.
        ang = [np.degrees(np.arctan2(e[1], e[0])) for e in edges]
        ang = [(x + 90) % 180 - 90 for x in ang]
        k = int(np.argmin(np.abs(ang)))
        a = ang[k]
        w, h = np.hypot(*edges[k]) / s, np.hypot(*edges[1 - k]) / s
        cx, cy = cx / s, cy / s
        method = "paper"
    else:
        a = _line_angle(small)
        cx, cy, w, h = W / 2, H / 2, float(W), float(H)
        method = "lines"
    if abs(a) > MAX_SKEW:
        raise OCRError(f"{page.source.name} page {page.page_number}: page is turned by {a:.0f} degrees, "
                       f"more than the {MAX_SKEW:.0f} that can be straightened")
    m = cv2.getRotationMatrix2D((cx, cy), a, 1.0)
    m[0, 2] += w / 2 - cx
    m[1, 2] += h / 2 - cy
    out_w, out_h = max(1, int(round(w))), max(1, int(round(h)))
    border = int(np.percentile(gray, 90))  # fill with paper, not black, where the rotation uncovers the corners
    image = cv2.warpAffine(gray, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=border)
    return Registered(image=image, to_document=m, angle=float(a), method=method)


def document_box_to_page(reg: Registered, box: Box) -> Box:
    """A box in document pixels -> the axis-aligned box (page pixels) around its four corners."""
    inv = cv2.invertAffineTransform(reg.to_document)
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], dtype=np.float64)
    p = pts @ inv.T
    return (int(np.floor(p[:, 0].min())), int(np.floor(p[:, 1].min())),
            int(np.ceil(p[:, 0].max())), int(np.ceil(p[:, 1].max())))


def _line_positions(profile: np.ndarray, min_len: float) -> list[tuple[int, int]]:
    """Runs of rows (or columns) whose line-pixel count reaches ``min_len``: ``[(start, end), ...]``."""
    on = profile >= min_len
    runs, start = [], None
    for i, v in enumerate(on):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(on)))
    return runs


def _rule_masks(win: np.ndarray, bw: int, bh: int) -> tuple[np.ndarray, np.ndarray]:
    """Dark pixels of ``win`` on horizontal / vertical straight runs (printed rules), ``uint8`` masks.

    The kernels are short (a twelfth of the box width, a quarter of its height) so that a rule broken by
    JPEG or a light print still shows; the profiles that use them ask for most of the box's length.
    """
    dark = cv2.adaptiveThreshold(win, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    hk = max(15, bw // 12)
    vk = max(9, bh // 4)
    horiz = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (hk, 1)))
    vert = cv2.morphologyEx(dark, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, vk)))
    return horiz, vert


def _spread(profile: np.ndarray) -> np.ndarray:
    return np.convolve(profile.astype(np.float64), np.ones(3), mode="same")


def _rows_covered(vert: np.ndarray) -> np.ndarray:
    """Per column of the vertical-rule mask ``vert``: how many rows have a rule pixel in it or in a
    neighbouring column. A rule tilted by a residual fraction of a degree still covers every row once,
    while a thick handwritten stroke counts its height only, not its height times its width."""
    return cv2.dilate((vert > 0).astype(np.uint8), np.ones((1, 3), np.uint8)).sum(axis=0)


def skip_currency_cell(image: np.ndarray, box: Box, max_px: int) -> Box:
    """If a printed rule divides ``box`` from top to bottom within ``max_px`` of its left edge (the cell of a
    printed currency sign, as on most CTS-2010 cheques), the box starts right of it.

    The rule must reach down most of the box's height in rows, not in ink: the thick upright of a
    handwritten '4' or '1' squeezed against a sign printed inside the box (Axis Bank) is no divider, and
    starting the box after it would drop the amount's leading digits."""
    x0, y0, x1, y1 = box
    win = image[y0:y1, x0 : min(x1, x0 + max_px)]
    if win.size == 0:
        return box
    _, vert = _rule_masks(win, x1 - x0, y1 - y0)
    runs = _line_positions(_rows_covered(vert), 0.8 * (y1 - y0))
    runs = [(a, b) for a, b in runs if a > 0.02 * (x1 - x0)]  # not the frame's own left rule
    if not runs:
        return box
    return (x0 + runs[-1][1], y0, x1, y1)


def _search_window(image: np.ndarray, box: Box, search_px: tuple[int, int]) -> tuple[np.ndarray, int, int]:
    """The part of ``image`` within ``search_px = (dx, dy)`` of ``box``, clipped to the image, and its
    top-left corner ``(wx0, wy0)`` in image pixels."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = box
    dx, dy = search_px
    wx0, wy0, wx1, wy1 = max(0, x0 - dx), max(0, y0 - dy), min(W, x1 + dx), min(H, y1 + dy)
    return image[wy0:wy1, wx0:wx1], wx0, wy0


def snap_box(image: np.ndarray, box: Box, search_px: tuple[int, int]) -> tuple[Box, bool]:
    """Move ``box`` (document pixels) onto the printed rectangle near it.

    Looks ``search_px = (dx, dy)`` around the box for long printed rules (morphological opening with a
    line as long as half the box side) and returns the inside of the frame they make, or the box unchanged
    for a side with no rule. Returns ``(box, found)`` where ``found`` says whether all four sides snapped.
    """
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    dx, dy = search_px
    win, wx0, wy0 = _search_window(image, box, search_px)
    if win.size == 0:
        return box, False
    horiz, vert = _rule_masks(win, bw, bh)
    # Summed over 3 rows/columns: a rule tilted by a residual fraction of a degree spreads over two or three.
    rows = _line_positions(_spread((horiz > 0).sum(axis=1)), 0.5 * bw)
    cols = _line_positions(_spread((vert > 0).sum(axis=0)), 0.75 * bh)

    def nearest(runs, target, limit, inside_after):
        # the inner edge of the rule nearest to where the template expects it
        best = None
        for a, b in runs:
            edge = b if inside_after else a
            d = abs(edge - target)
            if d <= limit and (best is None or d < best[0]):
                best = (d, edge)
        return None if best is None else best[1]

    top = nearest(rows, y0 - wy0, dy, True)
    bottom = nearest(rows, y1 - wy0, dy, False)
    left = nearest(cols, x0 - wx0, dx, True)
    right = nearest(cols, x1 - wx0, dx, False)
    nx0 = wx0 + left if left is not None else x0
    nx1 = wx0 + right if right is not None else x1
    ny0 = wy0 + top if top is not None else y0
    ny1 = wy0 + bottom if bottom is not None else y1
    # A frame that makes the box far smaller or larger than the template's is some other rule.
    if not (0.6 * bw <= nx1 - nx0 <= 1.4 * bw):
        nx0, nx1, left, right = x0, x1, None, None
    if not (0.6 * bh <= ny1 - ny0 <= 1.4 * bh):
        ny0, ny1, top, bottom = y0, y1, None, None
    found = None not in (top, bottom, left, right)
    return (int(nx0), int(ny0), int(nx1), int(ny1)), found


def snap_cells(image: np.ndarray, box: Box, n: int, search_px: tuple[int, int]) -> tuple[Box, bool]:
    """Move ``box`` onto a printed comb of ``n`` equal cells found near it (``n + 1`` walls, evenly spaced).

    The walls are found as vertical printed strokes at least half the box's height; of every set of
    ``n + 1`` of them spaced evenly (within 15% of a cell) and about as wide as the template's cells
    (60-140%), the one nearest to the template's box is taken. The top and bottom are where the walls start
    and end, so other printed boxes and text near the cells do not matter. Returns ``(inside box, found)``.
    """
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    win, wx0, wy0 = _search_window(image, box, search_px)
    if win.size == 0 or n < 1:
        return box, False
    _, vert = _rule_masks(win, bw, bh)
    walls = _line_positions(_spread((vert > 0).sum(axis=0)), 0.5 * bh)
    if len(walls) < n + 1:
        return box, False
    centres = np.array([(a + b) / 2 for a, b in walls])
    cell = bw / n
    best = None
    for i in range(len(centres)):
        for j in range(i + n, len(centres)):
            step = (centres[j] - centres[i]) / n
            if not (0.6 * cell <= step <= 1.4 * cell):
                continue
            picks = [i]
            for k in range(1, n):
                d = np.abs(centres - (centres[i] + k * step))
                m = int(np.argmin(d))
                if d[m] > 0.15 * step:
                    break
                picks.append(m)
            else:
                picks.append(j)
                offset = abs(wx0 + centres[i] - x0) + abs(wx0 + centres[j] - x1)
                if best is None or offset < best[0]:
                    best = (offset, picks)
    if best is None:
        return box, False
    picks = best[1]
    left, right = walls[picks[0]][1], walls[picks[-1]][0]
    # Top and bottom: where the walls' ink starts and ends (median over the walls).
    tops, bottoms = [], []
    for k in picks:
        a, b = walls[k]
        on = np.flatnonzero(vert[:, a:b].any(axis=1))
        if on.size:
            tops.append(on[0])
            bottoms.append(on[-1] + 1)
    if not tops:
        return box, False
    top, bottom = int(np.median(tops)), int(np.median(bottoms))
    if not (0.5 * bh <= bottom - top <= 1.5 * bh):
        return box, False
    return (int(wx0 + left), int(wy0 + top), int(wx0 + right), int(wy0 + bottom)), True


def _snapped(image: np.ndarray, spec: FieldSpec) -> tuple[Box, bool]:
    """A field's box in the document ``image``: the template box scaled to it and snapped to the
    printed frame (or comb) nearby where the template asks for it; and whether that frame was found."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = spec.box
    box = (int(round(x0 * W)), int(round(y0 * H)), int(round(x1 * W)), int(round(y1 * H)))
    found = False
    if spec.snap == "frame":
        search = (int(spec.search * W), int(spec.search * H))
        if spec.cells > 1:
            box, found = snap_cells(image, box, spec.cells, search)
        if not found:
            box, found = snap_box(image, box, search)
    return box, found


def _snap_fields(image: np.ndarray, template: Template) -> list[tuple[FieldSpec, Box, bool]]:
    """Every field of ``template`` on the document ``image``: its box, snapped where the template asks
    for it (:func:`_snapped`), and whether its printed frame was found."""
    return [(spec, *_snapped(image, spec)) for spec in template.fields]


def _boxes_of(snaps: list[tuple[FieldSpec, Box, bool]]) -> list[tuple[FieldSpec, Box]]:
    """The field boxes from their snapped boxes (a printed currency cell is still in them: :func:`crop_fields`
    cuts the field past it)."""
    return [(spec, box) for spec, box, _ in snaps]


def _found(snaps: list[tuple[FieldSpec, Box, bool]]) -> tuple[int, int]:
    """(frames found, frames the template snaps to) of :func:`_snap_fields`' result."""
    framed = [found for spec, _, found in snaps if spec.snap == "frame"]
    return sum(framed), len(framed)


def field_boxes(reg: Registered, template: Template) -> list[tuple[FieldSpec, Box]]:
    """Each field's box in document pixels: the template box scaled to the document, snapped to its
    printed frame where the template asks for it."""
    return _boxes_of(_snap_fields(reg.image, template))


def frames_found(image: np.ndarray, template: Template) -> tuple[int, int]:
    """How many of the ``template``'s printed field frames (those its fields snap to) are found where
    it puts them on the document ``image``, and how many it has."""
    return _found(_snap_fields(image, template))


# cv2.rotate's codes for quarter turns clockwise, and the same turns as 2x3 affines of pixel
# coordinates in an image of width w and height h (x' = h - 1 - y, y' = x for one quarter).
_ROTATE = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}


def _quarter_affine(quarters: int, w: int, h: int) -> np.ndarray:
    return np.array({1: [[0, -1, h - 1], [1, 0, 0]], 2: [[-1, 0, w - 1], [0, -1, h - 1]],
                     3: [[0, 1, 0], [-1, 0, w - 1]]}[quarters], np.float64)


def turn(reg: Registered, quarters: int) -> Registered:
    """The registered document turned clockwise by ``quarters`` right angles; its mapping from page
    pixels turns with it, so boxes still map back to the scan (:func:`document_box_to_page`)."""
    q = quarters % 4
    if q == 0:
        return reg
    h, w = reg.image.shape[:2]
    to_document = _quarter_affine(q, w, h) @ np.vstack([reg.to_document, [0.0, 0.0, 1.0]])
    return replace(reg, image=cv2.rotate(reg.image, _ROTATE[q]), to_document=to_document,
                   turned=(reg.turned + 90 * q) % 360)


def upright(reg: Registered, choose: Callable[[float], Template]
            ) -> tuple[Registered, Template, list[tuple[FieldSpec, Box]]]:
    """Stand a page scanned upside down or sideways the right way up, and give it its template and its
    field boxes there (:func:`field_boxes`, found while telling which way up it is).

    ``choose(aspect)`` names the template for a document of that width / height (a batch rule, or
    matching by shape), raising :class:`OCRError` when none fits. The printed field frames tell which
    way up a document is: as scanned, it is taken when its template's frames are all found where the
    template puts them; otherwise also turned half round, and, when its template then fits its shape,
    a quarter either way, and the orientation in which the most frames are found is kept (as scanned
    on a tie, so a template with no frames leaves every page as it is). A page no template fits as
    scanned, and on which no turn finds a frame, raises the error of the page as scanned.
    """
    h, w = reg.image.shape[:2]
    best: tuple[int, Registered, Template, list] | None = None
    as_scanned: OCRError | None = None
    for q in (0, 2, 1, 3):
        aspect = w / h if q % 2 == 0 else h / w
        try:
            template = choose(aspect)
        except OCRError as exc:
            as_scanned = as_scanned or exc
            continue
        if q % 2 and not template.fits(aspect):
            continue  # a named template that this turn does not fit either
        turned = turn(reg, q)
        snaps = _snap_fields(turned.image, template)
        found, n = _found(snaps)
        if best is None and q > 0 and found == 0:
            continue  # no template as scanned, and this turn shows nothing either
        if best is None or found > best[0]:
            best = (found, turned, template, snaps)
        if q == 0 and found == n:
            break  # every frame where it belongs (or none to go by): the page is the right way up
    if best is None:
        assert as_scanned is not None
        raise as_scanned
    _, turned, template, snaps = best
    return turned, template, _boxes_of(snaps)


def crop_fields(page: Page, reg: Registered, template: Template, document: str = "",
                boxes: list[tuple[FieldSpec, Box]] | None = None) -> list[tuple[FieldImage, Box]]:
    """The template's fields cut out of a registered page: ``[(FieldImage, box in document pixels)]``
    (``FieldImage.page_box`` is in page pixels). ``boxes``: the :func:`field_boxes` already found (by
    :func:`upright`), else they are found here."""
    H, W = reg.image.shape[:2]
    fields = []
    for spec, box in boxes if boxes is not None else field_boxes(reg, template):
        # Where the template prints a currency sign at the box's left, the field starts past the divider
        # that closes its cell; with no divider the sign stands inside the field (FieldImage.printed_sign).
        printed_sign = ""
        if spec.currency_cell > 0:
            past = skip_currency_cell(reg.image, box, int(spec.currency_cell * W))
            printed_sign, box = ("inside" if past == box else "cell"), past
        x0, y0, x1, y1 = box
        # Comb fields: keep the printed frame and a little paper around it in the crop: the field reader
        # finds the frame's rules (top and bottom) and only then can tell the cell walls from written ones.
        # Other fields: just inside the frame, so that what is printed around it (micro-print under an
        # amount box, a neighbouring label) stays out.
        h = y1 - y0
        pad = max(3, int(round(FRAME_PAD * h))) if spec.cells > 1 else -max(2, int(round(INSET * h)))
        x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(W, x1 + pad), min(H, y1 + pad)
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise OCRError(f"{page.source.name}: field {spec.name} falls outside the page")
        crop = reg.image[y0:y1, x0:x1].copy()
        fields.append((FieldImage(name=spec.name, type=spec.type, crop=crop,
                                  page_box=document_box_to_page(reg, (x0, y0, x1, y1)),
                                  document=document, page=page.page_number, cells=spec.cells,
                                  printed_sign=printed_sign), (x0, y0, x1, y1)))
    return fields

"""Synthetic handwriting made of MNIST *test* digits, and realistic scanned field strips.

Used by the field benchmark (``benchmarks/fields.py``), the tests, and the document synthesiser
(``ocr/synth.py``). Public and stable:

- :class:`DigitPool` -- MNIST test digits by label (never the training set: the network learnt
  those, so they would flatter every figure).
- :func:`render_text` -- a string of digits and marks ('.', ',', '/', '-', '$', '₹', '*') as an ink
  image (``uint8``, ink bright on 0) plus the box of every character.
- :func:`make_field` / :func:`make_field_strip` -- a field as a scanner leaves it: printed box lines,
  comb cells or a baseline, dark ink on light paper, noise, blur, rotation up to 3 degrees, JPEG.

Boxes are ``(x0, y0, x1, y1)``, half-open, in the returned image's pixels (see :mod:`ocr.records`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr.records import Box

MARKS = ".,/-$₹*"
# Marks as writers of Indian CTS cheques make them (``make_field(..., cts_hand=True)``): a grouping
# comma written as a long slanted stroke, the '-' of '/-' as a rising flourish, '/-' in one stroke, and
# '/-' with its '-' drawn through the '/' or on from it.
LONG_COMMA, FLOURISH, SLASH_DASH, SLASH_CROSSED = "\u201a", "~", "\u2044", "\u29f8"
SLASHES = ("/", SLASH_DASH, SLASH_CROSSED)
CTS_SLASH_TOUCHING = 0.3  # how often such a writer's '/' touches the digit before it
CTS_ZEROS_JOINED = 0.3  # how often the zeros after an Indian amount's last comma are written as one joined run
BOX_STYLES = ("box", "cells", "baseline", "none")


class DigitPool:
    """MNIST *test* digits grouped by label.

    ``images`` ``uint8 [N, 28, 28]`` and ``labels`` ``[N]`` default to ``ocr.mnist.load_mnist("test")``.
    ``indices`` restricts the pool to a subset (e.g. a dev half and a report half).
    """

    def __init__(self, images: np.ndarray | None = None, labels: np.ndarray | None = None,
                 indices: np.ndarray | None = None):
        if images is None or labels is None:
            from ocr.mnist import load_mnist

            images, labels = load_mnist("test")
        images, labels = np.asarray(images), np.asarray(labels)
        if indices is not None:
            images, labels = images[indices], labels[indices]
        self.images = images
        self.labels = labels
        self.by_label = {d: np.flatnonzero(labels == d) for d in range(10)}
        missing = [d for d, idx in self.by_label.items() if idx.size == 0]
        if missing:
            raise ValueError(f"the digit pool has no examples of {missing}")

    def sample(self, label: int, rng: np.random.Generator) -> np.ndarray:
        """One random example of ``label``: ``uint8 [h, w]``, cut to its ink, ink bright."""
        idx = self.by_label[int(label)]
        return _crop_to_ink(self.images[int(rng.choice(idx))])


def _crop_to_ink(img: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(img.max(axis=1) > 0)
    cols = np.flatnonzero(img.max(axis=0) > 0)
    if rows.size == 0:
        return img
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


# --- marks drawn with a pen ---------------------------------------------------------------------

def _pen(height: int, pen_scale: float) -> int:
    """Stroke width in pixels for a digit height: MNIST strokes are about a tenth of the digit height."""
    return max(1, int(round(0.1 * height * pen_scale)))


def _draw_mark(ch: str, height: int, pen: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Draw one mark -> (ink ``uint8 [h, w]``, top offset relative to the digits' top line).

    Sizes follow how people write them next to digits of ``height`` pixels.
    """
    h = height
    pad = pen + 2
    j = lambda s: float(rng.uniform(1 - s, 1 + s))  # noqa: E731 - small jitter helper
    if ch == ".":
        r = max(2, int(round(pen * 0.7 * j(0.2))))
        img = np.zeros((2 * r + 2 * pad, 2 * r + 2 * pad), np.uint8)
        cv2.circle(img, (r + pad, r + pad), r, 255, -1, cv2.LINE_AA)
        return img, h - (r + pad) - r  # sits on the baseline
    if ch == ",":
        r = max(2, int(round(pen * 0.7 * j(0.2))))
        tail = int(round(0.25 * h * j(0.2)))
        w, hh = 2 * r + tail // 2 + 2 * pad, 2 * r + tail + 2 * pad
        img = np.zeros((hh, w), np.uint8)
        cx, cy = w - r - pad, r + pad
        cv2.circle(img, (cx, cy), r, 255, -1, cv2.LINE_AA)
        cv2.line(img, (cx + r // 2, cy), (cx - tail // 2, cy + tail), 255, max(1, pen - 1), cv2.LINE_AA)
        return img, h - cy - r
    if ch == "/":
        hh, lean = int(round(h * j(0.08))), int(round(0.4 * h * j(0.25)))
        img = np.zeros((hh + 2 * pad, lean + 2 * pad), np.uint8)
        cv2.line(img, (pad, hh + pad), (lean + pad, pad), 255, pen, cv2.LINE_AA)
        return img, h - hh - pad
    if ch == "-":
        length = int(round(0.45 * h * j(0.2)))
        img = np.zeros((pen + 2 * pad, length + 2 * pad), np.uint8)
        cv2.line(img, (pad, pad + pen // 2), (pad + length, pad + pen // 2), 255, pen, cv2.LINE_AA)
        return img, int(0.5 * h) - pad
    if ch == "*":
        s = int(round(0.4 * h * j(0.15)))
        img = np.zeros((s + 2 * pad, s + 2 * pad), np.uint8)
        c = s // 2 + pad
        for a in (90, 30, 150):
            dx, dy = int(round(s / 2 * np.cos(np.radians(a)))), int(round(s / 2 * np.sin(np.radians(a))))
            cv2.line(img, (c - dx, c - dy), (c + dx, c + dy), 255, max(1, pen - 1), cv2.LINE_AA)
        return img, int(0.1 * h) - pad
    if ch == "$":
        # An S with a vertical bar reaching above and below it: taller than the digits around it.
        hh, w = int(round(1.3 * h * j(0.05))), int(round(0.55 * h * j(0.1)))
        img = np.zeros((hh + 2 * pad, w + 2 * pad), np.uint8)
        s_h = 0.8 * hh
        cx, top = w / 2 + pad, (hh - s_h) / 2 + pad
        axes = (int(w / 2 - pen / 2), int(s_h / 4))
        # top bowl from its bottom (the S's middle) round the left and top to the upper right ...
        cv2.ellipse(img, (int(cx), int(top + s_h / 4)), axes, 0, 90, 340, 255, pen, cv2.LINE_AA)
        # ... bottom bowl from its top round the right and bottom to the lower left
        cv2.ellipse(img, (int(cx), int(top + 3 * s_h / 4)), axes, 0, -90, 160, 255, pen, cv2.LINE_AA)
        cv2.line(img, (w // 2 + pad, pad), (w // 2 + pad, hh + pad), 255, pen, cv2.LINE_AA)
        return img, -(hh - h) // 2 - pad
    if ch == "₹":
        hh, w = int(round(1.05 * h * j(0.05))), int(round(0.6 * h * j(0.1)))
        img = np.zeros((hh + 2 * pad, w + 2 * pad), np.uint8)
        top, mid = pad, pad + int(0.28 * hh)
        cv2.line(img, (pad, top), (w + pad, top), 255, pen, cv2.LINE_AA)
        cv2.line(img, (pad, mid), (w + pad, mid), 255, pen, cv2.LINE_AA)
        # the bowl: a half ellipse hanging from the top bar, closing at the join
        cv2.ellipse(img, (pad + int(0.3 * w), mid), (int(0.35 * w), int(0.2 * hh)), 0, -90, 90, 255, pen, cv2.LINE_AA)
        join = (pad + int(0.3 * w), mid + int(0.2 * hh))
        cv2.line(img, (pad, join[1]), join, 255, pen, cv2.LINE_AA)
        cv2.line(img, join, (w + pad, hh + pad), 255, pen, cv2.LINE_AA)
        return img, h - hh - pad
    if ch == LONG_COMMA:
        # From low in the line (0.45-0.65 H under the top line) to well below the baseline (0.15-0.45 H), slanted.
        start, drop = rng.uniform(0.45, 0.65), rng.uniform(0.15, 0.45)
        length, lean = int(round(h * (1 - start + drop))), int(round(h * rng.uniform(0.25, 0.5)))
        img = np.zeros((length + 2 * pad, lean + 2 * pad), np.uint8)
        cv2.line(img, (lean + pad, pad), (pad, length + pad), 255, pen, cv2.LINE_AA)
        return img, int(round(h * start)) - pad
    if ch == FLOURISH:
        # A stroke rising to the right, bowed: 1.2-2 H long, 0.3-0.8 H of rise.
        w, rise = int(round(h * rng.uniform(1.2, 2.0))), int(round(h * rng.uniform(0.3, 0.8)))
        t = np.linspace(0, 1, 24)
        bow = rng.uniform(-0.25, 0.25)
        pts = np.stack([t * w, rise * (1 - t) - bow * rise * np.sin(np.pi * t)], axis=1) + pad
        img = np.zeros((rise + int(abs(bow) * rise) + 2 * pad + 2, w + 2 * pad), np.uint8)
        pts[:, 1] += int(abs(bow) * rise) if bow > 0 else 0
        cv2.polylines(img, [np.round(pts).astype(np.int32)], False, 255, pen, cv2.LINE_AA)
        return img, int(round(h * 0.55)) - rise - pad
    if ch == SLASH_DASH:
        # '/' from above the top line down to the baseline, then on to the right, rising: one stroke.
        tall, lean = int(round(h * rng.uniform(1.25, 1.5))), int(round(h * rng.uniform(0.3, 0.5)))
        w, rise = int(round(h * rng.uniform(0.8, 1.4))), int(round(h * rng.uniform(0.2, 0.5)))
        img = np.zeros((tall + 2 * pad, lean + w + 2 * pad), np.uint8)
        foot = (pad, tall + pad)
        cv2.line(img, (lean + pad, pad), foot, 255, pen, cv2.LINE_AA)
        cv2.line(img, foot, (lean + w + pad, tall - rise + pad), 255, pen, cv2.LINE_AA)
        return img, h - tall - pad
    if ch == SLASH_CROSSED:
        # A tall '/' (its foot on or below the baseline, its top well above the digits), half the time with
        # a hook at its top as a '1' has, and a '-' at mid-height drawn through it or on from it, level
        # or rising to the right: one mark. Points in the digits' frame (top line y = 0), then shifted.
        tall, lean, drop = h * rng.uniform(1.4, 2.2), h * rng.uniform(0.3, 0.6), h * rng.uniform(0.0, 0.3)
        foot, top = np.array([0.0, h + drop]), np.array([lean, h + drop - tall])
        y = h * rng.uniform(0.35, 0.65)
        at = lean * (h + drop - y) / tall  # the '/' at the dash's height
        start, length, rise = at - h * rng.uniform(0.0, 0.25), h * rng.uniform(0.7, 2.0), h * rng.uniform(0.0, 0.3)
        t = np.linspace(0, 1, 16)
        dash = np.stack([start + t * length, y - t * rise - rng.uniform(-0.1, 0.1) * h * np.sin(np.pi * t)], axis=1)
        strokes = [np.stack([foot, top]), dash]
        if rng.random() < 0.5:
            strokes.append(np.stack([top, top + [-h * rng.uniform(0.1, 0.25), h * rng.uniform(0.1, 0.2)]]))
        lo = np.min([s.min(axis=0) for s in strokes], axis=0)
        hi = np.max([s.max(axis=0) for s in strokes], axis=0)
        img = np.zeros((int(np.ceil(hi[1] - lo[1])) + 2 * pad + 1, int(np.ceil(hi[0] - lo[0])) + 2 * pad + 1), np.uint8)
        for s in strokes:
            cv2.polylines(img, [np.round(s - lo + pad).astype(np.int32)], False, 255, pen, cv2.LINE_AA)
        return img, int(round(lo[1])) - pad
    raise ValueError(f"cannot draw {ch!r}: render_text knows the digits and {MARKS!r}")


def _digit_glyph(d: int, pool: DigitPool, rng: np.random.Generator, height: int) -> np.ndarray:
    """An MNIST digit scaled so its ink height is about ``height`` (MNIST digits are 20 px tall)."""
    g = pool.sample(d, rng)
    target = height * rng.uniform(0.9, 1.05)
    scale = target / g.shape[0]
    w = max(1, int(round(g.shape[1] * scale * rng.uniform(0.9, 1.1))))
    return cv2.resize(g, (w, max(1, int(round(target)))), interpolation=cv2.INTER_LINEAR)


def _pen_variety(img: np.ndarray, pen_scale: float) -> np.ndarray:
    """Thicker or thinner pen: grey dilation/erosion of the whole text."""
    if pen_scale >= 1.3:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        return cv2.dilate(img, k, iterations=1 if pen_scale < 1.8 else 2)
    if pen_scale <= 0.75:
        return cv2.erode(img, np.ones((2, 2), np.uint8))
    return img


def touching_offset(left: np.ndarray, right: np.ndarray) -> int | None:
    """Where to put ``right`` (its column 0) so that it touches the ink of ``left``, as a hand writes
    two digits that touch: the smallest x at which, in some row, its leftmost ink meets the
    rightmost ink of ``left``. Both are ink images (bright on 0) with the same rows; only solid
    ink (> 128) counts, not the anti-aliased fringe, so the pair still touches after binarisation.
    ``None`` when they share no inked row.
    """
    a, b = left > 128, right > 128
    last = np.where(a.any(axis=1), a.shape[1] - 1 - np.argmax(a[:, ::-1], axis=1), -1)
    first = np.where(b.any(axis=1), np.argmax(b, axis=1), -1)
    both = (last >= 0) & (first >= 0)
    if not both.any():
        return None
    return int(np.max(last[both] - first[both]))


def render_text(text: str, pool: DigitPool, rng: np.random.Generator, *, height: int = 40,
                pen_scale: float = 1.0, touching_p: float = 0.1, spacing: float = 0.2,
                margin: int = 4, cts_hand: bool = False) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """Write ``text`` by hand: MNIST test digits and pen-drawn marks.

    Parameters
    ----------
    text : str
        Digits and the marks ``. , / - $ ₹ *`` (spaces leave a gap).
    height : int
        Digit height in pixels (each digit varies by about -10%..+5%).
    pen_scale : float
        Pen width relative to MNIST's (< 0.75 thins, >= 1.3 thickens the strokes).
    touching_p : float
        Probability that a digit touches the digit before it (the pair becomes one connected blob).
    spacing : float
        Mean gap between characters as a fraction of ``height``.
    cts_hand : bool
        ``text`` is an amount: write its marks as on Indian CTS cheques (:func:`cts_hand_text`).
        The characters returned are those drawn (a long comma is ``LONG_COMMA``).

    Returns
    -------
    ink : ndarray, uint8 [H, W]
        Ink bright on 0, grey levels from MNIST's anti-aliasing.
    chars : list of (str, Box)
        Each non-space character with its ink box in ``ink``'s pixels, left to right.
    """
    small_from = joined_from = None
    if cts_hand:
        text, small_from, joined_from = cts_hand_text(text, rng)
    ink, chars, _ = _render(text, pool, rng, height=height, pen_scale=pen_scale, touching_p=touching_p,
                            spacing=spacing, margin=margin, small_from=small_from, joined_from=joined_from,
                            slash_touching_p=CTS_SLASH_TOUCHING if cts_hand else 0.0)
    return ink, chars


def _owned_by_pen(ink: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Give the ink a thicker pen added (solid, unowned pixels) to the character next to it."""
    grown = owner.copy()
    for _ in range(3):
        todo = (grown < 0) & (ink > 64)
        if not todo.any():
            break
        near = cv2.dilate((grown + 1).astype(np.uint16), np.ones((3, 3), np.uint8)).astype(np.int32) - 1
        grown = np.where(todo, near, grown)
    return grown


def _render(text: str, pool: DigitPool, rng: np.random.Generator, *, height: int, pen_scale: float,
            touching_p: float, spacing: float = 0.2, margin: int = 4, small_from: int | None = None,
            joined_from: int | None = None, slash_touching_p: float = 0.0):
    """:func:`render_text`, and who wrote each pixel: ``owner`` ``int32 [H, W]``, the index in
    ``chars`` of the character whose solid ink (> 64) is darkest there, -1 on paper. Digits from
    ``text[small_from]`` on are written half as high (0.5-0.65), on the same baseline; each digit after
    ``text[joined_from]`` touches the one before it (a run written without lifting the pen); a '/' (of
    any kind in :data:`SLASHES`) right after a digit touches it with probability ``slash_touching_p``."""
    pen = _pen(height, pen_scale)
    glyphs: list[tuple[str, np.ndarray, int]] = []  # (char, ink, top offset from the digits' top line)
    for i, ch in enumerate(text):
        if ch == " ":
            glyphs.append((ch, np.zeros((1, int(0.5 * height)), np.uint8), 0))
        elif ch.isdigit():
            small = small_from is not None and i >= small_from
            g = _digit_glyph(int(ch), pool, rng, int(round(height * rng.uniform(0.5, 0.65))) if small else height)
            dy = int(round(rng.normal(0, 0.04) * height))
            glyphs.append((ch, g, height - g.shape[0] + dy))  # bottom-aligned on a wavy baseline
        else:
            g, top = _draw_mark(ch, height, pen, rng)
            glyphs.append((ch, g, top))
    top_pad = max([0] + [-t for _, _, t in glyphs]) + margin
    bottom = max([height] + [t + g.shape[0] for _, g, t in glyphs])
    rows = top_pad + bottom + margin
    width = margin * 2 + sum(g.shape[1] for _, g, _ in glyphs) + int(len(glyphs) * height * spacing * 2) + 4
    canvas = np.zeros((rows, width), np.uint8)
    owner = np.full((rows, width), -1, np.int32)
    chars: list[tuple[str, Box]] = []
    cursor = margin  # right edge of the ink so far
    prev_digit = False
    for i, (ch, g, t) in enumerate(glyphs):
        y = top_pad + t
        h, w = g.shape
        x = cursor + int(round(height * spacing * rng.uniform(0.5, 1.5))) if chars else margin
        joined = joined_from is not None and i > joined_from
        if prev_digit and ((ch.isdigit() and (joined or rng.random() < touching_p))
                           or (ch in SLASHES and slash_touching_p > 0 and rng.random() < slash_touching_p)):
            # Slide the digit left until its ink meets the ink already written, then 0-1 px into it.
            touch = touching_offset(canvas[y : y + h], g)
            if touch is not None:
                x = max(touch - int(rng.integers(0, 2)), margin)
        if ch != " ":
            mine = (g > 64) & (g > canvas[y : y + h, x : x + w])
            owner[y : y + h, x : x + w][mine] = len(chars)
            np.maximum(canvas[y : y + h, x : x + w], g, out=canvas[y : y + h, x : x + w])
            ys, xs = np.nonzero(g > 64)  # the solid ink, not the faint fringe of the upscaled glyph
            if ys.size:
                chars.append((ch, (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)))
        cursor = max(cursor, x + w)
        prev_digit = ch.isdigit()
    canvas = canvas[:, : cursor + margin]
    ink = _pen_variety(canvas, pen_scale)
    return ink, chars, _owned_by_pen(ink, owner[:, : cursor + margin])


# --- field strips -------------------------------------------------------------------------------

def group_amount(value: str, style: str = "western") -> str:
    """``"168900.50"`` -> ``"168,900.50"`` (western) or ``"1,68,900.50"`` (Indian grouping)."""
    whole, _, frac = value.partition(".")
    if style == "indian" and len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        parts = []
        while len(head) > 2:
            parts.insert(0, head[-2:])
            head = head[:-2]
        parts.insert(0, head)
        whole = ",".join(parts + [tail])
    elif style == "western":
        whole = f"{int(whole):,}" if whole else whole
    return whole + ("." + frac if frac else "")


@dataclass
class FieldStrip:
    """A synthetic scanned field.

    ``image`` ``uint8 [h, w]`` (dark ink on light paper); ``value`` is what a reader should return
    (e.g. ``"1689.50"``, ``"12345"``); ``written`` is what was written (``"₹1,689.50/-"``);
    ``digit_boxes`` the ink box of every digit before rotation (to count segmentation truth);
    ``rotation`` the ``2x3`` affine matrix taking those boxes' pixels to ``image``'s (the scanner's tilt);
    ``owner`` ``int32 [h, w]`` says who wrote each pixel of ``image``: the digit's index in
    ``digit_boxes``, -2 for a mark (sign, comma, ...), -1 for paper (to label what a segmenter cuts).
    """

    image: np.ndarray
    value: str
    written: str
    style: str
    digit_boxes: list[Box] = field(default_factory=list)
    rotation: np.ndarray = field(default_factory=lambda: np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    owner: np.ndarray | None = None

    def scanned_digit_boxes(self) -> list[Box]:
        """``digit_boxes`` moved by ``rotation`` into ``image`` pixels: each box's centre is carried
        through it and the size kept (a digit tilted by 3 degrees has nearly the same ink box; the
        box around the tilted *box* would be several pixels wider)."""
        out = []
        for x0, y0, x1, y1 in self.digit_boxes:
            cx, cy = self.rotation @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
            hw, hh = (x1 - x0) / 2, (y1 - y0) / 2
            out.append((int(round(cx - hw)), int(round(cy - hh)), int(round(cx + hw)), int(round(cy + hh))))
        return out


def _paper_lines(shape: tuple[int, int], style: str, cells: list[tuple[int, int]], ink_top: int, ink_bottom: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Printed lines as darkness ``float32 [h, w]`` in 0..1."""
    h, w = shape
    lines = np.zeros(shape, np.uint8)
    t = int(rng.integers(1, 4))
    top = max(1, ink_top - int(rng.integers(4, 9)))
    bottom = min(h - 2, ink_bottom + int(rng.integers(3, 8)))
    if style == "box":
        cv2.rectangle(lines, (2, top), (w - 3, bottom), 255, t)
    elif style == "cells":
        cv2.line(lines, (2, top), (w - 3, top), 255, t)
        cv2.line(lines, (2, bottom), (w - 3, bottom), 255, t)
        for x in sorted({x for c in cells for x in c}):
            cv2.line(lines, (x, top), (x, bottom), 255, t)
    elif style == "baseline":
        cv2.line(lines, (2, bottom), (w - 3, bottom), 255, t)
    return lines.astype(np.float32) / 255.0


def make_field(field_type: str, value: str, rng: np.random.Generator, *, pool: DigitPool | None = None,
               boxes: bool | str = True, height: int | None = None, touching_p: float = 0.1,
               currency: str | None = None, grouping: str | None = None, suffix: str | None = None,
               noise: float | None = None, blur: float | None = None, angle: float | None = None,
               jpeg_quality: int | None = None, cts_hand: bool = False) -> FieldStrip:
    """A realistic scanned field strip showing ``value`` written by hand.

    Parameters
    ----------
    field_type : "zip" | "amount" | "date" | "digits"
    value : str
        The digits (amount: ``"123.45"`` or ``"1689"``).
    boxes : True (random style), False / "none", "box", "cells" (one printed cell per digit) or "baseline"
    currency, grouping, suffix :
        Amounts only. ``None`` picks at random: currency ``"$"``/``"₹"``/``""``, grouping
        ``"western"``/``"indian"``/``"none"``, suffix ``"/-"``/``""``.
    noise, blur, angle, jpeg_quality :
        ``None`` picks at random: Gaussian noise sigma 2-8 grey levels, blur sigma 0-0.8 px,
        rotation -3..3 degrees, JPEG quality 50-90 (0 = no JPEG).
    cts_hand : bool
        Amounts only: write them as on Indian CTS cheques, the marks no MNIST writer makes. Rupee
        sign and Indian grouping unless given; most commas long slanted strokes hanging below the
        line; mostly a trailing '/-', often as a rising flourish, in one stroke or with its '-' drawn
        through a tall '/', the '/' often run into the last digit; the zeros after the last comma often
        written half as high. ``written`` still spells the plain marks.
    """
    pool = pool if pool is not None else _default_pool()
    height = int(height if height is not None else rng.integers(28, 48))
    if boxes is True:
        style = str(rng.choice(["box", "cells", "baseline", "none"] if field_type != "amount"
                               else ["box", "baseline", "none"]))
    else:
        style = "none" if boxes is False else str(boxes)
    if style not in BOX_STYLES:
        raise ValueError(f"boxes must be one of {BOX_STYLES}, got {style!r}")
    written = value
    text, small_from, joined_from = written, None, None
    if field_type == "amount":
        if currency is None:
            currency = "₹" if cts_hand else str(rng.choice(["$", "₹", "", ""]))
        if grouping is None:
            grouping = "indian" if cts_hand else str(rng.choice(["western", "indian", "none"]))
        if suffix is None:
            suffix = "/-" if rng.random() < (0.8 if cts_hand else 0.25) and "." not in value else ""
        grouped = group_amount(value, grouping) if grouping in ("western", "indian") else value
        written = text = currency + grouped + suffix
        if cts_hand:
            text, small_from, joined_from = cts_hand_text(written, rng)
    pen_scale = float(rng.choice([0.7, 1.0, 1.0, 1.0, 1.4]))
    if style == "cells":
        ink, chars, cells, owner = _render_in_cells(written, pool, rng, height, pen_scale)
    else:
        ink, chars, owner = _render(text, pool, rng, height=height, pen_scale=pen_scale, touching_p=touching_p,
                                    small_from=small_from, joined_from=joined_from,
                                    slash_touching_p=CTS_SLASH_TOUCHING if cts_hand else 0.0)
        cells = []
    # Who wrote each pixel: digits by their order among the digits, marks -2, paper -1.
    digit_index = np.array([-1] + [-2] * len(chars), np.int32)
    for k, i in enumerate(i for i, (c, _) in enumerate(chars) if c.isdigit()):
        digit_index[i + 1] = k
    owner = digit_index[owner + 1]
    # Paper around the writing.
    mx, my = int(rng.integers(8, 20)), int(rng.integers(10, 18))
    h, w = ink.shape[0] + 2 * my, ink.shape[1] + 2 * mx
    ink_full = np.zeros((h, w), np.uint8)
    ink_full[my : my + ink.shape[0], mx : mx + ink.shape[1]] = ink
    ys = np.flatnonzero(ink_full.max(axis=1) > 0)
    lines = _paper_lines((h, w), style, [(a + mx, b + mx) for a, b in cells], int(ys.min()), int(ys.max()), rng)
    paper = float(rng.uniform(200, 250))
    pen_grey = float(rng.uniform(10, 80))
    line_grey = float(rng.uniform(60, 150))
    gray = np.full((h, w), paper, np.float32)
    gray -= lines * (paper - line_grey)
    a = ink_full.astype(np.float32) / 255.0
    gray = gray * (1 - a) + pen_grey * a  # ink over paper and lines
    # Scanner: rotation, blur, noise, JPEG.
    angle = float(rng.uniform(-3, 3) if angle is None else angle)
    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    owner_full = np.full((h, w), -1, np.int32)
    owner_full[my : my + ink.shape[0], mx : mx + ink.shape[1]] = owner
    if angle:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        gray = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=paper)
        owner_full = cv2.warpAffine(owner_full.astype(np.float32), m, (w, h), flags=cv2.INTER_NEAREST,
                                    borderValue=-1).astype(np.int32)
    blur = float(rng.uniform(0, 0.8) if blur is None else blur)
    if blur > 0.05:
        gray = cv2.GaussianBlur(gray, (0, 0), blur)
    noise = float(rng.uniform(2, 8) if noise is None else noise)
    gray = gray + rng.normal(0, noise, gray.shape).astype(np.float32)
    out = np.clip(gray + 0.5, 0, 255).astype(np.uint8)
    q = int(rng.integers(50, 91) if jpeg_quality is None else jpeg_quality)
    if q > 0:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    digit_boxes = [(b[0] + mx, b[1] + my, b[2] + mx, b[3] + my) for c, b in chars if c.isdigit()]
    return FieldStrip(image=out, value=value, written=written, style=style, digit_boxes=digit_boxes, rotation=m,
                      owner=owner_full)


def cts_hand_text(written: str, rng: np.random.Generator) -> tuple[str, int | None, int | None]:
    """An amount as written (``"₹1,50,000/-"``) -> the text to render as CTS cheque writers make its
    marks, where its small digits start (``_render``'s ``small_from``; ``None``: none), and where a run
    of digits written joined starts (``joined_from``). Three commas in four long strokes; a trailing
    '/-' as it was, as '/' and a flourish, in one stroke, or with its '-' through a tall '/' (as often
    each); in 4 of 10 whole amounts, the zeros after the last comma half as high, and in 3 of 10
    (:data:`CTS_ZEROS_JOINED`) written as one run, each zero touching the one before, as many Indian
    writers close an amount ("2,70,000/-" with its "000" in one stroke). (:func:`_render` runs 3 in 10 of
    their '/'s into the digit before.)"""
    text = "".join(LONG_COMMA if ch == "," and rng.random() < 0.75 else ch for ch in written)
    if text.endswith("/-"):
        text = text[:-2] + str(rng.choice(["/-", "/" + FLOURISH, SLASH_DASH, SLASH_CROSSED]))
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits or "." in text:
        return text, None, None
    last = first = digits[-1]
    while first > 0 and text[first - 1] == "0":
        first -= 1
    comma = max(text.rfind(","), text.rfind(LONG_COMMA))
    if text[last] != "0" or not 0 <= comma < first:
        return text, None, None
    small = first if rng.random() < 0.4 else None
    joined = first if last > first and rng.random() < CTS_ZEROS_JOINED else None
    return text, small, joined


def make_field_strip(field_type: str, value: str, rng: np.random.Generator, *, boxes: bool | str = True,
                     **kwargs) -> np.ndarray:
    """:func:`make_field` returning only the image ``uint8 [h, w]`` (dark ink on light paper)."""
    return make_field(field_type, value, rng, boxes=boxes, **kwargs).image


def _render_in_cells(text: str, pool: DigitPool, rng: np.random.Generator, height: int, pen_scale: float):
    """One character per printed cell (comb boxes): nothing touches across a cell wall."""
    rendered = [_render(ch, pool, rng, height=height, pen_scale=pen_scale, touching_p=0.0, margin=0)[:2]
                for ch in text]
    # Cells wide enough for the widest character: printed cells are drawn for the writing they hold.
    cell_w = max(int(round(height * rng.uniform(0.95, 1.2))), max(r[0].shape[1] for r in rendered) + 8)
    rows = max(r[0].shape[0] for r in rendered) + 4
    canvas = np.zeros((rows, cell_w * len(text) + 4), np.uint8)
    owner = np.full(canvas.shape, -1, np.int32)
    chars, cells = [], []
    for i, (ink, cs) in enumerate(rendered):
        x0 = 2 + i * cell_w
        cells.append((x0, x0 + cell_w))
        ih, iw = ink.shape
        iw = min(iw, cell_w - 6)
        ox = x0 + 3 + int(rng.integers(0, max(1, cell_w - 6 - iw + 1)))
        oy = rows - 2 - ih
        np.maximum(canvas[oy : oy + ih, ox : ox + iw], ink[:, :iw], out=canvas[oy : oy + ih, ox : ox + iw])
        owner[oy : oy + ih, ox : ox + iw][ink[:, :iw] > 64] = len(chars)
        for ch, b in cs:
            chars.append((ch, (b[0] + ox, b[1] + oy, min(b[2], iw) + ox, b[3] + oy)))
    return canvas, chars, cells, owner


_POOL: DigitPool | None = None


def _default_pool() -> DigitPool:
    global _POOL
    if _POOL is None:
        _POOL = DigitPool()
    return _POOL


def random_value(field_type: str, rng: np.random.Generator) -> str:
    """A plausible value: zip ``"12345"`` or ``"123456789"``; amount ``"1689"`` / ``"1689.50"``;
    date ``"DDMMYYYY"`` (a real date); digits 3-10 digits."""
    if field_type == "zip":
        n = 9 if rng.random() < 0.2 else 5
        return "".join(str(d) for d in rng.integers(0, 10, n))
    if field_type == "amount":
        whole = str(int(rng.integers(1, 10 ** int(rng.integers(1, 7)))))
        return whole + ("." + "".join(str(d) for d in rng.integers(0, 10, 2)) if rng.random() < 0.4 else "")
    if field_type == "date":
        import datetime as dt

        day = dt.date(1990, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 50)))
        return day.strftime("%d%m%Y")
    n = int(rng.integers(3, 11))
    return "".join(str(d) for d in rng.integers(0, 10, n))

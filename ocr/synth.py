"""Synthetic scans with ground truth: printed cheques and forms filled in by hand (MNIST *test*
digits through :mod:`ocr.handwriting`), then scanned: placed skewed on a scanner bed, blurred,
noisy, JPEG-compressed, at 200-300 dpi.

The printed layouts below are the ones the bundled templates ``cheque-sample`` and ``form-sample``
describe (relative coordinates of the document, ``(x0, y0, x1, y1)``). ``cheque-cts`` draws an Indian
CTS-2010 cheque within the bounds of the ``cheque-cts2010`` template, which reads it (``write_batch``
names that template in the batch's ``batch.yaml``): the rupee sign printed in a cell of its own, or
inside the amount box with the amount written close against it, as on Axis Bank cheques.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from PIL import Image

from ocr.handwriting import DigitPool, group_amount, render_text
from ocr.records import Box
from ocr.templates import BATCH_CONFIG_NAME

KINDS = ("cheque", "form", "cheque-cts")  # "both" alternates the first two
TRUTH_COLUMNS = ["document", "page", "kind", "field", "type", "value", "written", "digits"]

# Layouts (fractions of the document). Kept in step with ocr/templates/{cheque,form}-sample.yaml.
CHEQUE_MM = (203.0, 92.0)
CHEQUE_DATE = (0.72, 0.06, 0.97, 0.16)  # 8 cells DDMMYYYY
CHEQUE_RUPEE_CELL = (0.70, 0.36, 0.75, 0.50)
CHEQUE_AMOUNT = (0.75, 0.36, 0.97, 0.50)
# CTS-2010 (cheque-cts2010.yaml): each cheque moves its boxes by up to CTS_JITTER, as banks' prints differ.
CTS_MM = (202.0, 92.0)
CTS_DATE = (0.748, 0.066, 0.972, 0.152)
CTS_AMOUNT = (0.717, 0.36, 0.973, 0.468)
CTS_JITTER = 0.004
CTS_RUPEE_CELL = (0.05, 0.064)  # the divider after the printed sign's cell, from the box's left (page widths)
FORM_MM = (148.0, 210.0)
FORM_ZIP = (0.36, 0.40, 0.71, 0.46)  # 5 cells
FORM_DATE = (0.36, 0.53, 0.86, 0.59)  # 8 cells
FORM_AMOUNT = (0.36, 0.66, 0.86, 0.74)

_BANK_WORDS = ["National", "Union", "Coastal", "Deccan", "Pioneer", "Harbour", "Summit", "Lotus", "Meridian",
               "Western", "Eastern", "Royal", "Crescent", "Highland", "Valley"]
_BANK_TAILS = ["Bank", "Co-operative Bank", "Savings Bank", "Bank Ltd", "Gramin Bank"]
_AGENCIES = ["Municipal Water Board", "Regional Transport Office", "District Land Registry",
             "State Pension Fund", "City Electricity Authority", "Postal Savings Office"]
_CITIES = ["Pune", "Nagpur", "Mysuru", "Kochi", "Indore", "Surat", "Bhopal", "Patna", "Vellore"]


@dataclass
class SynthDocument:
    """One synthetic scan: ``image`` ``uint8 [H, W]`` (gray) and its truth rows."""

    image: np.ndarray
    dpi: int
    truth: list[dict]


def _rel(box, w, h):
    return int(round(box[0] * w)), int(round(box[1] * h)), int(round(box[2] * w)), int(round(box[3] * h))


def _text(canvas, s, org, scale, thick, grey, font=cv2.FONT_HERSHEY_SIMPLEX):
    cv2.putText(canvas, s, org, font, scale, float(grey), thick, cv2.LINE_AA)


def _write(canvas: np.ndarray, ink: np.ndarray, x: int, y: int, pen_grey: float) -> None:
    """Ink (bright on 0) laid over the paper at (x, y), clipped to the canvas."""
    h, w = ink.shape
    H, W = canvas.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    a = ink[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255.0
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.clip(region * (1 - a) + pen_grey * a + 0.5, 0, 255).astype(canvas.dtype)


def _fit(ink: np.ndarray, chars, max_w: int, max_h: int):
    """Shrink handwriting that would not fit its box (people write smaller when space runs out)."""
    h, w = ink.shape
    s = min(1.0, max_w / max(w, 1), max_h / max(h, 1))
    if s >= 1.0:
        return ink, chars
    ink = cv2.resize(ink, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    return ink, [(c, tuple(int(v * s) for v in b)) for c, b in chars]


def _cells(canvas, box, n, grey, thick):
    x0, y0, x1, y1 = box
    cv2.rectangle(canvas, (x0, y0), (x1, y1), float(grey), thick)
    for i in range(1, n):
        x = int(round(x0 + (x1 - x0) * i / n))
        cv2.line(canvas, (x, y0), (x, y1), float(grey), thick)


def _hand_pen(rng) -> tuple[float, float]:
    """One writer's pen for a whole document: (ink grey level, stroke width relative to MNIST's)."""
    return float(rng.uniform(10, 90)), float(rng.choice([0.7, 1.0, 1.0, 1.0, 1.4, 1.8]))


def _write_in_cells(canvas, box, text, pool, rng, pen_grey, pen_scale):
    """One character per printed cell of ``box``, each 50-65% of the cell's height."""
    x0, y0, x1, y1 = box
    height = int((y1 - y0) * rng.uniform(0.5, 0.65))
    n = len(text)
    cw = (x1 - x0) / n
    for i, ch in enumerate(text):
        ink, _ = render_text(ch, pool, rng, height=height, pen_scale=pen_scale, touching_p=0.0, margin=0)
        ink, _ = _fit(ink, [], int(cw * 0.72), int((y1 - y0) * 0.8))
        cx = x0 + cw * i + (cw - ink.shape[1]) / 2 + rng.normal(0, cw * 0.04)
        cy = y0 + (y1 - y0 - ink.shape[0]) / 2 + rng.normal(0, (y1 - y0) * 0.03)
        _write(canvas, ink, int(round(cx)), int(round(cy)), pen_grey)


def _random_date(rng) -> str:
    day = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 12)))
    return day.strftime("%d%m%Y")


def _random_amount(rng, paise_p: float) -> str:
    whole = str(int(rng.integers(1, 10 ** int(rng.integers(2, 7)))))
    if rng.random() < paise_p:
        return whole + "." + "".join(str(d) for d in rng.integers(0, 10, 2))
    return whole


def _row(doc, kind, name, ftype, value, written):
    return {"document": doc, "page": 1, "kind": kind, "field": name, "type": ftype, "value": value,
            "written": written, "digits": sum(c.isdigit() for c in written)}


def _write_amount(page: np.ndarray, amount_box: Box, written: str, pool: DigitPool, rng: np.random.Generator, pen_grey,
                  pen_scale: float, height_range: tuple[float, float], max_indent: float,
                  cts_hand: bool = False) -> None:
    """Handwrite ``written`` in the amount box: a random height within ``height_range`` of the box, fitted
    inside it, starting 3%..``max_indent`` of its width from the left (at its left edge for 0), about centred vertically
    (``cts_hand``: its marks as Indian cheque writers make them, :func:`ocr.handwriting.cts_hand_text`)."""
    bh = amount_box[3] - amount_box[1]
    ink, chars = render_text(written, pool, rng, height=int(bh * rng.uniform(*height_range)), pen_scale=pen_scale,
                             touching_p=0.08, cts_hand=cts_hand)
    ink, chars = _fit(ink, chars, int((amount_box[2] - amount_box[0]) * 0.9), int(bh * 0.85))
    x = amount_box[0] + int(rng.uniform(min(0.03, max_indent), max_indent) * (amount_box[2] - amount_box[0]))
    y = amount_box[1] + (bh - ink.shape[0]) // 2 + int(rng.normal(0, bh * 0.04))
    _write(page, ink, x, y, pen_grey)


def _cheque_print(rng, W: int, H: int, dpi: int):
    """A blank cheque's paper, security pattern, bank name and branch line: ``(page, paper, grey, thick, sc)``."""
    paper = float(rng.uniform(225, 250))
    page = np.full((H, W), paper, np.float32)  # float while the pattern is made, uint8 to print on
    # A faint security pattern: printed waves a scanner keeps (lighter than any rule or ink).
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    period = rng.uniform(0.02, 0.05) * W
    page -= (np.sin(xx / period * 2 * np.pi + np.sin(yy / period * np.pi) * 2) > 0.7) * rng.uniform(4, 14)
    page = np.clip(page, 0, 255).astype(np.uint8)
    grey, thick = rng.uniform(30, 110), max(1, int(round(dpi / 150)))
    sc = dpi / 200.0
    bank = f"{rng.choice(_BANK_WORDS)} {rng.choice(_BANK_TAILS)}"
    _text(page, bank.upper(), (int(0.04 * W), int(0.13 * H)), 1.1 * sc, max(2, 2 * thick), grey,
          cv2.FONT_HERSHEY_DUPLEX)
    _text(page, f"{rng.choice(_CITIES)} Branch  IFSC {''.join(rng.choice(list('ABCDEFGHJK'), 4))}0"
          f"{int(rng.integers(100000, 999999))}", (int(0.04 * W), int(0.20 * H)), 0.45 * sc, thick, grey)
    return page, paper, grey, thick, sc


def _date_cells(page: np.ndarray, date_box: Box, sc: float, thick: int, grey: float) -> None:
    """A cheque's 8 printed date cells, with the faint letters DDMMYYYY printed under them, as on CTS cheques."""
    _cells(page, date_box, 8, grey, thick)
    for i, lab in enumerate("DDMMYYYY"):
        cx = int(date_box[0] + (date_box[2] - date_box[0]) * (i + 0.5) / 8)
        _text(page, lab, (cx - int(4 * sc), date_box[3] + int(12 * sc)), 0.3 * sc, 1, min(200, grey + 90))


def _jittered(box: tuple[float, float, float, float], rng) -> tuple[float, float, float, float]:
    """``box`` (fractions of the page) moved by up to ``CTS_JITTER`` across and down, as banks' prints differ."""
    dx, dy = rng.uniform(-CTS_JITTER, CTS_JITTER, 2)
    return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy


def _cheque_amount(rng) -> tuple[str, str]:
    """A cheque amount: ``(value, as written)``, grouped Indian or Western or not at all, '/-' after half
    the whole ones."""
    value = _random_amount(rng, 0.15)
    grouping = str(rng.choice(["indian", "indian", "western", "none"]))
    written = group_amount(value, grouping) if grouping != "none" else value
    if "." not in value and rng.random() < 0.5:
        written += "/-"
    return value, written


def _cheque(rng, pool, dpi, doc_name, cts_hand: bool = False):
    W, H = (int(round(mm / 25.4 * dpi)) for mm in CHEQUE_MM)
    page, paper, grey, thick, sc = _cheque_print(rng, W, H, dpi)
    date_box = _rel(CHEQUE_DATE, W, H)
    _text(page, "DATE", (date_box[0] - int(0.06 * W), date_box[3] - int(0.03 * H)), 0.5 * sc, thick, grey)
    _date_cells(page, date_box, sc, thick, grey)
    _text(page, "PAY", (int(0.04 * W), int(0.30 * H)), 0.6 * sc, thick, grey)
    cv2.line(page, (int(0.09 * W), int(0.31 * H)), (int(0.95 * W), int(0.31 * H)), float(grey), thick)
    _text(page, "RUPEES", (int(0.04 * W), int(0.41 * H)), 0.6 * sc, thick, grey)
    cv2.line(page, (int(0.13 * W), int(0.42 * H)), (int(0.66 * W), int(0.42 * H)), float(grey), thick)
    cv2.line(page, (int(0.04 * W), int(0.52 * H)), (int(0.66 * W), int(0.52 * H)), float(grey), thick)
    rupee = _rel(CHEQUE_RUPEE_CELL, W, H)
    amount_box = _rel(CHEQUE_AMOUNT, W, H)
    cv2.rectangle(page, rupee[:2], amount_box[2:], float(grey), thick)
    cv2.line(page, (amount_box[0], amount_box[1]), (amount_box[0], amount_box[3]), float(grey), thick)
    _text(page, "Rs.", (rupee[0] + int(4 * sc), (rupee[1] + rupee[3]) // 2 + int(6 * sc)), 0.55 * sc, thick, grey)
    _cheque_foot(page, rng, 0.64, sc, thick, grey)
    truth = _fill_cheque(page, rng, pool, date_box, amount_box, 0.08, cts_hand, "cheque", doc_name)
    return page, paper, truth


def _cheque_foot(page: np.ndarray, rng, account_y: float, sc: float, thick: int, grey: float) -> None:
    """The account number line (at ``account_y`` of the height), the signature line and the MICR band."""
    H, W = page.shape
    _text(page, f"A/c No. {int(rng.integers(10**10, 10**11))}", (int(0.04 * W), int(account_y * H)), 0.55 * sc,
          thick, grey)
    cv2.line(page, (int(0.66 * W), int(0.80 * H)), (int(0.95 * W), int(0.80 * H)), float(grey), thick)
    _text(page, "Please sign above", (int(0.72 * W), int(0.85 * H)), 0.4 * sc, thick, grey)
    _text(page, f"{int(rng.integers(100000, 999999))}  {int(rng.integers(10**8, 10**9))}  "
          f"{int(rng.integers(100000, 999999))}  31", (int(0.22 * W), int(0.95 * H)), 0.7 * sc, thick, grey,
          cv2.FONT_HERSHEY_PLAIN)


def _fill_cheque(page: np.ndarray, rng, pool, date_box: Box, amount_box: Box, max_indent: float, cts_hand: bool,
                 kind: str, doc_name: str) -> list[dict]:
    """Handwrite a date in the 8 cells of ``date_box`` and an amount in ``amount_box``, with one pen for the
    whole cheque; returns the truth rows."""
    pen_grey, pen_scale = _hand_pen(rng)
    date = _random_date(rng)
    _write_in_cells(page, date_box, date, pool, rng, pen_grey, pen_scale)
    value, written = _cheque_amount(rng)
    _write_amount(page, amount_box, written, pool, rng, pen_grey, pen_scale, (0.42, 0.55), max_indent, cts_hand)
    return [_row(doc_name, kind, "date", "date", date, date),
            _row(doc_name, kind, "amount", "amount", value, written)]


def _printed_rupee(page: np.ndarray, x: int, y_mid: int, h: int, grey: float, thick: int) -> int:
    """A printed '₹' ``h`` high, its left edge at ``x``, centred on ``y_mid``; returns its right edge."""
    w, t = int(round(0.62 * h)), max(2, thick + 1)
    top, mid = y_mid - h // 2, y_mid - h // 2 + int(0.27 * h)
    cv2.line(page, (x, top), (x + w, top), float(grey), t, cv2.LINE_AA)
    cv2.line(page, (x, mid), (x + w, mid), float(grey), t, cv2.LINE_AA)
    bowl = (int(0.3 * w), int(0.17 * h))
    cv2.ellipse(page, (x + int(0.3 * w), mid), bowl, 0, -90, 90, float(grey), t, cv2.LINE_AA)
    join = (x + int(0.3 * w), mid + bowl[1])
    cv2.line(page, (x, join[1]), join, float(grey), t, cv2.LINE_AA)
    cv2.line(page, join, (x + int(0.75 * w), top + h), float(grey), t, cv2.LINE_AA)
    return x + w


def _cts_cheque(rng, pool, dpi, doc_name, cts_hand: bool = False, sign_cell: bool | None = None):
    """An Indian CTS-2010 cheque (template ``cheque-cts2010``): the date in 8 cells top right, the amount in a
    box whose printed '₹' has a cell of its own (half the cheques) or stands inside the box, the amount
    written close against it (the other half, as on Axis Bank cheques). ``sign_cell``: one or the other,
    instead of at random."""
    W, H = (int(round(mm / 25.4 * dpi)) for mm in CTS_MM)
    page, paper, grey, thick, sc = _cheque_print(rng, W, H, dpi)
    date_box = _rel(_jittered(CTS_DATE, rng), W, H)
    _date_cells(page, date_box, sc, thick, grey)
    _text(page, "Pay", (int(0.04 * W), int(0.25 * H)), 0.6 * sc, thick, grey)
    cv2.line(page, (int(0.09 * W), int(0.26 * H)), (int(0.93 * W), int(0.26 * H)), float(grey), thick)
    _text(page, "Rupees", (int(0.04 * W), int(0.35 * H)), 0.6 * sc, thick, grey)
    cv2.line(page, (int(0.13 * W), int(0.36 * H)), (int(0.69 * W), int(0.36 * H)), float(grey), thick)
    cv2.line(page, (int(0.04 * W), int(0.45 * H)), (int(0.69 * W), int(0.45 * H)), float(grey), thick)
    box = _rel(_jittered(CTS_AMOUNT, rng), W, H)
    cv2.rectangle(page, box[:2], box[2:], float(grey), thick)
    bh, y_mid = box[3] - box[1], (box[1] + box[3]) // 2
    sign_h = int(bh * rng.uniform(0.35, 0.45))
    cell = rng.random() < 0.5
    if cell if sign_cell is None else sign_cell:  # the sign's own cell
        divider = box[0] + int(rng.uniform(*CTS_RUPEE_CELL) * W)
        cv2.line(page, (divider, box[1]), (divider, box[3]), float(grey), thick)
        _printed_rupee(page, (box[0] + divider - int(0.62 * sign_h)) // 2, y_mid, sign_h, grey, thick)
        start = divider + int(rng.uniform(0.005, 0.03) * W)
    else:  # inside the box, the amount squeezed against it
        right = _printed_rupee(page, box[0] + int(rng.uniform(0.006, 0.012) * W), y_mid, sign_h, grey, thick)
        start = right + int(rng.uniform(0.002, 0.02) * W)
    _cheque_foot(page, rng, 0.58, sc, thick, grey)
    truth = _fill_cheque(page, rng, pool, date_box, (start, box[1], box[2], box[3]), 0.0, cts_hand, "cheque-cts",
                         doc_name)
    return page, paper, truth


def _form(rng, pool, dpi, doc_name):
    W, H = (int(round(mm / 25.4 * dpi)) for mm in FORM_MM)
    paper = float(rng.uniform(230, 252))
    page = np.full((H, W), round(paper), np.uint8)
    grey, thick = rng.uniform(20, 100), max(1, int(round(dpi / 150)))
    sc = dpi / 200.0
    agency = str(rng.choice(_AGENCIES))
    _text(page, agency.upper(), (int(0.06 * W), int(0.07 * H)), 0.75 * sc, max(2, 2 * thick), grey,
          cv2.FONT_HERSHEY_DUPLEX)
    _text(page, f"Form {rng.choice(list('ABCDK'))}-{int(rng.integers(1, 99))}: application for refund",
          (int(0.06 * W), int(0.11 * H)), 0.5 * sc, thick, grey)
    cv2.line(page, (int(0.06 * W), int(0.13 * H)), (int(0.94 * W), int(0.13 * H)), float(grey), max(2, 2 * thick))
    for y, label in ((0.21, "Name"), (0.28, "Address"), (0.34, "")):
        _text(page, label, (int(0.06 * W), int(y * H)), 0.5 * sc, thick, grey)
        cv2.line(page, (int(0.30 * W), int(y * H)), (int(0.94 * W), int(y * H)), float(grey), thick)
    zip_box, date_box, amount_box = _rel(FORM_ZIP, W, H), _rel(FORM_DATE, W, H), _rel(FORM_AMOUNT, W, H)
    _text(page, "PIN code", (int(0.06 * W), zip_box[3] - int(0.01 * H)), 0.5 * sc, thick, grey)
    _cells(page, zip_box, 5, grey, thick)
    _text(page, "Date (DDMMYYYY)", (int(0.06 * W), date_box[3] - int(0.01 * H)), 0.5 * sc, thick, grey)
    _cells(page, date_box, 8, grey, thick)
    _text(page, "Amount (Rs)", (int(0.06 * W), amount_box[3] - int(0.02 * H)), 0.5 * sc, thick, grey)
    cv2.rectangle(page, amount_box[:2], amount_box[2:], float(grey), thick)
    _text(page, "Signature", (int(0.06 * W), int(0.88 * H)), 0.5 * sc, thick, grey)
    cv2.line(page, (int(0.30 * W), int(0.88 * H)), (int(0.70 * W), int(0.88 * H)), float(grey), thick)
    _text(page, f"Office use only  ref {int(rng.integers(10**5, 10**6))}", (int(0.06 * W), int(0.96 * H)),
          0.4 * sc, thick, grey)
    pen_grey, pen_scale = _hand_pen(rng)
    zip_code = "".join(str(d) for d in rng.integers(0, 10, 5))
    _write_in_cells(page, zip_box, zip_code, pool, rng, pen_grey, pen_scale)
    date = _random_date(rng)
    _write_in_cells(page, date_box, date, pool, rng, pen_grey, pen_scale)
    value = _random_amount(rng, 0.35)
    grouping = str(rng.choice(["western", "indian", "none", "none"]))
    written = group_amount(value, grouping) if grouping != "none" else value
    _write_amount(page, amount_box, written, pool, rng, pen_grey, pen_scale, (0.4, 0.55), 0.1)
    truth = [_row(doc_name, "form", "zip", "zip", zip_code, zip_code),
             _row(doc_name, "form", "date", "date", date, date),
             _row(doc_name, "form", "amount", "amount", value, written)]
    return page, paper, truth


def scan(page: np.ndarray, rng: np.random.Generator, dpi: int, max_skew: float = 10.0,
         angle: float | None = None, bed: float | None = None) -> np.ndarray:
    """Put the paper ``page`` (``uint8 [H, W]``) on a darker scanner bed, turned by ``angle`` degrees
    (counter-clockwise; ``None``: mostly within 3 degrees, one scan in five up to ``max_skew``), then blur,
    noise and uneven lighting as a scanner adds. Returns ``uint8 [H', W']``."""
    H, W = page.shape
    page = page.astype(np.float32)
    if angle is None:
        angle = float(rng.uniform(-max_skew, max_skew) if rng.random() < 0.2 else rng.uniform(-3, 3))
    mx, my = int(W * rng.uniform(0.03, 0.08)), int(H * rng.uniform(0.03, 0.08))
    rad = np.radians(abs(angle))
    BW = int(W * np.cos(rad) + H * np.sin(rad)) + 2 * mx
    BH = int(W * np.sin(rad) + H * np.cos(rad)) + 2 * my
    m = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
    m[0, 2] += BW / 2 - W / 2 + rng.normal(0, mx / 4)
    m[1, 2] += BH / 2 - H / 2 + rng.normal(0, my / 4)
    doc = cv2.warpAffine(page, m, (BW, BH), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(np.ones((H, W), np.float32), m, (BW, BH), flags=cv2.INTER_LINEAR, borderValue=0)
    bed = float(rng.uniform(70, 180) if bed is None else bed)
    xx = np.linspace(-1, 1, BW, dtype=np.float32)[None, :]
    shade = bed + 15 * xx * rng.uniform(-1, 1)  # uneven lamp
    out = doc * mask + shade * (1 - mask)
    blur = float(rng.uniform(0.3, 1.1) * dpi / 200)
    out = cv2.GaussianBlur(out, (0, 0), blur)
    out += rng.normal(0, rng.uniform(2, 7), out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def make_document(kind: str, rng: np.random.Generator, pool: DigitPool, doc_name: str, *,
                  dpi: int | None = None, max_skew: float = 10.0, cts_hand: bool = False) -> SynthDocument:
    """One synthetic scan of ``kind`` (``"cheque"``, ``"form"`` or ``"cheque-cts"``) with its truth rows (``cts_hand``:
    a cheque's amount written as on Indian CTS cheques)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    dpi = int(dpi if dpi is not None else rng.choice([200, 240, 300]))
    page, _, truth = draw_document(kind, rng, pool, dpi, doc_name, cts_hand=cts_hand)
    return SynthDocument(image=scan(page, rng, dpi, max_skew), dpi=dpi, truth=truth)


def draw_document(kind: str, rng: np.random.Generator, pool: DigitPool, dpi: int, doc_name: str = "doc", *,
                  cts_hand: bool = False):
    """The flat, unscanned document: ``(uint8 [H, W] page, paper grey level, truth rows)``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "cheque":
        return _cheque(rng, pool, dpi, doc_name, cts_hand)
    if kind == "cheque-cts":
        return _cts_cheque(rng, pool, dpi, doc_name, cts_hand)
    return _form(rng, pool, dpi, doc_name)


def _name_template(out: Path, match: str, template: str) -> None:
    """Add the rule ``match -> template`` to ``out/batch.yaml`` (:func:`ocr.templates.load_batch_rules`)."""
    path = out / BATCH_CONFIG_NAME
    raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
    rules = raw.setdefault("templates", [])
    if {"match": match, "template": template} not in rules:
        rules.append({"match": match, "template": template})
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def write_batch(kind: str, n: int, seed: int, out: str | Path, *, dpi: int | None = None,
                jpeg_quality: tuple[int, int] = (55, 90), max_skew: float = 10.0, prefix: str | None = None,
                pool: DigitPool | None = None, cts_hand: bool = False) -> Path:
    """Write ``n`` scans of ``kind`` as JPEG into ``out`` and append their truth to ``out/truth.csv``
    (one row per field: document, page, kind, field, type, value, written, digits). Returns the truth path.

    ``kind`` may be ``"both"`` (alternating cheques and forms). Files are named ``<prefix>-<seed>-<i>.jpg``.
    For ``"cheque-cts"`` a rule in ``out/batch.yaml`` names the template that reads them, ``cheque-cts2010``
    (added to the rules already there).
    ``cts_hand``: the cheques' amounts written as on Indian CTS cheques (long commas, '/-' as a flourish, in
    one stroke or crossed, run into the last digit, trailing zeros small or in one run;
    :func:`ocr.handwriting.cts_hand_text`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pool = pool if pool is not None else DigitPool()
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        k = kind if kind != "both" else KINDS[i % 2]
        name = f"{prefix or k}-{seed}-{i:04d}.jpg"
        doc = make_document(k, rng, pool, name, dpi=dpi, max_skew=max_skew, cts_hand=cts_hand)
        q = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
        tmp = out / f".{name}.tmp"
        Image.fromarray(doc.image).save(tmp, format="JPEG", quality=q, dpi=(doc.dpi, doc.dpi))
        tmp.replace(out / name)
        rows.extend(doc.truth)
    if kind == "cheque-cts":
        _name_template(out, f"{prefix or kind}-*", "cheque-cts2010")
    truth_path = out / "truth.csv"
    new = pd.DataFrame(rows, columns=TRUTH_COLUMNS)
    if truth_path.exists():
        old = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
        new = pd.concat([old[~old["document"].isin(new["document"])], new.astype(str)], ignore_index=True)
    tmp = truth_path.with_name(".truth.csv.tmp")
    new.to_csv(tmp, index=False)
    tmp.replace(truth_path)
    return truth_path

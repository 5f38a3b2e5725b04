"""The one place where a digit image becomes the 32x32 LeNet-5 input.

Training (MNIST 28x28 images) and the document pipeline (segmented components of any size) both
call :func:`normalize_digit`, so the network sees the same kind of picture in both.

MNIST's own recipe (LeCun & Cortes): the digit is fitted to a 20x20 box keeping its aspect ratio,
then centred by its centre of mass in a 28x28 field. LeNet-5 (paper, II.A) takes that 28x28 field
padded to 32x32, with background -0.1 and ink 1.175 so that the mean is about 0 and the variance
about 1.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from ocr.errors import OCRError

BOX = 20  # the digit's longer side after fitting
FIELD = 28  # MNIST's field, centred by centre of mass
SIZE = 32  # LeNet-5's input
BACKGROUND = -0.1
INK = 1.175
# Centre of mass of an MNIST digit in its 28x28 field, in pixel-index coordinates (measured on the
# test set: 13.99, 14.01), moved into the 32x32 input by the 2-pixel pad.
CENTRE = 14.0 + (SIZE - FIELD) / 2
# A mark wide enough for two digits, for the pair reader (ocr.pairs): fitted to a box as high as a
# digit's and twice as wide, so each of its digits is about as large as a digit alone in the 32x32
# input (fitted to 20x20, a touching pair's digits are 10 pixels wide), in a 32x64 input.
PAIR_WIDTH = 2 * SIZE


def _as_unit_ink(image: np.ndarray) -> np.ndarray:
    """Any 2-D ink image -> float32 in [0, 1], ink high."""
    if image.ndim != 2:
        raise OCRError(f"a digit image must be 2-D, got shape {image.shape}")
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if np.issubdtype(image.dtype, np.integer):
        top = float(np.iinfo(image.dtype).max)
        return image.astype(np.float32) / top
    out = np.asarray(image, dtype=np.float32)
    if not np.isfinite(out).all():
        raise OCRError("a digit image holds NaN or infinite values")
    return np.clip(out, 0.0, 1.0)


def normalize_digit(ink: np.ndarray, *, wide: bool = False) -> np.ndarray:
    """Turn one digit image into the ``float32 [32, 32]`` LeNet-5 input.

    Parameters
    ----------
    ink : ndarray, 2-D, any size
        Ink bright on a zero background: ``uint8`` (0..255), any unsigned/signed int scaled by its
        dtype's maximum, ``bool``, or float in [0, 1]. (Scans are dark on light: invert first,
        e.g. with :func:`ocr.fields.ink_from_gray`.)
    wide : bool
        Normalise a mark that may hold two touching digits for the pair reader instead: fitted to a
        20x40 box (aspect ratio kept), its centre of mass at the centre of a 28x56 field, padded to
        ``[32, 64]``; otherwise the same.

    Returns
    -------
    ndarray, float32, shape (32, 32) (``wide``: (32, 64))
        The digit fitted to a 20x20 box (aspect ratio kept), its centre of mass at the centre of
        the 28x28 field, padded to 32x32; background -0.1, full ink 1.175, grey levels linear.

    Raises
    ------
    OCRError
        If the image holds no ink.
    """
    unit = _as_unit_ink(np.asarray(ink))
    rows = np.flatnonzero(unit.max(axis=1) > 0)
    cols = np.flatnonzero(unit.max(axis=0) > 0)
    if rows.size == 0:
        raise OCRError("the digit image is blank (no ink)")
    digit = unit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = digit.shape
    width = PAIR_WIDTH if wide else SIZE
    scale = min(BOX / h, BOX * width / SIZE / w)
    if scale != 1.0:
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        digit = cv2.resize(digit, (new_w, new_h), interpolation=interp)
        digit = np.clip(digit, 0.0, 1.0)
        h, w = digit.shape
    mass = float(digit.sum())
    if mass <= 0:
        raise OCRError("the digit image is blank (no ink)")
    ys, xs = np.indices(digit.shape, dtype=np.float64)
    com_y = float((digit * ys).sum() / mass)
    com_x = float((digit * xs).sum() / mass)
    top = int(round(CENTRE - com_y))
    left = int(round(CENTRE + (width - SIZE) / 2 - com_x))
    canvas = np.zeros((SIZE, width), dtype=np.float32)
    # Paste with clipping: a lopsided digit (a '7' with a long bar) may reach the pad, never beyond.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, SIZE), min(left + w, width)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = digit[y0 - top : y1 - top, x0 - left : x1 - left]
    return (BACKGROUND + canvas * (INK - BACKGROUND)).astype(np.float32)


def normalize_many(images: Iterable[np.ndarray]) -> np.ndarray:
    """:func:`normalize_digit` over many images -> ``float32 [N, 32, 32]`` (N may be 0)."""
    out = [normalize_digit(im) for im in images]
    if not out:
        return np.zeros((0, SIZE, SIZE), dtype=np.float32)
    return np.stack(out)

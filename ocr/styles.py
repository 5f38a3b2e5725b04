"""Digits as many writers outside the United States make them, drawn onto MNIST training digits.

MNIST's writers were American: their '1' is one stroke down and their '7' has no bar across its
stem. Writers in India and Europe, whose cheques this product reads, often start a '1' with a flag
(an up-stroke into its top, sometimes with a foot) and cross a '7' through its stem. On the 24 real
CTS cheques of the evaluation set such digits are far from every prototype the network learnt
(README, "Real cheques"). :func:`style_digits` redraws a share of the *training* '1's and '7's so:

- :func:`flag_one`: a straight stroke from the top of the '1' down to its left, 0.2-0.35 of its
  height long and 25-60 degrees below the horizontal; in one of four, a short foot across its bottom;
- :func:`cross_seven`: a bar across the stem of the '7', 0.4-0.65 of the digit's height below its
  top, as long as 0.3-0.6 of the digit's width, tilted up to 8 degrees.

The strokes are drawn with the digit's own pen: as thick as its strokes, as dark as its ink. Images
are MNIST's: ``uint8 [28, 28]``, ink bright on 0. Validation and test digits are never styled.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.morphology import skeletonize


def _pen(img: np.ndarray, ink: np.ndarray) -> tuple[int, int]:
    """The stroke thickness in pixels of the digit ``img`` whose ink is ``ink`` (its area over its skeleton's
    length) and its ink's level."""
    length = max(int(skeletonize(ink).sum()), 1)
    # (less one: the anti-aliased line is a pixel wider than its thickness, as the digit's ink is)
    thick = int(np.clip(round(ink.sum() / length) - 1, 1, 4))
    level = int(np.percentile(img[ink], 75))
    return thick, level


def _draw(img: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], thick: int, level: int) -> np.ndarray:
    """``img`` with a stroke from ``p0`` to ``p1`` ((x, y), pixels) in its pen, kept where the digit's ink is darker."""
    canvas = np.zeros_like(img)
    shift = 4  # sub-pixel end points
    a = tuple(int(round(v * (1 << shift))) for v in p0)
    b = tuple(int(round(v * (1 << shift))) for v in p1)
    cv2.line(canvas, a, b, int(level), thickness=thick, lineType=cv2.LINE_AA, shift=shift)
    return np.maximum(img, canvas)


def _ink(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None:
    """The digit's ink mask, the rows and columns of its pixels, and its top and bottom rows; ``None`` when blank."""
    ink = img > 60
    if not ink.any():
        return None
    ys, xs = np.nonzero(ink)
    return ink, ys, xs, int(ys.min()), int(ys.max())


def flag_one(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A '1' with a flag (and, one time in four, a foot), drawn onto ``img``."""
    found = _ink(img)
    if found is None:
        return img.copy()
    ink, ys, xs, top, bottom = found
    h = bottom - top + 1
    thick, level = _pen(img, ink)
    x_top = float(xs[ys <= top + 1].mean())
    length = rng.uniform(0.2, 0.35) * h
    angle = np.deg2rad(rng.uniform(25.0, 60.0))
    tip = (max(x_top - length * np.cos(angle), 1.0), top + length * np.sin(angle))
    out = _draw(img, (x_top, float(top)), tip, thick, level)
    if rng.random() < 0.25:
        x_bottom = float(xs[ys >= bottom - 1].mean())
        half = rng.uniform(0.15, 0.25) * h
        out = _draw(out, (max(x_bottom - half, 1.0), float(bottom)), (min(x_bottom + half, img.shape[1] - 2.0),
                                                                      float(bottom)), thick, level)
    return out


def cross_seven(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A '7' with a bar across its stem, drawn onto ``img``."""
    found = _ink(img)
    if found is None:
        return img.copy()
    ink, ys, xs, top, bottom = found
    left, right = int(xs.min()), int(xs.max())
    h, w = bottom - top + 1, right - left + 1
    thick, level = _pen(img, ink)
    y = int(round(top + rng.uniform(0.4, 0.65) * h))
    row = np.flatnonzero(ink[y])
    # The stem is the ink of that row; where the row misses it (a thin or broken stroke), the ink's middle.
    x_mid = float(row.mean()) if row.size else (left + right) / 2.0
    half = rng.uniform(0.15, 0.3) * max(w, 0.6 * h)
    tilt = np.tan(np.deg2rad(rng.uniform(-8.0, 8.0))) * half
    a = (max(x_mid - half, 1.0), y + tilt)
    b = (min(x_mid + half, img.shape[1] - 2.0), y - tilt)
    return _draw(img, a, b, thick, level)


def style_digits(images: np.ndarray, labels: np.ndarray, share: float, rng: np.random.Generator,
                 candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``images`` (``uint8 [N, 28, 28]``) with ``share`` of the '1's and '7's among
    ``candidates`` (indices; default all) redrawn by :func:`flag_one` and :func:`cross_seven`, and the
    indices redrawn (sorted). Labels do not change."""
    out = images.copy()
    pool = np.arange(len(images)) if candidates is None else np.asarray(candidates)
    changed = []
    for label, draw in ((1, flag_one), (7, cross_seven)):
        mine = pool[labels[pool] == label]
        pick = np.sort(rng.choice(mine, size=int(round(share * len(mine))), replace=False)) if len(mine) else mine
        for i in pick:
            out[i] = draw(images[i], rng)
        changed.append(pick)
    return out, np.sort(np.concatenate(changed)).astype(np.int64)

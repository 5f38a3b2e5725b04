"""Field images: from scanned grayscale to clean ink."""

from __future__ import annotations

import numpy as np
from skimage.filters import threshold_otsu


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

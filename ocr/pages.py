"""Loading scans into grayscale pages.

The one place where image files are decoded. Everything that goes wrong raises
:class:`ocr.errors.OCRError` with a one-line reason naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr.errors import OCRError


def to_gray_u8(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image (any mode: 1, L, I;16, I, F, P, RGB, RGBA, CMYK, LA) -> ``uint8 [H, W]``.

    Transparency is composited onto white paper; 16-bit and float images are scaled to their range.
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        top = 65535.0 if image.mode.startswith("I;16") else max(hi, 1.0)
        if image.mode == "F" or hi > 65535:
            top = hi if hi > lo else lo + 1.0
            arr = arr - lo
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8).copy()


def read_gray(path: str | Path) -> np.ndarray:
    """Read the first page of an image file as ``uint8 [H, W]`` grayscale (0 = ink, 255 = paper),
    with the EXIF orientation applied."""
    path = Path(path)
    if not path.is_file():
        raise OCRError(f"{path.name}: file not found")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return to_gray_u8(im)
    except UnidentifiedImageError:
        raise OCRError(f"{path.name}: not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise OCRError(f"{path.name}: image is damaged or truncated ({exc})") from None

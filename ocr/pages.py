"""Loading scans into grayscale pages.

The one place where image files are decoded. Everything that goes wrong raises
:class:`ocr.errors.OCRError` with a one-line reason naming the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr.errors import OCRError
from ocr.records import Page


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


# --- Loading whole files into pages -------------------------------------------------------------

#: Refuse images with more pixels than this (a decompression bomb or a wrong file): a 600 dpi A3
#: scan is about 70 Mpx, so 120 Mpx leaves room and stops a 50,000 x 50,000 "image" before decoding.
DEFAULT_MAX_PIXELS = 120_000_000
DEFAULT_PDF_DPI = 300.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
PDF_SUFFIXES = (".pdf",)
SUPPORTED_SUFFIXES = IMAGE_SUFFIXES + PDF_SUFFIXES


@dataclass(frozen=True)
class PageError:
    """A page of a multi-page file that could not be read (the other pages still can)."""

    source: Path
    page_number: int
    reason: str


def _dpi_from_info(info: dict) -> float | None:
    """Pillow's ``info['dpi']`` (x, y) -> a plausible scan resolution, else ``None``."""
    dpi = info.get("dpi")
    try:
        x = float(dpi[0]) if isinstance(dpi, (tuple, list)) else float(dpi)
    except (TypeError, ValueError, IndexError):
        return None
    # 72/96 dpi and below are what image editors write by default, not a scanner's resolution.
    return x if 100.0 <= x <= 4800.0 else None


def _check_size(path: Path, width: int, height: int, max_pixels: int, page: int | None = None) -> None:
    where = f" page {page}" if page else ""
    if width < 1 or height < 1:
        raise OCRError(f"{path.name}{where}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise OCRError(f"{path.name}{where}: image is {width}x{height} = {width * height / 1e6:.0f} Mpx, "
                       f"above the limit of {max_pixels / 1e6:.0f} Mpx (refused without decoding)")


def _image_pages(path: Path, max_pixels: int) -> Iterator[Page | PageError]:
    try:
        # Pillow's own bomb check fires at 2x its limit; ours (before decoding) is the one that counts.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise OCRError(f"{path.name}: not an image file (unrecognised or unsupported format)") from None
    except Image.DecompressionBombError:
        raise OCRError(f"{path.name}: image is far too large (refused without decoding)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise OCRError(f"{path.name}: cannot open image ({exc})") from None
    except Exception as exc:  # Pillow's plugins raise struct.error, TypeError, KeyError... on damaged headers
        raise OCRError(f"{path.name}: image is damaged (unreadable header: {type(exc).__name__})") from None
    with im:
        later = ""  # set when the pages after the first cannot even be counted
        try:
            n = getattr(im, "n_frames", 1) or 1
        except Exception as exc:  # a damaged later page of a TIFF (TypeError, KeyError...): page 1 may be fine
            n, later = 1, f"{path.name} page 2: the pages after page 1 are damaged ({type(exc).__name__}: " \
                          f"{' '.join(str(exc).split())[:80]})"
            try:
                im.seek(0)
            except Exception:
                raise OCRError(f"{path.name}: image is damaged ({type(exc).__name__})") from None
        for i in range(n):
            number = i + 1
            try:
                if i:
                    im.seek(i)
                _check_size(path, im.size[0], im.size[1], max_pixels, number if n > 1 else None)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    frame = ImageOps.exif_transpose(im) if i == 0 else im.copy()
                    gray = to_gray_u8(frame)
            except OCRError as exc:
                if n == 1:
                    raise
                yield PageError(path, number, str(exc))
                continue
            except Exception as exc:  # OSError, EOFError, ValueError... and whatever a damaged file makes Pillow raise
                where = f" page {number}" if n > 1 else ""
                reason = f"{path.name}{where}: image is damaged or truncated ({' '.join(str(exc).split())[:120]})"
                if n == 1:
                    raise OCRError(reason) from None
                yield PageError(path, number, reason)
                continue
            yield Page(image=gray, source=path, page_number=number, dpi=_dpi_from_info(im.info))
        if later:
            yield PageError(path, 2, later)


def _pdf_pages(path: Path, max_pixels: int, dpi: float) -> Iterator[Page | PageError]:
    import pypdfium2 as pdfium  # imported here: only PDF batches pay for it

    try:
        pdf = pdfium.PdfDocument(str(path))
    except Exception as exc:  # pypdfium2 raises its own PdfiumError and OSError variants
        raise OCRError(f"{path.name}: cannot open PDF ({' '.join(str(exc).split())[:120]})") from None
    try:
        if len(pdf) == 0:
            raise OCRError(f"{path.name}: PDF has no pages")
        for i in range(len(pdf)):
            number = i + 1
            try:
                page = pdf[i]
                w_pt, h_pt = page.get_size()
                scale = dpi / 72.0  # PDF user space is 1/72 inch
                _check_size(path, int(round(w_pt * scale)), int(round(h_pt * scale)), max_pixels, number)
                bitmap = page.render(scale=scale, grayscale=True)
                gray = to_gray_u8(bitmap.to_pil())
            except OCRError as exc:
                yield PageError(path, number, str(exc))
                continue
            except Exception as exc:
                yield PageError(path, number, f"{path.name} page {number}: cannot render PDF page ({exc})")
                continue
            yield Page(image=gray, source=path, page_number=number, dpi=dpi)
    finally:
        pdf.close()


def iter_pages(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               pdf_dpi: float = DEFAULT_PDF_DPI) -> Iterator[Page | PageError]:
    """Pages of a scan file, one at a time (so a batch never holds more than one file's pixels).

    Yields :class:`Page` (``uint8 [H, W]`` grayscale) or, for a broken page of a multi-page file,
    :class:`PageError`. Raises :class:`OCRError` when the file as a whole cannot be read (missing,
    empty, not an image, too many pixels, damaged single-page image). Images are refused above
    ``max_pixels`` from their header, before any pixel is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise OCRError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise OCRError(f"{path.name}: empty file (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"%PDF"):
        yield from _pdf_pages(path, max_pixels, pdf_dpi)
    elif path.suffix.lower() in PDF_SUFFIXES:
        raise OCRError(f"{path.name}: named .pdf but is not a PDF file")
    else:
        yield from _image_pages(path, max_pixels)


def load_pages(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               pdf_dpi: float = DEFAULT_PDF_DPI) -> list[Page]:
    """All pages of a PNG/JPEG/TIFF (multi-page)/PDF file as grayscale :class:`Page` s.

    Raises :class:`OCRError` (one line, naming the file) on anything wrong, including one broken
    page of a multi-page file; use :func:`iter_pages` to keep the good pages of such a file.
    """
    pages = []
    for item in iter_pages(path, max_pixels=max_pixels, pdf_dpi=pdf_dpi):
        if isinstance(item, PageError):
            raise OCRError(item.reason)
        pages.append(item)
    return pages

"""Property tests (hypothesis): the image loader and the field reader never fail with anything but
:class:`ocr.errors.OCRError`, whatever bytes or pixels they are given, and each input takes bounded time
(hypothesis ``deadline``). Derandomised, so a CI run is the same run every time."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from ocr.errors import OCRError
from ocr.fields import clean_field
from ocr.pages import iter_pages, load_pages
from ocr.records import FieldImage, Page
from ocr.segment import segment

# OCR_FUZZ_EXAMPLES=N: a deeper, randomised run (e.g. 2000) when hunting; CI runs the fixed 50.
_DEEP = int(os.environ.get("OCR_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_DEEP or 50, deadline=5000, derandomize=not _DEEP, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL_LIMIT = 4_000_000  # a flipped header can claim any size: keep what may be decoded small


def _seed_files() -> dict[str, bytes]:
    """Small valid files of each format the loader reads, to be damaged byte by byte."""
    rng = np.random.default_rng(0)
    page = np.full((48, 64), 230, np.uint8)
    page[10:38, 20:24] = 20
    page += rng.integers(0, 20, page.shape, dtype=np.uint8)
    out = {}
    for suffix, kw in ((".png", {}), (".jpg", {"quality": 80}), (".bmp", {}), (".webp", {"quality": 80}),
                       (".tif", {"compression": "tiff_deflate"})):
        buf = io.BytesIO()
        Image.fromarray(page).save(buf, format={".jpg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper()),
                                   **kw)
        out[suffix] = buf.getvalue()
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.stack([page, page[::-1]]).astype(np.uint16) * 257)  # 2 pages, 16 bits
    out[".tiff"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(page).convert("P").save(buf, format="PNG", transparency=0)
    out["-palette.png"] = buf.getvalue()
    out[".pdf"] = _tiny_pdf()
    return out


def _tiny_pdf() -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(72, 36)
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    return buf.getvalue()


SEEDS = _seed_files()
_DIR = Path(tempfile.mkdtemp(prefix="ocr-fuzz-"))


def _load(data: bytes, suffix: str, max_pixels: int) -> None:
    """Write ``data`` as a file and load every page: Pages and PageErrors are fine, OCRError is fine."""
    path = _DIR / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        for item in iter_pages(path, max_pixels=max_pixels, pdf_dpi=72):
            if isinstance(item, Page):
                assert item.image.dtype == np.uint8 and item.image.ndim == 2
        load_pages(path, max_pixels=max_pixels, pdf_dpi=72)
    except OCRError as exc:
        assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".png", ".jpg", ".tif", ".pdf", ".webp", ".bmp"]))
def test_loader_random_bytes(data, suffix):
    _load(data, suffix, SMALL_LIMIT)


@FUZZ
@given(head=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"MM\x00*", b"%PDF-1.4\n",
                             b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"GIF89a"]),
       tail=st.binary(max_size=2048))
def test_loader_valid_magic_then_garbage(head, tail):
    _load(head + tail, ".png", SMALL_LIMIT)


@FUZZ
@example(kind=".tiff", flips=[(0.5, 0)], cut=0.5)  # found by a deep run: a TIFF whose 2nd page can't be counted
@given(kind=st.sampled_from(sorted(SEEDS)),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.floats(0.05, 1.0)))
def test_loader_damaged_real_files(kind, flips, cut):
    data = bytearray(SEEDS[kind])
    for where, value in flips:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: max(1, int(cut * len(data)))]
    _load(bytes(data), kind if kind.startswith(".") else ".png", SMALL_LIMIT)


def test_seed_files_load():
    """The undamaged seeds are readable, so the damaged ones exercise decoding, not only header checks."""
    for kind, data in SEEDS.items():
        path = _DIR / f"seed{kind}"
        path.write_bytes(data)
        assert len(load_pages(path, pdf_dpi=72)) >= 1, kind


# --- the field reader ---------------------------------------------------------------------------------------

SHAPES = st.one_of(st.tuples(st.integers(1, 120), st.integers(1, 400)),
                   st.tuples(st.just(1), st.integers(1, 2000)), st.tuples(st.integers(1, 2000), st.just(1)),
                   st.tuples(st.integers(2, 6), st.integers(500, 3000)), st.tuples(st.integers(300, 900),
                                                                                   st.integers(2, 8)))
FIELD_TYPES = st.sampled_from(["amount", "zip", "date", "digits"])


@st.composite
def noise_crops(draw) -> np.ndarray:
    """uint8 [h, w] of any size and aspect: uniform noise, flat, or noise over a constant."""
    h, w = draw(SHAPES)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "flat", "sparse"]))
    if kind == "flat":
        return np.full((h, w), draw(st.integers(0, 255)), np.uint8)
    img = rng.integers(0, 256, (h, w), dtype=np.uint8)
    if kind == "sparse":
        img = np.where(rng.random((h, w)) < 0.03, 0, 255).astype(np.uint8)
    return img


@st.composite
def blob_crops(draw) -> np.ndarray:
    """Dark blobs (lines, rectangles, ellipses, strokes) on light paper: shapes the segmenter must sort out."""
    h, w = draw(st.tuples(st.integers(8, 120), st.integers(8, 500)))
    img = np.full((h, w), draw(st.integers(150, 255)), np.uint8)
    n = draw(st.integers(0, 25))
    for _ in range(n):
        x0, x1 = sorted(draw(st.tuples(st.integers(-10, w + 10), st.integers(-10, w + 10))))
        y0, y1 = sorted(draw(st.tuples(st.integers(-10, h + 10), st.integers(-10, h + 10))))
        ink = draw(st.integers(0, 120))
        thick = draw(st.integers(-1, 6)) or 1
        shape = draw(st.sampled_from(["line", "rect", "ellipse"]))
        if shape == "line":
            cv2.line(img, (x0, y0), (x1, y1), ink, max(thick, 1))
        elif shape == "rect":
            cv2.rectangle(img, (x0, y0), (x1, y1), ink, thick)
        else:
            box = (((x0 + x1) / 2, (y0 + y1) / 2), (max(x1 - x0, 1), max(y1 - y0, 1)), draw(st.floats(0, 180)))
            cv2.ellipse(img, box, ink, thick)
    return img


def _segment(crop: np.ndarray, field_type: str) -> None:
    try:
        c = clean_field(crop)
        assert c.ink.shape == c.mask.shape
        seg = segment(c.ink, c.mask, field_type)
        for g in seg.groups:
            for comp in g.candidates:
                x0, y0, x1, y1 = comp.bbox
                assert 0 <= x0 < x1 and 0 <= y0 < y1
    except OCRError:
        pass


@FUZZ
@given(crop=noise_crops(), field_type=FIELD_TYPES)
def test_segmentation_random_images(crop, field_type):
    _segment(crop, field_type)


_ONLY_A_SIGN = np.full((8, 8), 150, np.uint8)  # found by a deep run: an amount whose one mark is a currency sign
_ONLY_A_SIGN[:, 0] = 0
_ONLY_A_SIGN[0, :4] = 0
_ONLY_A_SIGN[1, :3] = 0
_ONLY_A_SIGN[2, 3] = 0


@FUZZ
@example(crop=_ONLY_A_SIGN, field_type="amount")
@given(crop=blob_crops(), field_type=FIELD_TYPES)
def test_segmentation_random_blobs(crop, field_type):
    _segment(crop, field_type)


@pytest.fixture(scope="module")
def reader_classifier():
    from ocr.classify import Classifier

    return Classifier.load(device="cpu")


@settings(FUZZ, max_examples=_DEEP or 40)
@given(crops=st.lists(st.one_of(noise_crops(), blob_crops()), min_size=1, max_size=4),
       field_type=FIELD_TYPES)
def test_read_fields_one_result_per_field(reader_classifier, crops, field_type):
    from ocr.reader import read_fields

    fields = [FieldImage(name=f"f{i}", type=field_type, crop=c, document="fuzz") for i, c in enumerate(crops)]
    results = read_fields(fields, reader_classifier)
    assert [r.field.name for r in results] == [f.name for f in fields]
    for r in results:
        assert r.status in ("accepted", "review", "error") and 0.0 <= r.confidence <= 1.0
        assert r.status != "error" or r.reason
        # An accepted reading has no doubt left: every digit accepted, nothing in the reason.
        if r.status == "accepted":
            assert all(d.accepted for d in r.digits)

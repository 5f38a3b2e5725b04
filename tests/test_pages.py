"""Loading scans: formats, multi-page TIFF, PDF, dpi, size limit before decoding, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from ocr.errors import OCRError
from ocr.pages import PageError, iter_pages, load_pages, read_gray, to_gray_u8


def _page(h=60, w=90, value=200):
    a = np.full((h, w), value, np.uint8)
    a[10:20, 10:50] = 0
    return a


def test_multipage_tiff_gives_one_page_per_frame(tmp_path):
    path = tmp_path / "three.tif"
    frames = [Image.fromarray(_page(value=v)) for v in (200, 180, 160)]
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(300, 300))
    pages = load_pages(path)
    assert [p.page_number for p in pages] == [1, 2, 3]
    assert [int(p.image[50, 80]) for p in pages] == [200, 180, 160]
    assert all(p.dpi == pytest.approx(300) for p in pages)
    assert pages[0].image.dtype == np.uint8 and pages[0].image.shape == (60, 90)


def test_tifffile_multipage_16bit(tmp_path):
    path = tmp_path / "sixteen.tif"
    stack = np.stack([_page().astype(np.uint16) * 257, _page(value=100).astype(np.uint16) * 257])
    tifffile.imwrite(path, stack)
    pages = load_pages(path)
    assert len(pages) == 2
    assert int(pages[0].image[50, 80]) == 200 and int(pages[1].image[50, 80]) == 100
    assert int(pages[0].image[15, 20]) == 0


@pytest.mark.parametrize("mode", ["RGB", "P", "CMYK", "LA"])
def test_colour_modes_become_gray(tmp_path, mode):
    img = Image.fromarray(_page()).convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    img.save(path)
    [page] = load_pages(path)
    assert page.image.dtype == np.uint8
    assert page.image[15, 20] < 60 and page.image[50, 80] > 150


def test_pdf_pages_are_rendered(tmp_path):
    path = tmp_path / "two.pdf"
    imgs = [Image.fromarray(_page(200, 300)).convert("RGB") for _ in range(2)]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], resolution=100)
    pages = load_pages(path, pdf_dpi=150)
    assert len(pages) == 2 and pages[0].dpi == 150
    # 300 px at 100 dpi = 3 inches -> 450 px at 150 dpi
    assert abs(pages[0].image.shape[1] - 450) <= 2


def test_too_many_pixels_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (3000, 2000), 255).save(path)
    with pytest.raises(OCRError, match=r"big.png.*above the limit"):
        load_pages(path, max_pixels=1_000_000)
    assert len(load_pages(path, max_pixels=10_000_000)) == 1


@pytest.mark.parametrize("content,why", [(b"", "empty file"), (b"hello, not an image" * 10, "not an image"),
                                         (b"%PDF-1.4 broken", "PDF")])
def test_bad_files_raise_one_line_naming_the_file(tmp_path, content, why):
    path = tmp_path / ("scan.pdf" if b"PDF" in content else "scan.tif")
    path.write_bytes(content)
    with pytest.raises(OCRError) as err:
        load_pages(path)
    assert path.name in str(err.value) and why in str(err.value) and "\n" not in str(err.value)


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(OCRError, match="cut.png"):
        load_pages(path)


def test_broken_page_of_multipage_tiff_keeps_the_others(tmp_path):
    path = tmp_path / "two.tif"
    frames = [Image.fromarray(_page()), Image.fromarray(_page(value=90))]
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_deflate")
    data = bytearray(path.read_bytes())
    # Damage the second frame's compressed strip: find its offset through tifffile.
    with tifffile.TiffFile(path) as tf:
        off = tf.pages[1].dataoffsets[0]
        n = tf.pages[1].databytecounts[0]
    data[off : off + n] = b"\x00" * n
    path.write_bytes(bytes(data))
    items = list(iter_pages(path))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Page", "PageError"]
    assert isinstance(items[1], PageError) and items[1].page_number == 2 and "two.tif" in items[1].reason
    with pytest.raises(OCRError, match="page 2"):
        load_pages(path)


def test_read_gray_and_to_gray_u8_kept():
    img = Image.fromarray(_page())
    assert to_gray_u8(img).shape == (60, 90)
    with pytest.raises(OCRError, match="not found"):
        read_gray("/nonexistent/x.png")

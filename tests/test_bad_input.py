"""A nightly batch full of broken, odd and hostile files: every document gets exactly one outcome (result
rows, or one errors.csv row a person can act on), the good documents read exactly as in a batch without
the bad ones, nothing is decoded above the pixel limit, links out of the folder are never read, and
crafted file names cannot write outside the output folder.

One batch run for the whole corpus and one for the good documents alone (module fixture).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image, ImageFile, TiffImagePlugin

from ocr.batch import BatchConfig, run_batch
from ocr.report import read_csv

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
CHEQUE, FORM = "cheque-7-0000.jpg", "form-7-0001.jpg"

# Every file opened while _OPENED is a list (audit hook: builtins.open, io.open and os.open all report here).
_OPENED: list[str] | None = None


def _audit(event: str, args) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


def _png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` 8-bit gray pixels, holding only a few rows (a few KB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _tiff_bomb(width: int, height: int) -> bytes:
    """A little-endian baseline TIFF whose one IFD claims ``width x height`` uncompressed gray pixels."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, width * height)]
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, typ, value in tags:
        value = data_offset if tag == 273 else value
        ifd += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", value, 0) if typ == 3 else
                                                   struct.pack("<I", value))
    return b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + struct.pack("<I", 0) + b"\x00" * 4096


def _tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (links not followed), plus the links' targets."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link->" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# name -> expected outcome: ("error", key words of the reason) or ("read", the good document it must read as,
# or None when only "read, not refused" is asserted).
EXPECTED: dict[str, tuple[str, object]] = {
    "empty.png": ("error", ["empty", "0 bytes"]),
    "truncated.png": ("error", ["truncated"]),
    "truncated.jpg": ("error", ["truncated"]),
    "random-bytes.jpg": ("error", ["not an image"]),
    "notes-named.tif": ("error", ["not an image"]),
    # 40000 x 40000 is stopped by Pillow's own header check (2x its limit), 12000 x 12000 by ours (120 Mpx)
    "bomb.png": ("error", ["too large", "without decoding"]),
    "bomb.tif": ("error", ["12000x12000", "above the limit", "without decoding"]),
    "tiny.png": ("error", ["5x5", "too small"]),
    "link-out.png": ("error", ["outside the input folder", "not followed"]),
    "cheque-16bit.tif": ("read", CHEQUE),  # same pixels as the JPEG, 16 bits deep
    "cheque-cmyk.jpg": ("read", None),
    "cheque-palette-alpha.png": ("read", None),
    "cheque-été ünïcödé №1.jpg": ("read", CHEQUE),  # spaces and non-ASCII letters
    "blank.png": ("blank", None),
    "cheque-upside-down.png": ("upside-down", CHEQUE),
    "form-upside-down.png": ("upside-down", FORM),
    # crafted names: copies of the form, which puts crops (files named after the document) in the output
    "%2e%2e%2f%2e%2e%2fescape.jpg": ("read", FORM),  # URL-encoded ../../
    "a..%2f..%2fescape.jpg": ("read", FORM),
    "x..y..jpg": ("read", FORM),
    "-rf ~.jpg": ("read", FORM),
    "~root.jpg": ("read", FORM),
    "~/form.jpg": ("read", FORM),
    "\u2215etc\u2215passwd.jpg": ("read", FORM),  # DIVISION SLASH: looks like an absolute path
    "a..\uff0f..\uff0fwide.jpg": ("read", FORM),  # FULLWIDTH SOLIDUS
    "a..\\..\\back.jpg": ("read", FORM),
    "sub/a:..:..:colon.jpg": ("read", FORM),
}
MULTIPAGE = "cheque-multipage.tif"  # page 1: the cheque; page 2: damaged


def _copy_distinct(src: Path, dst: Path) -> None:
    """The JPEG ``src`` with its new name written after its end-of-image marker, where decoders do not look:
    the same pixels in another file (byte-identical copies are the same scan sent twice, test_batch)."""
    dst.write_bytes(src.read_bytes() + dst.name.encode())


def _build_corpus(folder: Path, outside: Path) -> None:
    folder.mkdir(parents=True)
    shutil.copy(SAMPLES / "batch.yaml", folder / "batch.yaml")
    for name in (CHEQUE, FORM):
        shutil.copy(SAMPLES / name, folder / name)
    cheque = Image.open(SAMPLES / CHEQUE)
    cheque.load()
    gray = np.asarray(cheque.convert("L"))
    png = folder / "truncated.png"
    cheque.save(png)
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])
    (folder / "truncated.jpg").write_bytes((SAMPLES / CHEQUE).read_bytes()[: (SAMPLES / CHEQUE).stat().st_size // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "random-bytes.jpg").write_bytes(np.random.default_rng(3).integers(0, 256, 6000, np.uint8).tobytes())
    (folder / "notes-named.tif").write_text("Totals for Monday: 12 cheques, 3 forms.\n" * 20)
    (folder / "bomb.png").write_bytes(_png_bomb(40000, 40000))
    (folder / "bomb.tif").write_bytes(_tiff_bomb(12000, 12000))
    Image.fromarray(np.full((5, 5), 128, np.uint8)).save(folder / "tiny.png")
    tifffile.imwrite(folder / "cheque-16bit.tif", gray.astype(np.uint16) * 257)
    cheque.convert("CMYK").save(folder / "cheque-cmyk.jpg", quality=95)
    pal = cheque.convert("RGB").quantize(colors=64)
    pal.info["transparency"] = 0  # palette entry 0 is transparent: composited onto white paper
    pal.save(folder / "cheque-palette-alpha.png", transparency=0)
    _copy_distinct(SAMPLES / CHEQUE, folder / "cheque-été ünïcödé №1.jpg")
    Image.fromarray(np.full_like(gray, 255)).save(folder / "blank.png")
    Image.fromarray(gray[::-1, ::-1].copy()).save(folder / "cheque-upside-down.png")
    Image.open(SAMPLES / FORM).rotate(180).save(folder / "form-upside-down.png")
    # A two-page TIFF: page 1 the cheque, page 2 with its compressed strip zeroed.
    pages = [Image.fromarray(gray), Image.fromarray(gray[: gray.shape[0] // 2])]
    pages[0].save(folder / MULTIPAGE, save_all=True, append_images=pages[1:], compression="tiff_deflate")
    data = bytearray((folder / MULTIPAGE).read_bytes())
    with tifffile.TiffFile(folder / MULTIPAGE) as tf:
        off, n = tf.pages[1].dataoffsets[0], tf.pages[1].databytecounts[0]
    data[off : off + n] = b"\x00" * n
    (folder / MULTIPAGE).write_bytes(bytes(data))
    for name, (_, like) in EXPECTED.items():
        if like == FORM:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            _copy_distinct(SAMPLES / FORM, folder / name)
    # A link to a readable scan outside the folder: following it would read (and leak) that file.
    outside.mkdir(parents=True)
    shutil.copy(SAMPLES / CHEQUE, outside / "secret.jpg")
    os.symlink(outside / "secret.jpg", folder / "link-out.png")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The corpus batch and the good-only batch, both run once; the input folders are both named
    ``batch`` so the ``batch`` column is the same."""
    global _OPENED
    root = tmp_path_factory.mktemp("bad-input")
    corpus, outside = root / "corpus" / "batch", root / "outside"
    _build_corpus(corpus, outside)
    good = root / "good" / "batch"
    good.mkdir(parents=True)
    for name in (CHEQUE, FORM, "batch.yaml"):
        shutil.copy(corpus / name, good / name)
    work = root / "work"
    (work / "cwd").mkdir(parents=True)
    before_inputs = _tree_digest(corpus)
    before_root = _listing(root)
    decoded: list[str] = []
    load, tiff_load = ImageFile.ImageFile.load, TiffImagePlugin.TiffImageFile.load

    def spy(original):
        def wrapped(self, *a, **kw):
            decoded.append(os.fsdecode(getattr(self, "filename", "") or ""))
            return original(self, *a, **kw)
        return wrapped

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImageFile.ImageFile, "load", spy(load))
        mp.setattr(TiffImagePlugin.TiffImageFile, "load", spy(tiff_load))
        mp.chdir(work / "cwd")  # a relative path anywhere would land here
        _OPENED = []
        try:
            run_batch(BatchConfig(input_dir=corpus, out_dir=work / "out", device="cpu"), progress=False)
            opened = list(_OPENED)
        finally:
            _OPENED = None
    rss_growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    run_batch(BatchConfig(input_dir=good, out_dir=work / "good-out", device="cpu"), progress=False)
    return {"root": root, "corpus": corpus, "outside": outside, "out": work / "out", "good_out": work / "good-out",
            "before_inputs": before_inputs, "before_root": before_root, "decoded": decoded, "opened": opened,
            "rss_growth_kb": rss_growth_kb, "cwd": work / "cwd",
            "tables": {n: read_csv(work / "out" / f"{n}.csv") for n in ("results", "digits", "review", "errors")},
            "good": {n: read_csv(work / "good-out" / f"{n}.csv") for n in ("results", "digits", "review", "errors")}}


def _doc_id(runs, name: str) -> str:
    import json

    manifest = json.loads((runs["out"] / "manifest.json").read_text())
    ids = [d["id"] for d in manifest["documents"] if d["file"] == name]
    assert len(ids) == 1, (name, [d["file"] for d in manifest["documents"]])
    return ids[0]


def test_every_document_has_exactly_one_outcome(runs):
    import json

    res, err = runs["tables"]["results"], runs["tables"]["errors"]
    manifest = json.loads((runs["out"] / "manifest.json").read_text())
    files = sorted(d["file"] for d in manifest["documents"])
    assert files == sorted([*EXPECTED, CHEQUE, FORM, MULTIPAGE])  # nothing dropped, nothing invented
    for doc in manifest["documents"]:
        in_res = res[res["document"] == doc["id"]]
        in_err = err[err["document"] == doc["id"]]
        pages_read = set(in_res["page"])
        pages_failed = list(in_err["page"])
        # Per page: result rows or one error row, never both, never two errors.
        assert not pages_read & set(pages_failed), doc
        assert len(pages_failed) == len(set(pages_failed)), doc
        assert pages_read or pages_failed, doc
        for reason in in_err["reason"]:
            assert reason and "\n" not in reason and "Traceback" not in reason


@pytest.mark.parametrize("name", [n for n, (k, _) in EXPECTED.items() if k == "error"])
def test_bad_file_is_one_error_row_with_a_reason(runs, name):
    res, err = runs["tables"]["results"], runs["tables"]["errors"]
    doc = _doc_id(runs, name)
    rows = err[err["document"] == doc]
    assert len(rows) == 1 and res[res["document"] == doc].empty
    reason = rows["reason"].iloc[0]
    for word in EXPECTED[name][1]:
        assert word in reason, (name, reason)
    assert "unexpected error" not in reason, reason  # a bug caught by the safety net, not a reason


def _values(table, doc_id):
    rows = table[table["document"] == doc_id]
    return sorted(zip(rows["page"], rows["field"], rows["value"], rows["status"], strict=True))


@pytest.mark.parametrize("name", [n for n, (k, _) in EXPECTED.items() if k == "read"])
def test_odd_but_valid_file_is_read(runs, name):
    res, err = runs["tables"]["results"], runs["tables"]["errors"]
    doc = _doc_id(runs, name)
    assert err[err["document"] == doc].empty
    rows = res[res["document"] == doc]
    assert len(rows) >= 2 and (rows["status"] != "error").all(), rows
    like = EXPECTED[name][1]
    if like is not None:  # the same pixels under another name or bit depth read the same
        assert [v[1:] for v in _values(res, doc)] == [v[1:] for v in _values(res, like)]


def test_multipage_tiff_keeps_the_good_page(runs):
    res, err = runs["tables"]["results"], runs["tables"]["errors"]
    doc = _doc_id(runs, MULTIPAGE)
    assert set(res[res["document"] == doc]["page"]) == {"1"}
    assert [v[1:] for v in _values(res, doc)] == [v[1:] for v in _values(res, CHEQUE)]
    rows = err[err["document"] == doc]
    assert list(rows["page"]) == ["2"] and "page 2" in rows["reason"].iloc[0]
    assert "damaged" in rows["reason"].iloc[0]


def test_a_blank_page_is_never_accepted(runs):
    """A blank page has nothing to read: an error row, or fields a person must check, never an accepted value."""
    res, err = runs["tables"]["results"], runs["tables"]["errors"]
    doc = _doc_id(runs, "blank.png")
    rows = res[res["document"] == doc]
    assert not (rows["status"] == "accepted").any(), rows
    if rows.empty:
        assert len(err[err["document"] == doc]) == 1


@pytest.mark.parametrize("name,like", [("cheque-upside-down.png", CHEQUE), ("form-upside-down.png", FORM)])
def test_an_upside_down_page_is_read_the_right_way_up(runs, name, like):
    """Read as scanned, an upside-down cheque's digits are not its digits (6 and 9 swap); turned the right
    way up (ocr.register.upright) it reads as the cheque does."""
    res = runs["tables"]["results"]
    assert [v[1:] for v in _values(res, _doc_id(runs, name))] == [v[1:] for v in _values(res, like)]


def test_good_documents_read_as_if_alone(runs):
    for table in ("results", "digits", "review"):
        mixed, alone = runs["tables"][table], runs["good"][table]
        mixed = mixed[mixed["document"].isin([CHEQUE, FORM])].reset_index(drop=True)
        assert len(alone) > 0 or table == "review"
        if table == "review":  # the queue is sorted across the batch: compare as sets of rows
            key = list(alone.columns)
            mixed, alone = mixed.sort_values(key).reset_index(drop=True), alone.sort_values(key).reset_index(drop=True)
        # Penalties may differ in the 7th digit: the forward pass batches them with other documents'
        # digits, and a batch of another size takes another BLAS path. Everything else is equal.
        floats = [c for c in ("penalty_best", "penalty_second", "confidence") if c in alone.columns]
        mixed, alone = (t.astype({c: float for c in floats}) for t in (mixed, alone))
        pd.testing.assert_frame_equal(mixed, alone, check_exact=False, rtol=1e-5, obj=table)
    for doc in (CHEQUE, FORM):
        crops = runs["good_out"] / "crops" / doc
        for p in crops.rglob("*.png"):
            assert (runs["out"] / "crops" / doc / p.relative_to(crops)).read_bytes() == p.read_bytes()


def test_pixel_limit_refuses_bombs_without_decoding(runs):
    decoded = {Path(p).name for p in runs["decoded"]}
    assert "bomb.png" not in decoded and "bomb.tif" not in decoded
    assert CHEQUE in decoded  # the spy does see decoding
    # 40000 x 40000 8-bit pixels would be 1.6 GB; the whole batch stayed far below.
    assert runs["rss_growth_kb"] < 400_000


def test_link_out_of_the_folder_is_never_read(runs):
    secret = str((runs["outside"] / "secret.jpg").resolve())
    link = str(runs["corpus"] / "link-out.png")
    opened = {str(Path(p).resolve()) if os.path.isabs(p) else p for p in runs["opened"]}
    assert secret not in opened and link not in runs["opened"]
    assert any(p.endswith(CHEQUE) for p in runs["opened"])  # the hook does see the scans being read


def test_inputs_unchanged_and_nothing_written_outside_the_output(runs):
    root = runs["root"]
    assert _tree_digest(runs["corpus"]) == runs["before_inputs"]
    new = _listing(root) - runs["before_root"]
    outside_out = [p for p in new if not (p.startswith("work/out") or p.startswith("work/good-out"))]
    assert outside_out == []
    assert list(runs["cwd"].iterdir()) == []
    out = runs["out"].resolve()
    for p in runs["out"].rglob("*"):
        assert p.resolve().is_relative_to(out) and not p.is_symlink(), p
    # Crop folders are named by sanitised ids: one path component of safe characters each.
    for d in (runs["out"] / "crops").iterdir():
        assert d.name.isascii() and not d.name.startswith((".", "-", "~")) and "/" not in d.name, d.name
    res = runs["tables"]["results"]
    for doc in set(res["document"]) | set(runs["tables"]["errors"]["document"]):
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", doc), doc

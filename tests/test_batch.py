"""The batch contract: four CSVs with fixed headers, one row per document field, nothing dropped,
errors as rows, resume, multi-page TIFF, and no way for a file name to write outside the output folder."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage
from PIL import Image

from ocr.batch import BatchConfig, discover, merge_outputs, plan_chunks, process_chunk, run_batch, safe_name
from ocr.errors import OCRError
from ocr.handwriting import DigitPool
from ocr.report import DIGITS_COLUMNS, ERRORS_COLUMNS, RESULTS_COLUMNS, REVIEW_COLUMNS, read_csv
from ocr.synth import make_document


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Three small synthetic scans (two cheques, one form) as uint8 arrays."""
    pool = DigitPool()
    rng = np.random.default_rng(11)
    return [make_document(k, rng, pool, f"d{i}", dpi=120, max_skew=5).image
            for i, k in enumerate(("cheque", "form", "cheque"))]


def _batch(folder: Path, scans) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scans[0]).save(folder / "a cheque.png")
    Image.fromarray(scans[1]).save(folder / "=form.jpg", quality=90)  # a name a spreadsheet would run
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    (folder / ".hidden.png").write_bytes(b"junk")
    (folder / "notes.txt").write_text("not a scan")
    return folder


def _config(tmp_path, inp, **kw):
    return BatchConfig(input_dir=inp, out_dir=tmp_path / "out", device="cpu", chunk_size=2, **kw)


def test_csv_contract_nothing_dropped(tmp_path, scans, classifier):
    inp = _batch(tmp_path / "in", scans)
    summary = run_batch(_config(tmp_path, inp), progress=False)
    out = tmp_path / "out"
    res, dig, rev, err = (read_csv(out / f"{n}.csv") for n in ("results", "digits", "review", "errors"))
    assert list(res.columns) == RESULTS_COLUMNS and list(dig.columns) == DIGITS_COLUMNS
    assert list(rev.columns) == REVIEW_COLUMNS and list(err.columns) == ERRORS_COLUMNS
    # One row per field of each readable document (cheque: 2 fields, form: 3), the broken file in errors.
    assert sorted(res.groupby("document").size().items()) == [("a_cheque.png", 2), ("form.jpg", 3)]
    assert list(err["document"]) == ["broken.png"] and "broken.png" in err["reason"][0]
    assert {"a_cheque.png", "form.jpg", "broken.png"} == set(res["document"]) | set(err["document"])
    assert summary.documents == 3 and summary.fields == 5 and summary.errors == 1 and summary.pages == 2
    assert summary.accepted + summary.review == 5
    assert set(res["status"]) <= {"accepted", "review", "error"}
    # Every digit row points at a field of results.csv and lies on its page.
    keys = set(zip(res["document"], res["field"], strict=True))
    assert set(zip(dig["document"], dig["field"], strict=True)) <= keys
    assert (dig[["x0", "y0"]].astype(int) >= 0).all().all()
    # The review queue: lowest confidence first, empty corrected_value, crops that exist.
    conf = rev["confidence"].astype(float).tolist()
    assert conf == sorted(conf)
    assert (rev["corrected_value"] == "").all()
    for path in rev["field_crop"]:
        assert (out / path).is_file()
    for paths in rev["digit_crops"]:
        for p in filter(None, paths.split(";")):
            assert (out / p).is_file()
    # Fields that need a person are all in the review queue.
    need = res[res["status"] != "accepted"]
    fields_in_review = set(zip(rev[rev["kind"] == "field"]["document"], rev[rev["kind"] == "field"]["field"],
                               strict=True))
    assert set(zip(need["document"], need["field"], strict=True)) == fields_in_review
    # The file name "=form.jpg" never reaches a cell as a formula.
    assert sorted(res["file"].unique()) == ["'=form.jpg", "a cheque.png"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {d["id"] for d in manifest["documents"]} == {"a_cheque.png", "form.jpg", "broken.png"}
    assert len(manifest["weights_sha256"]) == 64
    # ... and the versions of the libraries that decide what is read, to tell an upgrade's effect from a fault.
    assert manifest["versions"]["opencv"] == cv2.__version__
    assert manifest["versions"]["scikit-image"] == skimage.__version__
    assert {"torch", "numpy", "scipy", "pillow"} <= set(manifest["versions"])


def test_multipage_tiff_gives_rows_per_page(tmp_path, scans, classifier):
    inp = tmp_path / "in"
    inp.mkdir()
    frames = [Image.fromarray(scans[0]), Image.fromarray(scans[2])]
    frames[0].save(inp / "two.tif", save_all=True, append_images=frames[1:])
    run_batch(_config(tmp_path, inp), progress=False)
    res = read_csv(tmp_path / "out" / "results.csv")
    assert sorted(zip(res["page"], res["field"], strict=True)) == [("1", "amount"), ("1", "date"),
                                                                    ("2", "amount"), ("2", "date")]


def test_pages_fed_upside_down_or_sideways_read_as_fed_the_right_way(tmp_path, scans, classifier):
    """The same cheque and form scanned the right way up, upside down and (the form) sideways, matched
    by shape: every copy gives the same values, and its digits' boxes are where the digits are in
    that scan."""
    inp = tmp_path / "in"
    inp.mkdir()
    cheque, form = scans[0], scans[1]
    copies = {"cheque.png": cheque, "cheque-down.png": cheque[::-1, ::-1], "form.png": form,
              "form-down.png": form[::-1, ::-1], "form-side.png": np.rot90(form)}
    for name, image in copies.items():
        Image.fromarray(np.ascontiguousarray(image)).save(inp / name)
    run_batch(_config(tmp_path, inp), progress=False)
    res = read_csv(tmp_path / "out" / "results.csv")
    assert len(read_csv(tmp_path / "out" / "errors.csv")) == 0
    read = {d: dict(zip(g["field"], zip(g["value"], g["status"], strict=True), strict=True))
            for d, g in res.groupby("document")}
    assert read["cheque-down.png"] == read["cheque.png"] and set(read["cheque.png"]) == {"date", "amount"}
    assert read["form-down.png"] == read["form.png"] == read["form-side.png"]
    assert set(read["form.png"]) == {"zip", "date", "amount"}
    dig = read_csv(tmp_path / "out" / "digits.csv")
    box = {d: g[["x0", "y0", "x1", "y1"]].astype(int).to_numpy() for d, g in dig.groupby("document")}
    H, W = cheque.shape
    mirrored = np.stack([W - box["cheque.png"][:, 2], H - box["cheque.png"][:, 3],
                         W - box["cheque.png"][:, 0], H - box["cheque.png"][:, 1]], axis=1)
    assert np.abs(box["cheque-down.png"] - mirrored).max() <= 4
    # Sideways (turned a quarter counter-clockwise): a digit at (x, y) of the form is at (y, W - x) of the scan.
    H, W = form.shape
    f = box["form.png"]
    turned = np.stack([f[:, 1], W - f[:, 2], f[:, 3], W - f[:, 0]], axis=1)
    assert np.abs(box["form-side.png"] - turned).max() <= 4
    # The manifest names every page that was turned, and by how much (clockwise), also when a run again
    # reuses every finished chunk.
    for _ in range(2):
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert sorted((t["document"], t["page"], t["degrees"]) for t in manifest["turned_pages"]) == [
            ("cheque-down.png", 1, 180), ("form-down.png", 1, 180), ("form-side.png", 1, 90)]
        assert run_batch(_config(tmp_path, inp), progress=False).chunks_reused == 3


def test_a_file_sent_twice_is_never_accepted_twice(tmp_path, scans, classifier):
    """The very same bytes twice in a batch (a scan copied into two folders, a file sent again): the first
    copy is read as it would be alone; every field of the later one goes to review saying which file it
    repeats, with the same values to compare; the manifest lists it. A file that differs by one byte is
    read as usual."""
    inp = tmp_path / "in"
    (inp / "night2").mkdir(parents=True)
    Image.fromarray(scans[0]).save(inp / "a.png")
    Image.fromarray(scans[1]).save(inp / "form.png")
    alone = run_batch(_config(tmp_path, inp), progress=False)
    res_alone = read_csv(tmp_path / "out" / "results.csv")
    assert alone.accepted > 0  # else "never accepted" below would prove nothing
    shutil.copyfile(inp / "a.png", inp / "night2" / "a.png")
    shutil.copyfile(inp / "form.png", inp / "night2" / "form again.png")
    changed = (inp / "a.png").read_bytes()
    (inp / "b.png").write_bytes(changed + b"\0")  # one byte more after the PNG: another file, same picture
    for _ in range(2):  # and again, reusing every finished chunk
        run_batch(_config(tmp_path, inp), progress=False)
        out = tmp_path / "out"
        res = read_csv(out / "results.csv")
        first = res[res["document"].isin(["a.png", "form.png"])].reset_index(drop=True)
        cols = ["document", "field", "value", "status", "reason"]
        assert first[cols].equals(res_alone[cols])
        for copy, original in (("night2__a.png", "a.png"), ("night2__form_again.png", "form.png")):
            rows = res[res["document"] == copy].reset_index(drop=True)
            orig = res[res["document"] == original].reset_index(drop=True)
            assert len(rows) == len(orig) > 0
            assert list(rows["value"]) == list(orig["value"])
            assert set(rows["status"]) == {"review"}
            said = f"sent twice: identical bytes to {original}"
            assert all(r.startswith(said) for r in rows["reason"])
            review = read_csv(out / "review.csv")
            assert set(review[review["kind"] == "field"].query("document == @copy")["field"]) == set(rows["field"])
        b = res[res["document"] == "b.png"].reset_index(drop=True)
        a = res[res["document"] == "a.png"].reset_index(drop=True)
        assert list(b["status"]) == list(a["status"]) and not b["reason"].str.contains("same file").any()
        assert "sent twice" in (out / "review.html").read_text()  # a filter of the auditors' page
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["same_files"] == [
            {"document": "night2__a.png", "file": "night2/a.png", "same_as": "a.png"},
            {"document": "night2__form_again.png", "file": "night2/form again.png", "same_as": "form.png"}]


def test_the_ledger_remembers_what_earlier_batches_read(tmp_path, scans, classifier):
    """Night 1 reads a cheque; on night 2 the same file arrives again beside a new one: with the ledger, its
    fields go to review naming night 1, the new one reads as usual. Running night 1 again into its own folder
    is not sending it again, and leaves one row per file in the ledger. A ledger that is not one is a clear
    error before any work."""
    ledger = tmp_path / "ledger.csv"
    night1, night2 = tmp_path / "in1", tmp_path / "in2"
    night1.mkdir()
    night2.mkdir()
    Image.fromarray(scans[0]).save(night1 / "c1.png")
    shutil.copyfile(night1 / "c1.png", night2 / "again.png")
    Image.fromarray(scans[2]).save(night2 / "c2.png")

    def night(inp, out):
        cfg = BatchConfig(input_dir=inp, out_dir=tmp_path / out, device="cpu", ledger=ledger)
        run_batch(cfg, progress=False)
        return read_csv(tmp_path / out / "results.csv")

    first = night(night1, "out1")
    assert first["status"].eq("accepted").any()  # else "never accepted again" would prove nothing
    assert not first["reason"].str.contains("sent twice").any()
    second = night(night2, "out2")
    again = second[second["document"] == "again.png"]
    assert list(again["value"]) == list(first["value"]) and set(again["status"]) == {"review"}
    said = f"sent twice: identical bytes to c1.png of batch in1 (read {date.today().isoformat()} into"
    assert all(r.startswith(said) and str((tmp_path / "out1").resolve()) in r for r in again["reason"])
    assert not second[second["document"] == "c2.png"]["reason"].str.contains("sent twice").any()
    manifest = json.loads((tmp_path / "out2" / "manifest.json").read_text())
    assert [d["file"] for d in manifest["same_files"]] == ["again.png"] and manifest["ledger"] == str(ledger.resolve())
    # Night 1 again, into its own folder: read as the first time.
    cols = ["document", "field", "value", "status", "reason"]
    assert night(night1, "out1")[cols].equals(first[cols])
    table = read_csv(ledger)
    assert list(table.columns) == ["sha256", "file", "batch", "output", "read_at"]
    assert sorted(zip(table["file"], table["batch"], strict=True)) == [
        ("again.png", "in2"), ("c1.png", "in1"), ("c2.png", "in2")]
    # Without the ledger, night 2 knows nothing of night 1.
    run_batch(BatchConfig(input_dir=night2, out_dir=tmp_path / "out3", device="cpu"), progress=False)
    assert not read_csv(tmp_path / "out3" / "results.csv")["reason"].str.contains("sent twice").any()
    assert json.loads((tmp_path / "out3" / "manifest.json").read_text())["ledger"] is None
    # A run into the wrong folder, forgotten: the file read there is new again (`ocr ledger forget`).
    from ocr.cli import main

    assert main(["ledger", "forget", str(tmp_path / "out1"), "--ledger", str(ledger)]) == 0
    assert sorted(read_csv(ledger)["file"]) == ["again.png", "c2.png"]
    assert not night(night2, "out2")["reason"].str.contains("sent twice").any()
    assert main(["ledger", "forget", str(tmp_path / "out1"), "--ledger", str(tmp_path / "none.csv")]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("hash,name\n1,2\n")
    with pytest.raises(OCRError, match=r"ledger .*bad.csv lacks the column\(s\) sha256, file"):
        run_batch(BatchConfig(input_dir=night2, out_dir=tmp_path / "out4", device="cpu", ledger=bad), progress=False)


def test_resume_identical_and_redoes_only_missing_part(tmp_path, scans, classifier):
    inp = _batch(tmp_path / "in", scans)
    Image.fromarray(scans[2]).save(inp / "z.png")
    cfg = _config(tmp_path, inp)
    run_batch(cfg, progress=False)
    out = tmp_path / "out"
    first = {n: (out / f"{n}.csv").read_bytes() for n in ("results", "digits", "review", "errors")}
    docs = discover(inp, exclude=[out])
    chunks = plan_chunks(docs, cfg.chunk_size, cfg)
    assert len(chunks) == 2
    shutil.rmtree(out / ".parts" / chunks[1].key)
    outputs = [process_chunk(c, cfg, classifier) for c in chunks]
    assert [o.reused for o in outputs] == [True, False]
    merge_outputs(cfg, outputs)
    assert {n: (out / f"{n}.csv").read_bytes() for n in first} == first
    again = run_batch(cfg, progress=False)
    assert again.chunks_reused == 2
    assert {n: (out / f"{n}.csv").read_bytes() for n in first} == first


def test_crafted_names_stay_inside_output(tmp_path, scans, classifier):
    inp = tmp_path / "in"
    (inp / "sub").mkdir(parents=True)
    Image.fromarray(scans[0]).save(inp / "sub" / "..%2f..%2fevil.png")
    Image.fromarray(scans[0]).save(inp / "-rf ..png")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    os.symlink(outside / "secret.png", inp / "link.png")
    cfg = _config(tmp_path, inp)
    run_batch(cfg, progress=False)
    out = (tmp_path / "out").resolve()
    for p in tmp_path.rglob("*"):
        if p.is_file() and not p.is_relative_to(inp) and p.parent != outside:
            assert p.resolve().is_relative_to(out), p
    err = read_csv(out / "errors.csv")
    assert "outside the input folder" in err[err["file"] == "link.png"]["reason"].iloc[0]
    for name in ("../../etc/passwd", "/abs/path.png", "..", ".", "a/../../b", "C:\\x\\y.png"):
        s = safe_name(name)
        assert "/" not in s and "\\" not in s and s not in ("", ".", "..") and not s.startswith(".")


def test_formula_cells_are_neutralised():
    from ocr.report import frame, safe_cell

    assert [safe_cell(v) for v in ("=1+1", "+x", "-2", "@a", "\tx", "\rx", "ok", "1,2")] == \
        ["'=1+1", "'+x", "'-2", "'@a", "'\tx", "'\rx", "ok", "1,2"]
    assert safe_cell(-2.5) == -2.5  # numbers are data
    df = frame([{"file": "=HYPERLINK(\"http://x\")", "page": 1}], ["file", "page"])
    assert df["file"][0].startswith("'=")


def test_batch_command_local_runner(tmp_path, scans, classifier, capsys):
    from ocr.cli import main
    from ocr.cli.batch import resolve_runner
    from ocr.errors import OCRError

    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(scans[1]).save(inp / "f.png")
    assert main(["batch", str(inp), "--out", str(tmp_path / "out"), "--runner", "local", "--quiet",
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "documents" in printed and "pages/s" in printed
    assert len(read_csv(tmp_path / "out" / "results.csv")) == 3
    assert main(["batch", str(inp), "--out", str(tmp_path / "o2"), "--template", "nope", "--runner", "local"]) == 2
    with pytest.raises(OCRError, match="no runner named"):
        resolve_runner("nope")


def test_chunk_fields_are_classified_in_one_batch(tmp_path, scans, classifier):
    inp = tmp_path / "in"
    inp.mkdir()
    for i, s in enumerate(scans):
        Image.fromarray(s).save(inp / f"d{i}.png")
    cfg = BatchConfig(input_dir=inp, out_dir=tmp_path / "out", device="cpu", chunk_size=3)
    [chunk] = plan_chunks(discover(inp), 3, cfg)
    before = classifier.forward_passes
    calls = []
    read = classifier.read

    def counted(inputs, *a, **k):
        calls.append(len(inputs))
        return read(inputs, *a, **k)

    classifier.read = counted
    try:
        out = process_chunk(chunk, cfg, classifier)
    finally:
        del classifier.read
    assert out.fields == 7 and out.pages == 3
    # Every candidate of the chunk's 7 fields in one call, cut into full batches: not a pass per field or digit.
    [rows] = calls
    assert rows > 7
    assert classifier.forward_passes - before == -(-rows // classifier.batch_size)
    assert "penalties" not in classifier.__dict__  # the timing wrapper is taken off again


def test_comb_digit_count_must_match_cells():
    from ocr.assemble import assemble
    from ocr.records import DigitResult, FieldImage

    digits = [DigitResult(position=i, bbox=(i * 10, 0, i * 10 + 8, 10), label=1, penalties=np.arange(10.0),
                          confidence=0.99, accepted=True) for i in range(9)]

    def zip_in(cells: int):
        return assemble(FieldImage("zip", "zip", np.zeros((10, 90), np.uint8), cells=cells), digits)

    assert zip_in(5).status == "review" and zip_in(5).reason == "9 digits read in 5 printed cells"
    assert zip_in(9).status == "accepted" and zip_in(0).status == "accepted"
    # A date's own count says it first: not twice.
    date = assemble(FieldImage("date", "date", np.zeros((10, 90), np.uint8), cells=8), digits)
    assert date.reason == "wrong digit count (9, date needs 8: DDMMYYYY)"


def test_outputs_are_readable_by_others_not_owner_only(tmp_path):
    """Auditors open the CSVs from a shared drive: outputs get ordinary 0644 permissions."""
    import stat

    src = Path(__file__).resolve().parent.parent / "data" / "samples"
    inp = tmp_path / "in"
    inp.mkdir()
    shutil.copy(src / "cheque-7-0000.jpg", inp / "a.jpg")
    out = tmp_path / "out"
    run_batch(BatchConfig(input_dir=inp, out_dir=out, template="cheque-sample"), progress=False)
    for name in ("results.csv", "digits.csv", "review.csv", "errors.csv", "manifest.json", "review.html"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name


def test_a_per_type_field_error_reaches_the_batch_and_its_manifest(tmp_path, scans, classifier):
    """'amount=0.002,zip=0': the batch's amounts use the 0.2% thresholds, its zips the digit
    threshold alone, its dates the default; the manifest records what was asked. A typo stops the
    batch before any work, naming what is wrong."""
    from ocr.batch import get_classifier

    inp = _batch(tmp_path / "in", scans)
    config = _config(tmp_path, inp, field_error="amount=0.002,zip=0")
    table = get_classifier(config).info["calibration"]["fields"]["thresholds"]
    thresholds = get_classifier(config).field_thresholds
    assert "zip" not in thresholds and thresholds["amount"]["score"] == table["amount"]["0.002"]["score"]
    assert thresholds["date"]["score"] == table["date"]["0.01"]["score"]
    summary = run_batch(config, progress=False)
    assert summary.documents == 3
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["settings"]["field_error"] == "amount=0.002,zip=0"
    with pytest.raises(OCRError, match="unknown field type 'amout'"):
        _config(tmp_path, inp, field_error="amout=0.002")


# What the memory tests' fresh interpreters measure with: this process's resident memory in MiB.
RSS_MIB = '''def rss_mib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
'''


def test_large_arrays_keep_pages_of_their_own_after_a_large_one_was_freed():
    """glibc raises its mmap threshold to the size of each large block freed, so a chunk's page images and
    masks would land in the heap among small arrays still held, and stay there after the chunk. With
    steady_malloc (called by every chunk) they get pages of their own and are handed back when freed.
    Each variant runs in a fresh interpreter: the threshold is process-wide."""
    import subprocess
    import sys

    from ocr.batch import _malloc_trim

    if _malloc_trim() is None:
        pytest.skip("no glibc here")
    code = """
import sys
import numpy as np
from ocr.batch import steady_malloc

{rss}
print(steady_malloc() if sys.argv[1] == "steady" else False)
big = np.ones(16 << 20, np.uint8)  # mmapped; freeing it raises glibc's sliding threshold to 16 MiB
del big
held, freed = [], []
# 6 MiB arrays, each followed by a 1 MiB one still held (too large for a hole the imports left: it lands after it)
for i in range(40):
    freed.append(np.ones(6 << 20, np.uint8))
    held.append(np.ones((1 << 20) + 4096 * i, np.uint8))
before = rss_mib()
freed.clear()
print(before - rss_mib())
""".replace("{rss}", RSS_MIB)
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    handed_back = {}
    for how in ("sliding", "steady"):
        out = subprocess.run([sys.executable, "-c", code, how], capture_output=True, text=True, check=True, env=env)
        was_set, mib = out.stdout.split()
        assert was_set == str(how == "steady")
        handed_back[how] = float(mib)
    assert handed_back["steady"] > 200  # the 240 MiB freed went back at once
    assert handed_back["sliding"] < 100  # without it they stayed in the heap


def test_the_memory_a_chunk_freed_is_handed_back_to_the_system():
    """Arrays freed among arrays still held leave holes glibc keeps for later; release_free_memory (called
    after every chunk) hands their pages back. Measured in a fresh interpreter: in this long-lived one the heap
    is laid out by every test before."""
    import subprocess
    import sys

    from ocr.batch import _malloc_trim

    if _malloc_trim() is None:
        pytest.skip("no glibc malloc_trim here")
    code = """
import numpy as np
from ocr.batch import release_free_memory

{rss}
held, freed = [], []
for _ in range(1500):  # 100 kB arrays come from the heap (under glibc's mmap threshold), each pinned by a 2 kB one
    freed.append(np.ones(100_000, np.uint8))
    held.append(np.ones(2048, np.uint8))
before = rss_mib()
freed.clear()
kept = rss_mib()
release_free_memory()
print(before, kept, rss_mib())
""".replace("{rss}", RSS_MIB)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, kept, after = map(float, out.stdout.split())
    assert kept > after + 100 and before - after > 100  # about 150 MB were freed, and given back only now

"""The corrections loop: audited review.csv -> final.csv and a training set that loads back."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ocr.corrections import FINAL_COLUMNS, ReviewSheetError, apply_review, load_digit_set, parse_value
from ocr.errors import OCRError
from ocr.report import DIGITS_COLUMNS, RESULTS_COLUMNS, REVIEW_COLUMNS, frame, write_csv
from tests.review_batch import copy_batch, input_folder, truth

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# --- a batch folder written in code (CSV only), for the rules ------------------------------------


def _digit(doc, field, pos, label, status="accepted", conf=0.999):
    return {"document": doc, "page": 1, "field": field, "position": pos, "x0": 10 * pos, "y0": 0,
            "x1": 10 * pos + 8, "y1": 12, "label": label, "penalty_best": 2.0, "penalty_second": 80.0,
            "confidence": conf, "status": status}


def _field(doc, field, ftype, value, status="review", conf=0.2, reason="low-confidence digit at position 1",
           file=None):
    return {"batch": "b", "document": doc, "file": file or doc, "page": 1, "template": "t", "field": field,
            "type": ftype, "value": value, "status": status, "confidence": conf, "reason": reason}


def _review(kind, doc, field, value, position="", corrected=""):
    return {"kind": kind, "document": doc, "page": 1, "field": field, "position": position, "value": value,
            "confidence": 0.2, "reason": "r", "field_crop": f"crops/{doc}/p1-{field}.png", "digit_crops": "",
            "corrected_value": corrected}


def _made_batch(out: Path) -> Path:
    """Four fields: a date read 19112026 (last digit doubtful), an amount 712.50 whose first digit is a
    speck, a zip 4102 (a digit missed), and an accepted amount 300."""
    results = [_field("a.png", "date", "date", "19112026"), _field("a.png", "amount", "amount", "712.50"),
               _field("b.png", "zip", "zip", "4102", reason="wrong digit count (4, zip needs 5 or 9)"),
               _field("b.png", "amount", "amount", "300", status="accepted", conf=0.999, reason="")]
    digits = [_digit("a.png", "date", i, int(c), "review" if i == 7 else "accepted") for i, c in enumerate("19112026")]
    digits += [_digit("a.png", "amount", i, int(c), "review" if i == 0 else "accepted") for i, c in enumerate("71250")]
    digits += [_digit("b.png", "zip", i, int(c)) for i, c in enumerate("4102")]
    digits += [_digit("b.png", "amount", i, int(c)) for i, c in enumerate("300")]
    review = [_review("field", "a.png", "date", "19112026"), _review("digit", "a.png", "date", "6", 7),
              _review("field", "a.png", "amount", "712.50"), _review("digit", "a.png", "amount", "7", 0),
              _review("field", "b.png", "zip", "4102")]
    out.mkdir(parents=True)
    write_csv(frame(results, RESULTS_COLUMNS), out / "results.csv")
    write_csv(frame(digits, DIGITS_COLUMNS), out / "digits.csv")
    write_csv(frame(review, REVIEW_COLUMNS), out / "review.csv")
    return out


def _fill(sheet: Path, corrections: dict[tuple, str], extra_rows: list[dict] = ()) -> Path:
    """Fill ``corrected_value`` of the rows keyed (kind, document, field, position) as a person would."""
    df = _read(sheet)
    for i, r in df.iterrows():
        key = (r["kind"], r["document"], r["field"], r["position"])
        if key in corrections:
            df.at[i, "corrected_value"] = corrections[key]
    df = pd.concat([df, pd.DataFrame(list(extra_rows), dtype=str)], ignore_index=True).fillna("")
    df.to_csv(sheet, index=False)
    return sheet


def test_digit_corrections_change_the_field_value(tmp_path):
    out = _made_batch(tmp_path / "out")
    _fill(out / "review.csv", {("digit", "a.png", "date", "7"): "4",
                               ("digit", "a.png", "amount", "0"): "not_a_digit",
                               ("field", "b.png", "zip", ""): "illegible"})
    when = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    result = apply_review(out / "review.csv", reviewer="Ana", now=when)
    final = _read(result.final_csv).set_index(["document", "field"])
    assert final.loc[("a.png", "date"), "value"] == "19112024"
    assert final.loc[("a.png", "date"), "original_value"] == "19112026"
    # The speck before the point is gone and the point moved with it.
    assert final.loc[("a.png", "amount"), "value"] == "12.50"
    assert list(final.loc[[("a.png", "date"), ("a.png", "amount")], "status"]) == ["corrected", "corrected"]
    assert final.loc[("b.png", "zip"), ["status", "value"]].tolist() == ["illegible", ""]
    assert final.loc[("b.png", "amount"), ["status", "value", "reviewer"]].tolist() == ["accepted", "300", ""]
    assert set(final.loc[final["status"] != "accepted", "reviewer"]) == {"Ana"}
    assert set(final.loc[final["status"] != "accepted", "reviewed_at"]) == {"2026-11-23T09:30:00Z"}
    assert list(_read(result.final_csv).columns) == FINAL_COLUMNS
    assert result.fields_corrected == 2 and result.fields_illegible == 1
    # No crops in this batch: nothing exported, and the page says why instead of failing.
    assert result.digits_exported == 0 and len(result.not_exported) == 2
    x, y = load_digit_set(out / "corrections")
    assert x.shape == (0, 32, 32) and y.shape == (0,)


def test_a_field_already_read_is_marked_duplicate_and_never_used(tmp_path, capsys):
    """A scan sent twice (or a second scan of a cheque already paid): the person says 'duplicate' on its field
    rows; final.csv keeps what was read as the original value and no value, status duplicate. The word marks
    fields only, and not beside digit corrections."""
    from ocr.cli import main

    out = _made_batch(tmp_path / "out")
    _fill(out / "review.csv", {("field", "a.png", "date", ""): "Duplicate",
                               ("field", "a.png", "amount", ""): "duplicate"})
    assert main(["review", "apply", str(out / "review.csv"), "--reviewer", "Ana"]) == 0
    assert "2 duplicates" in capsys.readouterr().out
    final = _read(out / "final.csv").set_index(["document", "field"])
    assert final.loc[[("a.png", "date"), ("a.png", "amount")], ["status", "value", "original_value"]].values.tolist() \
        == [["duplicate", "", "19112026"], ["duplicate", "", "712.50"]]
    assert final.loc[("b.png", "zip"), "status"] == "review"  # untouched
    out2 = _made_batch(tmp_path / "out2")
    _fill(out2 / "review.csv", {("field", "a.png", "date", ""): "duplicate", ("digit", "a.png", "date", "7"): "4",
                                ("digit", "a.png", "amount", "0"): "duplicate"})
    with pytest.raises(ReviewSheetError) as info:
        apply_review(out2 / "review.csv")
    assert "'duplicate' marks a field row" in info.value.problems[0] and "row 5" in info.value.problems[0]
    assert "marked duplicate but row 3 correct" in info.value.problems[1]
    assert not (out2 / "final.csv").exists()


def test_a_bad_sheet_lists_every_bad_row_and_writes_nothing(tmp_path):
    out = _made_batch(tmp_path / "out")
    (out / "final.csv").write_text("old\n")
    bad = [_review("field", "nobody.png", "date", "1", corrected="01012020"),    # row 7: unknown document
           _review("digit", "a.png", "date", "1", position=12, corrected="3"),  # row 8: no such digit
           _review("field", "b.png", "amount", "300", corrected="12a"),         # row 9: not an amount
           _review("stamp", "a.png", "date", "", corrected="1")]                # row 10: unknown kind
    _fill(out / "review.csv", {("field", "a.png", "date", ""): "31022023",       # row 2: no 31 February
                               ("digit", "a.png", "date", "7"): "12",            # row 3: not one digit
                               ("field", "a.png", "amount", ""): "not_a_digit",  # row 4: a digit mark on a field
                               ("digit", "a.png", "amount", "0"): "illegible",   # row 5: a field mark on a digit
                               ("field", "b.png", "zip", ""): "4102"},           # row 6: 4 digits
          extra_rows=bad)
    with pytest.raises(ReviewSheetError) as info:
        apply_review(out / "review.csv")
    problems = info.value.problems
    assert [int(p.split()[1]) for p in problems] == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "not a valid date" in problems[0]
    assert "not one digit" in problems[1]
    assert "'not_a_digit' marks a digit row" in problems[2]
    assert "'illegible' marks a field row" in problems[3]
    assert "zip needs 5 or 9" in problems[4]
    assert "unknown row" in problems[5] and "nobody.png" in problems[5]
    assert "no digit at position 12" in problems[6]
    assert "not an amount" in problems[7]
    assert "unknown kind 'stamp'" in problems[8]
    assert "nothing applied" in str(info.value)
    assert (out / "final.csv").read_text() == "old\n"
    assert not (out / "corrections").exists()


def test_contradicting_rows_are_refused(tmp_path):
    out = _made_batch(tmp_path / "out")
    _fill(out / "review.csv", {("field", "a.png", "date", ""): "19112025", ("digit", "a.png", "date", "7"): "4"})
    with pytest.raises(ReviewSheetError, match=r"row 2 .*corrected to '19112025' but the digit corrections "
                                               r"\(rows 3\) make it '19112024'"):
        apply_review(out / "review.csv")
    assert not (out / "final.csv").exists()


def test_the_cli_prints_one_line_per_bad_row(tmp_path, capsys):
    from ocr.cli import main

    out = _made_batch(tmp_path / "out")
    _fill(out / "review.csv", {("field", "a.png", "date", ""): "7082023", ("field", "b.png", "zip", ""): "=1+1"})
    assert main(["review", "apply", str(out / "review.csv")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "2 bad row(s); nothing was applied" in err[0]
    assert err[1].strip().startswith("row 2") and "dropped a leading zero" in err[1]
    assert err[2].strip().startswith("row 6") and "not a zip code" in err[2]
    assert not (out / "final.csv").exists()


def test_rows_match_after_a_spreadsheet_dropped_the_apostrophe(tmp_path):
    out = _made_batch(tmp_path / "out")
    # A file named "=cmd.png": the batch wrote "'=cmd.png"; a spreadsheet saves the cell back as "=cmd.png".
    results = _read(out / "results.csv")
    results.loc[results["document"] == "b.png", "document"] = "'=cmd.png"
    results.to_csv(out / "results.csv", index=False)
    digits = _read(out / "digits.csv")
    digits.loc[digits["document"] == "b.png", "document"] = "'=cmd.png"
    digits.to_csv(out / "digits.csv", index=False)
    sheet = _read(out / "review.csv")
    sheet.loc[sheet["document"] == "b.png", ["document", "corrected_value"]] = ["=cmd.png", "41020"]
    sheet.to_csv(out / "review.csv", index=False)
    result = apply_review(out / "review.csv", reviewer="=HYPERLINK(\"http://x\")")
    final = _read(result.final_csv)
    row = final[final["field"] == "zip"].iloc[0]
    assert (row["document"], row["value"], row["status"]) == ("'=cmd.png", "41020", "corrected")
    assert row["reviewer"].startswith("'=")


@pytest.mark.parametrize(("ftype", "text", "value"), [
    ("amount", "₹1,68,900/-", "168900"), ("amount", "1250.5", "1250.5"), ("amount", " 12.05 ", "12.05"),
    ("zip", "12345-6789", "12345-6789"), ("zip", "123456789", "12345-6789"), ("zip", "02134", "02134"),
    ("date", "07/08/2023", "07082023"), ("date", "7.8.2023", "07082023"), ("date", "29022024", "29022024"),
    ("digits", "0042", "0042"),
])
def test_values_are_read_as_people_type_them(ftype, text, value):
    assert parse_value(ftype, text)[0] == value


@pytest.mark.parametrize(("ftype", "text", "why"), [
    ("amount", "12.345", "decimal part"), ("amount", "12,3a", "not an amount"), ("amount", "", "not an amount"),
    ("zip", "1234", "zip needs 5 or 9"), ("date", "29022023", "not a valid date"), ("date", "2023-08-07", "not a"),
    ("digits", "12 b", "not a digit string"),
])
def test_values_that_do_not_fit_are_refused(ftype, text, why):
    with pytest.raises(ValueError, match=why):
        parse_value(ftype, text)


# --- the real thing: the sample batch ------------------------------------------------------------


def test_round_trip_sheet_final_csv_and_training_set(tmp_path_factory, tmp_path, classifier):
    out = copy_batch(tmp_path_factory, tmp_path / "out")
    true = truth(tmp_path_factory)
    results = _read(out / "results.csv")
    file_of = dict(zip(results["document"], results["file"], strict=False))
    sheet = _read(out / "review.csv")
    fields = sheet[sheet["kind"] == "field"]
    assert len(fields) > 0, "the sample batch should send some fields to review"
    corrections = {("field", r.document, r.field, ""): true[(file_of[r.document], r.field)]
                   for r in fields.itertuples()}
    result = apply_review(_fill(out / "review.csv", corrections), reviewer="tester")

    final = _read(result.final_csv)
    assert len(final) == len(results)  # every field of the batch, corrected or not
    touched = final[final["status"] == "corrected"]
    assert len(touched) == len(fields)
    for r in touched.itertuples():
        assert "".join(c for c in r.value if c.isdigit()) == true[(r.file, r.field)]
        assert r.reviewer == "tester"
    assert (final[final["status"] != "corrected"]["value"].tolist()
            == results.set_index(["document", "field"]).loc[
                list(zip(final[final["status"] != "corrected"]["document"],
                         final[final["status"] != "corrected"]["field"], strict=True)), "value"].tolist())

    # The training set: one label per segmented digit where the segmentation fits the true value.
    digits = _read(out / "digits.csv")
    n_digits = digits.groupby(["document", "field"]).size()
    fits = [(r.document, r.field) for r in fields.itertuples()
            if n_digits.get((r.document, r.field), 0) == len(true[(file_of[r.document], r.field)])]
    x, y = load_digit_set(out / "corrections")
    assert x.dtype == np.float32 and x.shape == (len(y), 32, 32) and y.dtype == np.uint8
    assert len(y) == result.digits_exported == sum(n_digits[k] for k in fits) > 0
    assert len(result.not_exported) == len(fields) - len(fits)
    index = _read(out / "corrections" / "digits.csv")
    expected = []
    for doc, fld in fits:
        expected += [int(c) for c in true[(file_of[doc], fld)]]
    got = {}
    for k, r in enumerate(index.itertuples()):
        got.setdefault((r.document, r.field), []).append(int(y[k]))
        assert int(r.label) == int(y[k])
    assert sorted(got) == sorted(fits)
    for doc, fld in fits:
        assert got[(doc, fld)] == [int(c) for c in true[(file_of[doc], fld)]]
    # The inputs are what the network saw: classifying them again gives the batch's own labels.
    predicted = index["predicted"].astype(int).to_numpy()
    assert np.array_equal(classifier.classify(x).labels, predicted)
    # The batch folder works as --extra too.
    assert np.array_equal(load_digit_set(out)[1], y)


@pytest.fixture(scope="module")
def formula_batch(tmp_path_factory) -> Path:
    """A batch whose folder and file names a spreadsheet would run, processed and applied (every field
    marked illegible, so the reviewer's name, also formula-like, is written too)."""
    from ocr.batch import BatchConfig, run_batch

    samples = sorted(p for p in input_folder(tmp_path_factory).iterdir() if p.suffix == ".jpg")[:2]
    root = tmp_path_factory.mktemp("formula")
    scans = root / "=SUM(1+1)"  # the batch folder's name goes into every results.csv row
    scans.mkdir()
    shutil.copy(samples[0], scans / "=HYPERLINK(\"evil\").jpg")
    shutil.copy(samples[1], scans / "@cmd.jpg")
    (scans / "+broken.png").write_bytes(b"not a png")  # -> an errors.csv row
    out = root / "out"
    run_batch(BatchConfig(scans, out, device="cpu"), progress=False)
    results = _read(out / "results.csv")
    assert len(results) > 0
    # An auditor may mark any field of the batch, not only those in review.
    sheet = pd.DataFrame({"kind": "field", "document": results["document"], "page": results["page"],
                          "field": results["field"], "position": "", "corrected_value": "illegible"})
    sheet.to_csv(out / "audited.csv", index=False)
    apply_review(out / "audited.csv", reviewer="-2+3")
    return out


def _assert_safe(path: Path) -> None:
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for cell in row:
                if cell.startswith(FORMULA):
                    try:
                        float(cell)  # only a number may start with '-' or '+'
                    except ValueError:
                        raise AssertionError(f"{path.name}: cell {cell!r} would run as a formula") from None


def test_every_csv_is_spreadsheet_safe(formula_batch):
    written = sorted(formula_batch.rglob("*.csv"))
    assert {p.relative_to(formula_batch).as_posix() for p in written} >= {
        "results.csv", "digits.csv", "review.csv", "errors.csv", "final.csv", "corrections/digits.csv"}
    for path in written:
        _assert_safe(path)
    final = _read(formula_batch / "final.csv")
    assert set(final["batch"]) == {"'=SUM(1+1)"}
    assert "'=HYPERLINK(\"evil\").jpg" in set(final["file"])
    assert set(final["status"]) == {"illegible"} and set(final["reviewer"]) == {"'-2+3"}


# --- the digit set and training with it ----------------------------------------------------------


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_load_digit_set_reads_files_and_folders_and_refuses_other_things(tmp_path):
    from ocr.normalize import normalize_many

    rng = np.random.default_rng(0)
    ink = (rng.random((5, 20, 14)) > 0.6).astype(np.uint8) * 255
    x = normalize_many(list(ink))
    folder = tmp_path / "sets"
    folder.mkdir()
    _npz(folder / "a.npz", inputs=x[:3], labels=np.array([1, 2, 3], np.uint8))
    _npz(folder / "b.npz", inputs=x[3:], labels=np.array([9, 0], np.int64))
    xs, ys = load_digit_set(folder)
    assert xs.dtype == np.float32 and np.array_equal(xs, x) and ys.tolist() == [1, 2, 3, 9, 0]
    assert load_digit_set(folder / "b.npz")[1].dtype == np.uint8

    bad = {"shape": dict(inputs=np.zeros((2, 28, 28), np.float32), labels=np.zeros(2, np.uint8)),
           "labels": dict(inputs=x[:2], labels=np.array([3, 10])),
           "count": dict(inputs=x[:2], labels=np.array([3])),
           "range": dict(inputs=x[:2] * 255, labels=np.array([3, 4])),
           "keys": dict(images=x[:2], labels=np.array([3, 4]))}
    messages = {"shape": r"\[N, 32, 32\]", "labels": "0-9", "count": "2 inputs but labels",
                "range": "not normalised", "keys": "needs arrays 'inputs' and 'labels'"}
    for name, arrays in bad.items():
        with pytest.raises(OCRError, match=messages[name]):
            load_digit_set(_npz(tmp_path / f"{name}.npz", **arrays))
    with pytest.raises(OCRError, match="not found"):
        load_digit_set(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(OCRError, match="no .npz file"):
        load_digit_set(tmp_path / "empty")


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_training_with_an_extra_set_records_it_in_the_model_card(tmp_path, mnist_test):
    from ocr.normalize import normalize_many
    from ocr.train import TrainConfig, train

    images, labels = mnist_test
    data = tmp_path / "mnist"
    data.mkdir()
    # A tiny stand-in for the training files (the test split's first digits: only the mechanics are tested).
    (data / "train-images-idx3-ubyte.gz").write_bytes(_idx(images[:200]))
    (data / "train-labels-idx1-ubyte.gz").write_bytes(_idx(labels[:200]))
    extra = tmp_path / "corrections"
    extra.mkdir()
    _npz(extra / "digits.npz", inputs=normalize_many(list(images[200:237])), labels=labels[200:237])
    cfg = TrainConfig(data_dir=str(data), out=str(tmp_path / "model" / "lenet5.pt"), epochs=1, limit=200,
                      extra=[str(extra)], device="cpu", checkpoint_dir=str(tmp_path / "ckpt"), distort=False)
    card = train(cfg, progress=False, log=lambda s: None)
    assert card["training"]["extra_sets"] == [{"path": str(extra), "n": 37}]
    written = json.loads((tmp_path / "model" / "lenet5.json").read_text())
    assert written["training"]["extra_sets"] == [{"path": str(extra), "n": 37}]
    assert f"{extra} (37 digits)" in (tmp_path / "model" / "README.md").read_text()


def test_the_apply_command_reports_what_it_wrote(tmp_path, capsys):
    from ocr.cli import main

    out = _made_batch(tmp_path / "out")
    sheet = _fill(out / "review.csv", {("field", "a.png", "date", ""): "19/11/2024"})
    copy = tmp_path / "elsewhere" / "audited.csv"  # a copy of the sheet kept outside the batch folder
    copy.parent.mkdir()
    shutil.copy(sheet, copy)
    assert main(["review", "apply", str(copy), "--batch", str(out), "--reviewer", "Ana"]) == 0
    printed = capsys.readouterr()
    assert "1 fields corrected" in printed.out and "0 labelled digits" in printed.out
    assert "not exported" in printed.err  # no crops in this batch, and it says so
    final = _read(out / "final.csv")
    assert final.loc[final["field"] == "date", ["value", "status", "reviewer"]].values.tolist() == [
        ["19112024", "corrected", "Ana"]]


def test_a_sheet_saved_by_a_spreadsheet_program_is_read(tmp_path):
    out = _made_batch(tmp_path / "out")
    sheet = _read(out / "review.csv")
    sheet.loc[(sheet["kind"] == "field") & (sheet["field"] == "zip"), "corrected_value"] = "41025"
    # Excel in a decimal-comma locale: semicolons, Windows-1252, CRLF; and Excel's "CSV UTF-8": a BOM.
    (out / "excel.csv").write_bytes(sheet.to_csv(index=False, sep=";", lineterminator="\r\n").encode("cp1252"))
    (out / "excel-utf8.csv").write_bytes(b"\xef\xbb\xbf" + sheet.to_csv(index=False).encode("utf-8"))
    for name in ("excel.csv", "excel-utf8.csv"):
        final = _read(apply_review(out / name).final_csv)
        assert final.loc[final["field"] == "zip", "value"].tolist() == ["41025"]

"""review.html and the plots: content, order, counts, and file names and values never taken as markup."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ocr.report import DIGITS_COLUMNS, RESULTS_COLUMNS, REVIEW_COLUMNS, frame, write_csv, write_png
from ocr.review import (
    HISTOGRAM_NAME,
    PER_DIGIT_NAME,
    batch_threshold,
    reason_kinds,
    review_counts_per_label,
    review_entries,
    write_review_outputs,
)
from tests.review_batch import copy_batch

EVIL_FILE = "<script>alert(1)</script>.png"
EVIL_VALUE = "<img src=x onerror=alert(2)>"
EVIL_REASON = "low-confidence digit at position 1; \"quoted\" & <b>bold</b>"


def made_batch(out: Path) -> Path:
    """A batch folder written in code: one field in review from a document named like markup, with a
    field crop and two digit crops, and one accepted field."""
    doc = "script_alert_1_script_.png"  # the id ocr.batch makes of that name
    results = [{"batch": "<i>night</i>", "document": doc, "file": EVIL_FILE, "page": 1, "template": "t",
                "field": "zip", "type": "zip", "value": EVIL_VALUE, "status": "review", "confidence": 0.25,
                "reason": EVIL_REASON},
               {"batch": "<i>night</i>", "document": doc, "file": EVIL_FILE, "page": 1, "template": "t",
                "field": "date", "type": "date", "value": "01012020", "status": "accepted", "confidence": 0.999,
                "reason": ""}]
    digits = [{"document": doc, "page": 1, "field": "zip", "position": k, "x0": 0, "y0": 0, "x1": 5, "y1": 9,
               "label": k + 4, "penalty_best": 3.25 + k, "penalty_second": 40.5, "confidence": 0.25 if k else 0.999,
               "status": "review" if k else "accepted"} for k in range(2)]
    crops = f"crops/{doc}"
    review = [{"kind": "field", "document": doc, "page": 1, "field": "zip", "position": "", "value": EVIL_VALUE,
               "confidence": 0.25, "reason": EVIL_REASON, "field_crop": f"{crops}/p1-zip.png",
               "digit_crops": f"{crops}/p1-zip-d0.png;../../../etc/passwd.png", "corrected_value": ""}]
    out.mkdir(parents=True)
    write_csv(frame(results, RESULTS_COLUMNS), out / "results.csv")
    write_csv(frame(digits, DIGITS_COLUMNS), out / "digits.csv")
    write_csv(frame(review, REVIEW_COLUMNS), out / "review.csv")
    write_csv(frame([], ["batch", "document", "file", "page", "reason"]), out / "errors.csv")
    field = np.full((40, 120), 255, np.uint8)
    field[10:30, 20:24] = 0
    write_png(out / crops / "p1-zip.png", field)
    write_png(out / crops / "p1-zip-d0.png", field[5:35, 15:30])
    return out


def test_names_and_values_show_as_text_never_as_markup(tmp_path):
    out = made_batch(tmp_path / "out")
    page = write_review_outputs(out)[-1].read_text(encoding="utf-8")
    for evil in (EVIL_FILE, EVIL_VALUE, "<b>bold</b>", "<i>night</i>"):
        assert evil not in page
        assert html.escape(evil) in page
    assert page.count("<script") == 1  # the page's own script, nothing else
    assert "onerror=alert" not in page.replace(html.escape(EVIL_VALUE), "")
    # A crop path that leaves the batch folder is not read into the page.
    assert "no crop" in page and page.count("data:image/png;base64,") == 2 + 2  # field + digit crop + 2 plots


def test_a_page_read_turned_says_so(tmp_path):
    """The crops of a page fed upside down stand upright; the sheet says how the scan itself lies."""
    out = made_batch(tmp_path / "out")
    page = write_review_outputs(out)[-1].read_text(encoding="utf-8")
    assert "read turned" not in page
    doc = "script_alert_1_script_.png"
    (out / "manifest.json").write_text(json.dumps({"turned_pages": [{"document": doc, "page": 1, "degrees": 180},
                                                                    {"document": "other", "page": 1, "degrees": 90}]}))
    page = write_review_outputs(out)[-1].read_text(encoding="utf-8")
    assert page.count("read turned 180° clockwise") == 1 and "90°" not in page


def test_the_page_lists_fields_lowest_confidence_first_with_every_crop(tmp_path_factory, tmp_path):
    out = copy_batch(tmp_path_factory, tmp_path / "out")
    paths = write_review_outputs(out)
    assert [p.name for p in paths] == [HISTOGRAM_NAME, PER_DIGIT_NAME, "review.html"]
    for p in paths[:2]:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width > 300 and np.asarray(im.convert("L")).std() > 5
    page = paths[2].read_text(encoding="utf-8")
    review = pd.read_csv(out / "review.csv", dtype=str, keep_default_na=False)
    digits = pd.read_csv(out / "digits.csv", dtype=str, keep_default_na=False)
    fields = review[review["kind"] == "field"]
    rows = re.findall(r'<tr class="entry"[^>]*data-confidence="([0-9.]+)"', page)
    assert len(rows) == len(fields) > 0
    assert [float(c) for c in rows] == sorted(float(c) for c in rows)
    # Every field crop and every digit of every field in review is embedded, and nothing else is missing.
    in_review = digits.merge(fields[["document", "page", "field"]], on=["document", "page", "field"])
    assert page.count("data:image/png;base64,") == len(fields) + len(in_review) + 2
    assert "no crop" not in page
    n_review_digits = int((in_review["status"] == "review").sum())
    assert f"<b>{len(fields)}</b> fields in review" in page
    assert f"<b>{n_review_digits}</b> digits in review" in page
    # The filters offer exactly the field types and reasons present.
    types = set(re.findall(r'<option value="([^"]*)">', page.split('id="f-type"')[1].split("</select>")[0]))
    assert types - {""} == set(e.type for e in review_entries(out))


def test_the_threshold_marked_is_the_batch_classifiers(tmp_path_factory, tmp_path, classifier):
    out = copy_batch(tmp_path_factory, tmp_path / "out")
    threshold, how = batch_threshold(out)
    assert threshold == pytest.approx(classifier.rejector.confidence_threshold)
    assert "calibrated" in how and "for 1.0% field error" in how
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["settings"]["field_error"] = "zip=0.02,amount=0.005"  # a per-type spec, as the batch records it
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert "for zip=0.02,amount=0.005 field error" in batch_threshold(out)[1]
    (out / "manifest.json").unlink()  # without it: estimated from the accepted digits
    estimate, how = batch_threshold(out)
    assert "estimated" in how and classifier.rejector.confidence_threshold <= estimate <= 1.0


def test_the_batch_csvs_are_read_in_pieces_and_the_outputs_are_the_same(tmp_path_factory, tmp_path, monkeypatch):
    """The batch CSVs are read piece by piece and the fields in review built a block at a time (memory flat as
    the batch grows): pieces of two rows and blocks of two fields give the same page, plots, entries and
    estimated threshold as one piece and one block."""
    import ocr.report
    import ocr.review

    out = copy_batch(tmp_path_factory, tmp_path / "out")
    (out / "manifest.json").unlink()  # the threshold estimated from digits.csv
    whole = {p.name: p.read_bytes() for p in write_review_outputs(out)}
    entries, threshold = review_entries(out), batch_threshold(out)
    assert len(pd.read_csv(out / "digits.csv")) > 10 and len(entries) > 1
    pieces = []
    real = ocr.report.read_csv_pieces

    def counted(path, columns=None, rows=None):
        for piece in real(path, columns, rows):
            pieces.append(len(piece))
            yield piece

    blocks = []
    build = ocr.review._build_entries

    def built(out_dir, keys):
        blocks.append(len(keys))
        return build(out_dir, keys)

    monkeypatch.setattr(ocr.report, "CSV_ROWS", 2)
    monkeypatch.setattr("ocr.review.read_csv_pieces", counted)
    monkeypatch.setattr(ocr.review, "ENTRY_BLOCK", 2)
    monkeypatch.setattr(ocr.review, "_build_entries", built)
    assert {p.name: p.read_bytes() for p in write_review_outputs(out)} == whole
    assert review_entries(out) == entries and batch_threshold(out) == threshold
    assert pieces and max(pieces) == 2
    # Every field in review was built in blocks of at most two, each twice for the page (count, then show).
    assert blocks and max(blocks) == 2 and sum(blocks) >= 2 * len(entries)


def test_review_counts_per_label():
    digits = pd.DataFrame({"label": ["3", "3", "3", "7", "0", "x"],
                           "status": ["review", "accepted", "review", "review", "accepted", "review"]})
    total, in_review = review_counts_per_label(digits)
    assert total.tolist() == [1, 0, 0, 3, 0, 0, 0, 1, 0, 0]
    assert in_review.tolist() == [0, 0, 0, 2, 0, 0, 0, 1, 0, 0]


def test_reason_kinds_group_reasons_for_the_filter():
    assert reason_kinds("low-confidence digit at positions 2, 8; wrong digit count (6, zip needs 5 or 9)") == [
        "low-confidence digit", "wrong digit count"]
    assert reason_kinds("segmentation doubt; segmentation doubt") == ["segmentation doubt"]
    assert reason_kinds("") == ["(no reason given)"]


def test_the_review_html_command(tmp_path, capsys):
    from ocr.cli import main

    out = made_batch(tmp_path / "out")
    assert main(["review", "html", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / HISTOGRAM_NAME), str(out / PER_DIGIT_NAME), str(out / "review.html")]
    assert main(["review", "html", str(tmp_path / "nowhere")]) == 2
    assert "not found" in capsys.readouterr().err

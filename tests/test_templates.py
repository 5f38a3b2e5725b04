"""Templates: the bundled ones load; a bad file fails with a message naming the file and the key."""

from __future__ import annotations

import pytest

from ocr.errors import OCRError
from ocr.templates import load_batch_rules, load_templates, parse_template, template_set

GOOD = """
kind: my-form
size_mm: [210, 297]
fields:
  - {name: zip, type: zip, box: [0.1, 0.1, 0.4, 0.2], snap: frame, cells: 5}
  - {name: total, type: amount, box: [0.5, 0.5, 0.9, 0.6]}
"""


def test_bundled_templates():
    t = load_templates()
    assert {"cheque-sample", "form-sample", "cheque-cts2010"} <= set(t)
    cts = t["cheque-cts2010"]
    assert [f.name for f in cts.fields] == ["date", "amount"]
    assert cts.fields[0].cells == 8 and cts.fields[0].type == "date"
    assert cts.aspect == pytest.approx(202 / 92)


def test_user_template_and_matching(tmp_path):
    (tmp_path / "my-form.yaml").write_text(GOOD)
    ts = template_set(None, tmp_path)
    assert ts.get("my-form").fields[1].type == "amount"
    assert ts.match(210 / 297).name in ("my-form", "form-sample")
    assert ts.match(2.2).name == "cheque-sample"  # cts2010 has match: false
    with pytest.raises(OCRError, match="no template fits"):
        ts.match(5.0)


@pytest.mark.parametrize("text,key", [
    (GOOD.replace("type: zip", "type: postcode"), r"fields\[0\] \(zip\)\.type"),
    (GOOD.replace("[0.1, 0.1, 0.4, 0.2]", "[0.4, 0.1, 0.1, 0.2]"), r"fields\[0\] \(zip\)\.box"),
    (GOOD.replace("[0.1, 0.1, 0.4, 0.2]", "[0.1, 0.1, 0.4]"), r"fields\[0\] \(zip\)\.box"),
    (GOOD.replace("[0.5, 0.5, 0.9, 0.6]", "[0.5, 0.5, 1.9, 0.6]"), r"fields\[1\] \(total\)\.box"),
    (GOOD.replace("size_mm: [210, 297]", "colour: red\nsize_mm: [210, 297]"), "colour: unknown key"),
    (GOOD.replace("size_mm: [210, 297]\n", ""), "size_mm: missing"),
    (GOOD.replace("snap: frame", "snap: magnet"), r"\.snap"),
    (GOOD.replace("name: total", "name: zip"), "fields: field name 'zip' is used twice"),
    ("kind: x\nsize_mm: [1, 2]\nfields: []\n", "fields: missing or empty"),
    ("kind: x\n  size_mm: [1, 2\n", "not valid YAML"),
    (GOOD.replace("name: zip, ", ""), r"fields\[0\]\.name: missing"),
])
def test_bad_template_names_file_and_key(tmp_path, text, key):
    path = tmp_path / "broken-form.yaml"
    path.write_text(text)
    with pytest.raises(OCRError, match=key) as err:
        parse_template(path)
    assert str(err.value).startswith("template broken-form.yaml: ")


def test_batch_rules_and_forced_template(tmp_path):
    (tmp_path / "batch.yaml").write_text("templates:\n  - {match: 'cheques/*', template: cheque-cts2010}\n")
    ts = template_set(tmp_path)
    assert ts.rule_for("cheques/a.jpg").name == "cheque-cts2010"
    assert ts.rule_for("forms/a.jpg") is None
    assert template_set(tmp_path, template="form-sample").rule_for("cheques/a.jpg").name == "form-sample"
    (tmp_path / "batch.yaml").write_text("templates:\n  - {match: '*', template: nope}\n")
    with pytest.raises(OCRError, match="no template named 'nope'"):
        template_set(tmp_path)
    (tmp_path / "batch.yaml").write_text("templates: {match: x}\n")
    with pytest.raises(OCRError, match="batch.yaml"):
        load_batch_rules(tmp_path)

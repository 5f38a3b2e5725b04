"""Synthetic scans: truth matches what is drawn, MNIST *test* digits only, the command writes files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from ocr.cli import main
from ocr.handwriting import DigitPool
from ocr.synth import TRUTH_COLUMNS, make_document


def test_documents_and_truth(tmp_path):
    pool = DigitPool()
    rng = np.random.default_rng(0)
    cheque = make_document("cheque", rng, pool, "c.jpg", dpi=150)
    form = make_document("form", rng, pool, "f.jpg", dpi=150)
    assert [r["field"] for r in cheque.truth] == ["date", "amount"]
    assert [r["field"] for r in form.truth] == ["zip", "date", "amount"]
    for r in cheque.truth + form.truth:
        assert r["digits"] == sum(c.isdigit() for c in r["written"])
        assert r["value"].replace(".", "").isdigit()
    date = cheque.truth[0]["value"]
    assert len(date) == 8 and 1 <= int(date[:2]) <= 31 and 1 <= int(date[2:4]) <= 12
    # The scan is larger than the paper (the bed shows) and not blank.
    assert cheque.image.shape[1] > 203 / 25.4 * 150 and cheque.image.std() > 10
    assert form.image.shape[0] > form.image.shape[1]  # portrait


def test_pool_is_the_test_set():
    from ocr.mnist import load_mnist

    images, _ = load_mnist("test")
    assert len(DigitPool().images) == len(images) == 10_000


def test_synth_command(tmp_path):
    assert main(["synth", "--kind", "both", "--n", "2", "--seed", "5", "--out", str(tmp_path), "--dpi", "120"]) == 0
    truth = pd.read_csv(tmp_path / "truth.csv", dtype=str)
    assert list(truth.columns) == TRUTH_COLUMNS
    assert sorted(truth["document"].unique()) == ["cheque-5-0000.jpg", "form-5-0001.jpg"]
    with Image.open(tmp_path / "cheque-5-0000.jpg") as im:
        assert im.info["dpi"][0] == 120
    # Same seed, same scans.
    main(["synth", "--kind", "both", "--n", "2", "--seed", "5", "--out", str(tmp_path / "again"), "--dpi", "120"])
    assert (tmp_path / "again" / "cheque-5-0000.jpg").read_bytes() == (tmp_path / "cheque-5-0000.jpg").read_bytes()


def test_cts_hand_cheques_keep_their_truth_and_change_only_the_amount_writing():
    """`ocr synth --cts-hand`: the same cheque, its amount written with the marks of Indian cheque
    writers. The values, and how they are spelled in truth.csv, are the same; the page is not."""
    from ocr.synth import draw_document

    pool = DigitPool()
    for seed in range(20):
        plain = draw_document("cheque", np.random.default_rng(seed), pool, 150)
        if "," in plain[2][1]["written"]:
            break
    cts = draw_document("cheque", np.random.default_rng(seed), pool, 150, cts_hand=True)
    assert cts[2] == plain[2]
    assert not np.array_equal(cts[0], plain[0])


def test_cts_cheques_name_their_template_and_are_read_with_it(tmp_path):
    """`ocr synth --kind cheque-cts`: CTS-2010 cheques, the rupee sign printed in a cell of its own or
    inside the amount box. The batch's batch.yaml names cheque-cts2010 (which no page shape selects),
    `ocr batch` reads every cheque with it, and the dates and amounts land where it looks for them."""
    src, out = tmp_path / "in", tmp_path / "out"
    assert main(["synth", "--kind", "cheque-cts", "--n", "6", "--seed", "1", "--out", str(src), "--dpi", "200"]) == 0
    assert main(["synth", "--kind", "cheque-cts", "--n", "6", "--seed", "1", "--out", str(src), "--dpi", "200"]) == 0
    assert (src / "batch.yaml").read_text().count("cheque-cts2010") == 1  # written again, not added twice
    main(["batch", str(src), "--out", str(out)])
    results = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(src / "truth.csv", dtype=str, keep_default_na=False)
    assert set(truth["kind"]) == {"cheque-cts"} and len(truth) == 12
    assert set(results["template"]) == {"cheque-cts2010"}
    both = results.merge(truth, on=["document", "field"], suffixes=("", "_truth"))
    assert len(both) == 12
    right = both["value"] == both["value_truth"]
    assert not (both["status"].eq("accepted") & ~right).any()
    for field in ("date", "amount"):
        assert right[both["field"] == field].sum() >= 5, both[["field", "value", "value_truth", "status"]]

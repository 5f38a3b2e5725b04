"""Scoring: read rate, error among accepted, review rate and segmentation from hand-made CSVs."""

from __future__ import annotations

import pandas as pd
import pytest

from ocr.score import same_value, score


def test_score_counts(tmp_path):
    pd.DataFrame({"document": ["a", "a", "b", "c"], "page": 1, "field": ["zip", "amount", "zip", "zip"],
                  "type": ["zip", "amount", "zip", "zip"], "value": ["12345", "1689.50", "99999", "11111"],
                  "digits": [5, 6, 5, 5]}).to_csv(tmp_path / "truth.csv", index=False)
    # a.zip accepted right, a.amount accepted right (1689.5), b.zip accepted wrong, c missing (errors).
    pd.DataFrame({"batch": "x", "document": ["a", "a", "b"], "page": 1, "field": ["zip", "amount", "zip"],
                  "value": ["12345", "1689.5", "99998"], "status": "accepted", "confidence": 1,
                  "reason": ""}).to_csv(tmp_path / "results.csv", index=False)
    rows = [("a", "zip", i) for i in range(5)] + [("a", "amount", i) for i in range(5)] + \
        [("b", "zip", i) for i in range(5)]
    pd.DataFrame([{"document": d, "page": 1, "field": f, "position": p} for d, f, p in rows]).to_csv(
        tmp_path / "digits.csv", index=False)
    s = score(tmp_path, tmp_path / "truth.csv")
    assert s["all"]["fields"] == 4 and s["all"]["accepted"] == 3
    assert s["all"]["read_rate"] == pytest.approx(2 / 4)
    assert s["all"]["error_among_accepted"] == pytest.approx(1 / 3)
    assert s["all"]["review_rate"] == pytest.approx(1 / 4)
    assert s["zip"]["segmentation"] == pytest.approx(2 / 3)
    assert s["amount"]["segmentation"] == 0.0  # 5 digits found, 6 written


def test_same_value():
    assert same_value("amount", "1,68,900", "168900")
    assert not same_value("amount", "16890", "168900")
    assert same_value("zip", "12345-6789", "123456789")
    assert not same_value("date", "", "")

"""A field's score: features of its digits, the regression, the threshold for a target, and the reader's use."""

import numpy as np
import pytest
import torch

from ocr.classify import Classifier, field_thresholds
from ocr.fieldscore import CLIP, FEATURES, cross_fitted_scores, features, fit, score, threshold_for_error
from ocr.handwriting import DigitPool, render_text
from ocr.reader import decide_fields, prepare_fields
from ocr.records import FieldImage


def _f(name: str, x: np.ndarray) -> float:
    return float(x[FEATURES.index(name)])


def test_features_of_a_field_count_its_digits_by_kind_and_keep_its_weakest():
    x = features([6.0, -2.0, 30.0, 4.0], ["alone", "joined", "alone", "joined"], ["blob", "cut", "wide blob", "cut"],
                 [np.nan, np.nan, 0.3, np.nan])
    assert x.shape == (len(FEATURES),)
    assert _f("weakest alone", x) == 6.0 and _f("weakest joined", x) == -2.0
    assert _f("weakest", x) == -2.0 and _f("second weakest", x) == 4.0
    assert _f("digits", x) == 4 and _f("cut pieces", x) == 2 and _f("wide marks read whole", x) == 1
    assert _f("two digits", x) == pytest.approx(0.3) and _f("has joined", x) == 1.0
    # -log P(right) summed over digits (margins clipped): more unsure digits, more risk.
    risk = np.log1p(np.exp(-np.clip([6.0, -2.0, 30.0, 4.0], -CLIP, CLIP))).sum()
    assert _f("log risk", x) == pytest.approx(np.log(risk))
    alone = features([50.0], ["alone"], ["blob"], [np.nan])  # no joined digit, none asked about, margin clipped
    assert _f("weakest joined", alone) == CLIP and _f("weakest", alone) == CLIP and _f("second weakest", alone) == CLIP
    assert _f("two digits", alone) == 0.0 and _f("has joined", alone) == 0.0 and _f("pair reading", alone) == 0.0
    # The pair reader's least likely reading of the field's wide marks (NaN: a digit not read from one).
    read = features([6.0, 4.0, 5.0], ["alone"] * 3, ["cut", "cut", "blob"], [np.nan] * 3, [-0.2, -0.2, np.nan])
    assert _f("pair reading", read) == pytest.approx(-0.2)
    assert _f("pair reading", features([6.0], ["alone"], ["wide blob"], [np.nan], [-80.0])) == -CLIP
    # The weakest digit read '1' or '7': here the '7', though the '3' is weaker; CLIP when the field has none, or
    # when no labels are given; labels that are not the margins' digits are an error, not a silent CLIP.
    args = ([6.0, -2.0, 4.0, 1.5], ["alone"] * 4, ["blob"] * 4, [np.nan] * 4, [np.nan] * 4)
    assert _f("weakest 1 or 7", features(*args, [1, 3, 1, 7])) == 1.5
    assert _f("weakest 1 or 7", features(*args, [0, 3, 8, 9])) == CLIP
    assert _f("weakest 1 or 7", features(*args)) == CLIP
    assert _f("weakest 1 or 7", features([-45.0], ["alone"], ["blob"], [np.nan], [np.nan], [1])) == -CLIP
    with pytest.raises(IndexError):
        features(*args, [1, 7])


def test_the_regression_ranks_right_fields_above_wrong_ones():
    """Fields are right more often the surer their weakest digit: the fitted score orders them so."""
    rng = np.random.default_rng(0)
    weakest = rng.uniform(-5, 15, 2000)
    right = rng.random(2000) < 1 / (1 + np.exp(-(weakest - 2)))
    x = np.array([features([w, w + 3], ["alone", "alone"], ["blob", "blob"], [np.nan, np.nan]) for w in weakest])
    scorer = fit(x, right)
    s = score(scorer, x)
    assert s.shape == (2000,) and scorer["features"] == list(FEATURES)
    assert np.corrcoef(s, weakest)[0, 1] > 0.95
    assert right[s > np.median(s)].mean() > right[s <= np.median(s)].mean() + 0.2
    # A field scored alone (the reader) scores exactly as in a batch (the calibration that chose a threshold
    # at some field's score): not a rounding apart.
    assert all(float(score(scorer, x[i])) == s[i] for i in range(200))
    with pytest.raises(Exception, match="does not know .*sharpness"):
        score({**scorer, "features": [*FEATURES[:-1], "sharpness"]}, x)
    with pytest.raises(Exception, match="malformed"):
        score({**scorer, "features": ["weakest"]}, x)  # one name, eleven weights
    # A scorer fitted by an older version on fewer features scores by the columns it names.
    older = fit(x[:, :10], right)
    older["features"] = list(FEATURES[:10])
    np.testing.assert_allclose(score(older, x), s, rtol=1e-4, atol=1e-4)  # the eleventh never varied here
    # A feature that never varied (no detector asked: "two digits" always 0) gets no weight, and a value it
    # takes later (weights given a detector afterwards) does not move the score.
    k = FEATURES.index("two digits")
    assert scorer["weights"][k] == 0.0 and scorer["scale"][k] == 1.0
    later = x.copy()
    later[:, k] = 0.95
    np.testing.assert_allclose(score(scorer, later), s)


def test_the_threshold_is_the_lowest_that_holds_the_target_and_never_splits_a_tie():
    s = np.array([9.0, 8.0, 7.0, 6.0, 6.0, 5.0, 4.0, 3.0])
    ok = np.array([True, True, True, False, True, True, True, False])
    t = threshold_for_error(s, ok, 10, 0.0)
    assert t == {"score": 7.0, "accepted": 0.3, "error": 0.0}
    t = threshold_for_error(s, ok, 10, 0.2)  # 1 wrong in 7 (6.0 and 6.0 taken together) is under 20%
    assert t["score"] == 4.0 and t["accepted"] == 0.7 and t["error"] == pytest.approx(1 / 7)
    t = threshold_for_error(s, ok, 10, 0.25)
    assert t["score"] == 3.0 and t["accepted"] == 0.8 and t["error"] == pytest.approx(2 / 8)
    tie = threshold_for_error(np.array([5.0, 5.0]), np.array([True, False]), 2, 0.0)
    assert tie["score"] == np.inf and tie["accepted"] == 0.0  # the tie cannot be split


def test_weights_with_a_field_score_need_only_the_digit_threshold_per_digit():
    cal = {"fields": {"thresholds": {"amount": {"0.005": {"score": 3.5, "accepted": 0.6, "error": 0.004}},
                                     "zip": {"0.01": {"alone": 1.0, "joined": 2.0, "accepted": 0.6, "error": 0.01}}},
                      "scorers": {}}}
    got = field_thresholds(cal, 0.01)
    assert got["amount"] == {"alone": -np.inf, "joined": -np.inf, "score": 3.5}
    assert got["zip"] == {"alone": 1.0, "joined": 2.0}  # older weights' pairs still read


def test_a_field_whose_score_falls_short_goes_to_a_person_naming_its_weakest_digit(classifier):
    """'3 7 4' written apart, penalties built here, one digit made less sure. A scorer whose score is the
    weakest digit's margin accepts the field from a threshold just under it and sends it to review
    from just over it, whatever the per-digit thresholds."""
    from ocr.fieldscore import digit_features

    rng = np.random.default_rng(2)
    pool = DigitPool()
    parts = [render_text(t, pool, rng, height=40, touching_p=0.0)[0] for t in "374"]
    h = max(p.shape[0] for p in parts)
    ink = np.concatenate([np.pad(p, ((h - p.shape[0], 0), (0, 10))) for p in parts], axis=1)
    prep = prepare_fields([FieldImage("amount", "amount", np.pad(255 - ink, 12, constant_values=255))])
    groups = prep.cleaned[0][2].groups
    assert len(groups) == 3
    first = np.cumsum([0] + [len(g.candidates) for g in groups])[:-1]
    y = np.full((len(prep.stack), 10), 60.0, np.float32)
    for k, d in zip(first, (3, 7, 4), strict=True):
        y[k, d] = 1.0
    y[first[1], 1] = 4.0  # the '7' is a bit like a '1'
    weights = np.zeros(len(FEATURES))
    weights[FEATURES.index("weakest")] = 1.0
    scorer = {"features": list(FEATURES), "mean": [0.0] * len(FEATURES), "scale": [1.0] * len(FEATURES),
              "weights": weights.tolist(), "bias": 0.0}
    clf = Classifier(classifier.model, classifier.info, torch.device("cpu"))
    clf.field_scorers = {"amount": scorer}

    def read(need):
        [r] = decide_fields(prep, y, clf, {"amount": {"alone": -np.inf, "joined": -np.inf, "score": need}})
        return r

    margins = [d.margin for d in read(-np.inf).digits]
    assert read(-np.inf).status == "accepted" and np.argmin(margins) == 1 and margins[1] < CLIP
    # The reader's digits give the field score their labels: the weakest '1' or '7' is the '7'.
    assert _f("weakest 1 or 7", digit_features(read(-np.inf).digits, "amount")) == pytest.approx(margins[1])
    assert read(margins[1] - 0.1).status == "accepted"
    low = read(margins[1] + 0.1)
    assert low.status == "review" and low.value == "374"
    assert low.reason == (f"the digits together are not sure enough for an accepted amount (field score "
                          f"{margins[1]:.1f}, needs {margins[1] + 0.1:.1f}; weakest: digit 2, read 7)")
    assert all(d.accepted for d in low.digits)  # every digit passed its own threshold
    # The field's confidence is how likely its score says it is right, accepted or not.
    for r in (low, read(-np.inf)):
        assert r.confidence == pytest.approx(1 / (1 + np.exp(-margins[1])))
    # Without a scorer for the type, or without a score threshold, the score is not asked, and the
    # field's confidence is its weakest digit's.
    clf.field_scorers = {}
    plain = read(margins[1] + 0.1)
    assert plain.status == "accepted" and plain.confidence == min(d.confidence for d in plain.digits)


def test_weights_whose_scores_use_other_features_are_a_clear_error_at_load(classifier):
    """A field score fitted by another version of ocr (features this one does not know) stops the
    classifier from loading, saying what to do, instead of failing on every field it reads."""
    import copy

    from ocr.errors import OCRError

    info = copy.deepcopy(classifier.info)
    for scorer in info["calibration"]["fields"]["scorers"].values():
        scorer["features"] = [*scorer["features"][:-1], "ink colour"]
    with pytest.raises(OCRError, match=r"features this version of ocr does not know \(ink colour\): run `ocr calibr"):
        Classifier(classifier.model, info, torch.device("cpu"))


def test_out_of_fold_scores_come_from_regressions_that_never_saw_the_field():
    rng = np.random.default_rng(1)
    weakest = rng.uniform(-5, 15, 600)
    right = rng.random(600) < 1 / (1 + np.exp(-(weakest - 2)))
    x = np.array([features([w, w + 3], ["alone", "alone"], ["blob", "blob"], [np.nan, np.nan]) for w in weakest])
    oof = cross_fitted_scores(x, right, folds=5, repeats=3, seed=7)
    assert oof.shape == (3, 600) and np.isfinite(oof).all()
    np.testing.assert_array_equal(oof, cross_fitted_scores(x, right, folds=5, repeats=3, seed=7))
    # The first dealing, fold 0, scored by a regression fitted on the other four folds only.
    fold = np.random.default_rng(7).permutation(600) % 5
    held = fold == 0
    np.testing.assert_allclose(oof[0, held], score(fit(x[~held], right[~held]), x[held]))
    # Each dealing differs, and all of them rank the fields as the regression on all of them does.
    assert not np.array_equal(oof[0], oof[1])
    whole = score(fit(x, right), x)
    assert all(np.corrcoef(o, whole)[0, 1] > 0.99 for o in oof)
    # A field the regression on all fields was fitted to, wrong against the trend, pulls that regression
    # towards it; the out-of-fold regressions that scored it never saw it.
    odd = np.argmax(weakest)
    flipped = right.copy()
    flipped[odd] = False
    x_odd = x.copy()
    x_odd[odd, FEATURES.index("digits")] = 7  # the only field with 7 digits: a column of its own
    own = score(fit(x_odd, flipped), x_odd)[odd]
    apart = cross_fitted_scores(x_odd, flipped, folds=5, repeats=1, seed=7)[0, odd]
    assert apart > own + 1.0

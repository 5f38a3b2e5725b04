"""Training examples cut by the pipeline's own segmenter, labelled by who wrote their ink."""


import numpy as np
import pytest

from ocr.fieldset import field_examples, label_candidates, write_strips
from ocr.handwriting import DigitPool, make_field
from ocr.lenet5 import RUBBISH
from ocr.segment import DRIFT, TRAIN_DRIFT


def _owner_two_digits():
    """A 20x40 field: digit 0 writes columns 2-15, digit 1 columns 20-35, a mark (-2) at 37-38."""
    owner = np.full((20, 40), -1, np.int64)
    owner[2:18, 2:16] = 0
    owner[2:18, 20:36] = 1
    owner[8:10, 37:39] = -2
    return owner, owner != -1


def _candidate(owner_ink: np.ndarray, x0: int, x1: int):
    box = (x0, 0, x1, owner_ink.shape[0])
    return owner_ink[:, x0:x1], box


def test_labels_by_ink_ownership():
    owner, ink = _owner_two_digits()
    cands = [_candidate(ink, 0, 17),  # all of digit 0
             _candidate(ink, 0, 37),  # both digits read as one blob
             _candidate(ink, 0, 9),  # half of digit 0
             _candidate(ink, 19, 40),  # digit 1 and the mark beside it (2 of 258 pixels)
             _candidate(ink, 36, 40)]  # the mark alone
    labels = label_candidates([m for m, _ in cands], [b for _, b in cands], owner, ink)
    assert labels.tolist() == [0, -1, -1, 1, -1]


def test_most_of_a_digit_is_left_out():
    owner, ink = _owner_two_digits()
    m, box = _candidate(ink, 2, 14)  # 12 of 14 columns: neither the digit nor clearly rubbish
    assert label_candidates([m], [box], owner, ink).tolist() == [-2]


def test_strip_owner_marks_every_digit_and_sign():
    pool = DigitPool()
    rng = np.random.default_rng(5)
    strip = make_field("amount", "1234", rng, pool=pool, boxes="none", currency="$", grouping="none", suffix="",
                       angle=2.0)
    assert strip.owner.shape == strip.image.shape
    written = set(np.unique(strip.owner).tolist())
    assert {0, 1, 2, 3, -2, -1} <= written  # four digits, the '$', paper
    # Each digit's pixels lie where the scan is dark (the owner map turned with the page).
    for k in range(4):
        assert strip.image[strip.owner == k].mean() < strip.image[strip.owner == -1].mean() - 60


@pytest.mark.parametrize("workers", [1, 2])
def test_field_examples_hold_digits_and_rubbish(workers):
    pool = DigitPool()
    x, y = field_examples(pool.images[:3000], pool.labels[:3000], 12, seed=3, workers=workers, chunk=6)
    assert x.dtype == np.float32 and x.shape[1:] == (32, 32) and len(x) == len(y)
    assert set(np.unique(y)) <= set(range(11))
    assert (y == RUBBISH).any() and (y < 10).sum() >= 12 * 4  # at least most of the written digits
    again = field_examples(pool.images[:3000], pool.labels[:3000], 12, seed=3, workers=1, chunk=6)
    np.testing.assert_array_equal(y, again[1])  # the same whatever the number of processes


def test_field_scores_meet_each_target_on_the_out_of_fold_scores_of_all_the_strips():
    """The score is fitted on the accepted fields of all 2n strips; per target, its threshold is the lowest
    that holds the target on their out-of-fold scores (each scored by regressions fitted without it):
    reading the strips again reproduces the scorer and the recorded figures."""
    from ocr.classify import Classifier
    from ocr.fieldscore import FEATURES, REPEATS, cross_fitted_scores, fit, threshold_for_error
    from ocr.fieldset import calibrate_fields, read_in_halves

    clf = Classifier.load(device="cpu", field_target=None)
    pool = DigitPool()
    cal = calibrate_fields(clf, pool.images[:2000], pool.labels[:2000], 30, seed=4, types=("zip",),
                           targets=(0.2, 0.05, 0.0))
    assert cal["n"] == 30 and set(cal["thresholds"]) == set(cal["scorers"]) == {"zip"}
    assert cal["cross_fitted"] == {"folds": 5, "repeats": REPEATS}
    assert len(cal["scorers"]["zip"]["weights"]) == len(FEATURES)
    by_target = cal["thresholds"]["zip"]
    assert list(by_target) == ["0.2", "0.05", "0"]
    plain = cal["digit_threshold"]["zip"]
    accepted = [c["accepted"] for c in by_target.values()]
    assert plain["accepted"] >= accepted[0] >= accepted[1] >= accepted[2]  # a stricter target accepts no more
    for key, c in by_target.items():
        assert c["error"] <= float(key)
    if plain["error"] <= 0.2:  # the digit threshold alone meets 20%: nothing is rejected for it
        assert by_target["0.2"]["accepted"] == plain["accepted"]
    # The same 60 strips read again at the digit threshold, in the calibration's two halves: the same scorer,
    # the same thresholds.
    sub = DigitPool(pool.images[:2000], pool.labels[:2000])
    strips = write_strips("zip", 60, 4, sub, 0.1)
    fields = read_in_halves(clf, strips, "zip")
    assert plain["accepted"] == pytest.approx(len(fields.right) / 60)
    refit = fit(fields.features, fields.right)
    np.testing.assert_allclose(refit["weights"], cal["scorers"]["zip"]["weights"], rtol=1e-5, atol=1e-6)  # L-BFGS
    pooled = cross_fitted_scores(fields.features, fields.right, seed=4).ravel()
    for key, c in by_target.items():
        again = threshold_for_error(pooled, np.tile(fields.right, REPEATS), REPEATS * 60, float(key))
        assert again == pytest.approx(c)


def test_strip_truth_is_what_the_reader_writes():
    from ocr.fieldset import strip_truth

    assert strip_truth("amount", "1689.50") == "1689.50"
    assert strip_truth("zip", "123456789") == "12345-6789"
    assert strip_truth("date", "29022024") == "29022024"


def test_field_examples_are_cut_with_the_drift_asked_for():
    """Training strips are cut with the wandering paths of TRAIN_DRIFT; other cuts give other examples."""
    pool = DigitPool()
    args = (pool.images[:3000], pool.labels[:3000], 30)
    straight = field_examples(*args, seed=5, touching=1.0, drift=DRIFT)
    wandering = field_examples(*args, seed=5, touching=1.0, drift=TRAIN_DRIFT)
    assert len(straight[0]) != len(wandering[0]) or not np.array_equal(straight[0], wandering[0])
    again = field_examples(*args, seed=5, touching=1.0, drift=TRAIN_DRIFT)
    np.testing.assert_array_equal(wandering[0], again[0])


def test_the_pair_chosen_accepts_the_most_strips_within_the_target_and_the_stricter_on_a_tie():
    from ocr.fieldset import choose_pair, threshold_grid

    grid = threshold_grid(-5.0)
    assert grid[0] == 10.0 and grid[-1] == -5.0 and np.all(np.diff(grid) < 0)  # strict to loose
    # Ten accepted strips of twenty: the weakest digit read alone / joined, and whether the value is right.
    alone = np.array([9.0, 8, 7, 6, 5, 4, 3, 2, 1, -4])
    joined = np.array([np.inf, 9, 9, 9, 9, 9, 9, 9, 9, 0])
    ok = np.array([True] * 8 + [False, False])
    # Within 0%: the eight right strips, which alone >= 2 takes (alone >= 1.5 would take the same: the stricter).
    p = choose_pair(ok, alone, joined, 20, 0.0, grid)
    assert (p["alone"], p["accepted"], p["error"]) == (2.0, 0.4, 0.0)
    assert p["joined"] == 9.0  # the strictest joined threshold that loses none of them
    # Within 10%: one wrong strip among nine (11%) is too many, so still eight.
    assert choose_pair(ok, alone, joined, 20, 0.1, grid)["accepted"] == 0.4
    # Within 15%: nine, the wrong one with alone 1.
    p = choose_pair(ok, alone, joined, 20, 0.15, grid)
    assert p["alone"] == 1.0 and p["accepted"] == pytest.approx(0.45) and p["error"] == pytest.approx(1 / 9)
    # Within 20%: all ten, down to the last wrong strip (alone -4, joined 0).
    p = choose_pair(ok, alone, joined, 20, 0.2, grid)
    assert (p["alone"], p["joined"], p["accepted"]) == (-4.0, 0.0, 0.5)
    # Nothing meets a target when every strip is wrong.
    p = choose_pair(np.zeros(3, bool), np.full(3, 9.0), np.full(3, 9.0), 3, 0.01, grid)
    assert p["alone"] == p["joined"] == float("inf") and p["accepted"] == 0.0


def test_owner_grown_into_the_blur_round_a_digit_for_hysteresis_masks():
    """Strips cleaned with hysteresis hold the blur round a stroke as ink: paper within OWNER_GROWTH pixels of a
    digit's ink is that digit's, so a thin stroke's candidate is not half paper and labelled rubbish. A mark's
    pixels stay a mark's, and paper further off stays paper."""
    from types import SimpleNamespace

    from ocr.fieldset import OWNER_GROWTH, owner_in_clean

    owner, _ = _owner_two_digits()
    strip = SimpleNamespace(owner=owner.astype(np.int32))
    clean = SimpleNamespace(mask=np.zeros(owner.shape, bool), to_crop=np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    np.testing.assert_array_equal(owner_in_clean(strip, clean), owner)
    grown = owner_in_clean(strip, clean, grow=OWNER_GROWTH)
    assert OWNER_GROWTH == 2
    assert (grown[2:18, 0:2] == 0).all() and (grown[0:2, 2:16] == 0).all()  # two pixels round digit 0
    assert (grown[2:18, 18:20] == 1).all() and (grown[2:18, 16:18] == 0).all()  # the gap shared out
    assert (grown[8:10, 37:39] == -2).all()  # the mark stays a mark
    assert grown[19, 39] == -1 and grown[9, 39] == -1  # paper beyond two pixels of a digit stays paper
    # A thin stroke whose mask holds its blur: labelled the digit with the grown owner, not without.
    ink = np.zeros(owner.shape, bool)
    ink[2:18, 6:12] = True  # six columns of mask ...
    thin = np.full(owner.shape, -1, np.int64)
    thin[2:18, 8:10] = 0  # ... round a stroke two pixels wide
    masks, boxes = [ink[:, 4:14]], [(4, 0, 14, 20)]
    assert label_candidates(masks, boxes, thin, ink).tolist() == [-1]
    grown_thin = owner_in_clean(SimpleNamespace(owner=thin.astype(np.int32)), clean, grow=OWNER_GROWTH)
    assert label_candidates(masks, boxes, grown_thin, ink).tolist() == [0]

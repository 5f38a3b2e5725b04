import numpy as np
import pytest

from ocr.reject import Rejector, calibrate, confidence, margins, rejection_for_error


def _penalties(best, second, others=200.0):
    y = np.full((len(best), 10), others, dtype=np.float64)
    y[:, 3] = best
    y[:, 7] = second
    return y


def test_margin_grows_with_the_gap_and_falls_with_a_large_best_penalty():
    y = _penalties(np.array([2.0, 2.0, 2.0, 30.0]), np.array([4.0, 20.0, 60.0, 60.0]))
    m = margins(y, j=10.0)
    assert m[0] < m[1] < m[2]  # bigger gap to the runner-up -> more confident
    assert m[3] < m[2]  # same gap but far from every prototype -> the rubbish class wins
    assert m[3] < 0
    assert m[2] == pytest.approx(10.0 - 2.0, abs=0.01)  # capped by j: min(second, j) - best


def test_confidence_is_a_probability():
    c = confidence(np.array([-1000.0, 0.0, 1000.0]))
    assert c.tolist() == [0.0, 0.5, 1.0]


def test_calibration_meets_its_target_and_keeps_as_many_as_possible():
    rng = np.random.default_rng(0)
    n = 20_000
    m = rng.normal(5, 2, n)
    # Errors concentrate at low margins, as for a real classifier.
    p_wrong = 1 / (1 + np.exp(2.0 * (m - 1.0)))
    correct = rng.random(n) > p_wrong
    cal = calibrate(m, correct, targets=(0.005, 0.001))
    for key, target in (("0.005", 0.005), ("0.001", 0.001)):
        t = cal[key]["threshold"]
        kept = m >= t
        assert (~correct[kept]).mean() <= target
        assert cal[key]["accepted"] == pytest.approx(kept.mean())
        # one step lower would break the target (maximal acceptance)
        lower = np.sort(m[m < t])[-1]
        looser = m >= lower
        assert (~correct[looser]).mean() > target
    assert cal["0.001"]["threshold"] > cal["0.005"]["threshold"]


def test_rejection_for_error_is_the_smallest_sufficient_fraction():
    m = np.arange(2000.0)
    correct = np.ones(2000, bool)
    correct[[0, 1, 2, 1000]] = False  # 3 errors at the lowest margins, 1 in the middle
    assert rejection_for_error(m, correct, 0.005) == 0.0  # 4/2000 = 0.2% already
    # 0.1%: rejecting the three lowest leaves 1/1997 = 0.05%; rejecting two leaves 2/1998 = 0.1001%.
    assert rejection_for_error(m, correct, 0.001) == pytest.approx(3 / 2000)
    # 0.01%: the middle error must go too, so everything up to and including margin 1000.
    assert rejection_for_error(m, correct, 0.0001) == pytest.approx(1001 / 2000)


def test_rejector_applies_calibrated_threshold():
    r = Rejector.from_calibration(10.0, {"thresholds": {"0.001": {"threshold": 5.0}}}, 0.001)
    y = _penalties(np.array([1.0, 1.0]), np.array([3.0, 30.0]))
    labels, conf, accepted = r.assess(y)
    assert labels.tolist() == [3, 3] and accepted.tolist() == [False, True]
    assert conf[1] > conf[0]


def test_only_the_allowed_digits_count_against_the_best_and_the_rubbish_class_always_does():
    y = _penalties(np.array([2.0, 30.0]), np.array([3.0, 31.0]))  # best '3', runner-up '7', close
    allowed = np.ones((2, 10), bool)
    allowed[:, 7] = False  # the grammar rules a 7 out
    free, ruled = margins(y, j=10.0), margins(y, j=10.0, allowed=allowed)
    assert free[0] < 1.5 and ruled[0] == pytest.approx(10.0 - 2.0, abs=0.01)
    # Far from every prototype: however few rivals are allowed, the rubbish class keeps it unsure.
    assert ruled[1] < -19.0
    # The best digit is the reading whether or not it is allowed elsewhere: only rivals are ruled out.
    assert np.array_equal(margins(y, j=10.0, allowed=np.zeros((2, 10), bool)), ruled)

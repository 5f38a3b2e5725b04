"""Confidence and rejection from the RBF penalties.

The MAP criterion the network is trained with (paper eq. 9) reads the penalties as an
unnormalised posterior, ``P(i | x) = e^{-y_i} / (e^{-j} + sum_k e^{-y_k})``, with a "rubbish" class
of constant penalty ``j``. The confidence of the best digit is that posterior, and its log-odds is
the *margin*::

    margin = -y_best - log(e^{-j} + sum_{k != best} e^{-y_k})
          ~= min(y_second, j) - y_best

so it drops both when the runner-up is close (small gap between best and second-best penalty) and
when the best penalty itself is large (the input is far from every prototype: a smudge, half a
digit, two digits). Thresholds on the margin are calibrated on the validation split for target
error rates among accepted digits (never on the test set) and stored with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Digit error rates among accepted digits that thresholds are calibrated for. Fields of several digits
# need a stricter digit threshold than single digits (a zip has 5 chances to be wrong).
DEFAULT_TARGETS = (0.01, 0.005, 0.003, 0.002, 0.001, 0.0005)


def margins(penalties: np.ndarray, j: float, allowed: np.ndarray | None = None) -> np.ndarray:
    """Log-odds of the best digit against all others and the rubbish class; ``[N, 10]`` -> ``[N]``.

    ``allowed`` (``bool [N, 10]``): only these digits count against the best one (a field's grammar
    rules the others out: a month cannot start with a 6). The best digit stays the best of all ten,
    and the rubbish class always counts, so a mark that looks like none of the allowed digits stays
    doubtful."""
    y = np.asarray(penalties, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != 10:
        raise ValueError(f"penalties must be [N, 10], got {y.shape}")
    order = np.argsort(y, axis=1)
    best = np.take_along_axis(y, order[:, :1], axis=1)[:, 0]
    if allowed is not None:
        y = np.where(np.asarray(allowed, bool), y, np.inf)
    others = np.take_along_axis(y, order[:, 1:], axis=1)
    rest = np.concatenate([np.full((len(y), 1), -float(j)), -others], axis=1)
    top = rest.max(axis=1, keepdims=True)
    log_rest = top[:, 0] + np.log(np.exp(rest - top).sum(axis=1))
    return -best - log_rest


def confidence(margin: np.ndarray | float) -> np.ndarray:
    """The posterior of the best digit, ``sigmoid(margin)``, in [0, 1]."""
    m = np.asarray(margin, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * m))  # a sigmoid that does not overflow


def best_two(penalties: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, best penalty, second-best penalty)`` for ``[N, 10]`` penalties."""
    y = np.asarray(penalties)
    part = np.sort(y, axis=1)
    return np.argmin(y, axis=1), part[:, 0], part[:, 1]


def calibrate(margin: np.ndarray, correct: np.ndarray, targets=DEFAULT_TARGETS) -> dict[str, dict]:
    """For each target error rate, the lowest margin threshold whose accepted set (margin >= t)
    has an error rate at or below the target, accepting as many as possible.

    Returns ``{"0.005": {"threshold": t, "accepted": fraction, "error": error among accepted}}``.
    """
    m = np.asarray(margin, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    order = np.argsort(-m, kind="stable")
    m_sorted, wrong = m[order], ~ok[order]
    errors = np.cumsum(wrong)
    counts = np.arange(1, len(m) + 1)
    # Only cut between distinct margins: ties are accepted or rejected together.
    boundary = np.append(m_sorted[1:] != m_sorted[:-1], True)
    out = {}
    for target in targets:
        fits = np.flatnonzero(boundary & (errors <= target * counts))
        if fits.size == 0:
            out[f"{target:g}"] = {"threshold": float("inf"), "accepted": 0.0, "error": 0.0}
            continue
        k = fits[-1]
        out[f"{target:g}"] = {
            "threshold": float(m_sorted[k]),
            "accepted": float((k + 1) / len(m)),
            "error": float(errors[k] / (k + 1)),
        }
    return out


def rejection_curve(margin: np.ndarray, correct: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """Error among accepted digits against the fraction rejected (lowest margins rejected first)."""
    m = np.asarray(margin, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)[np.argsort(m, kind="stable")]  # lowest margin first
    n = len(m)
    rejected, errors = [], []
    for frac in np.linspace(0.0, 0.1, points):
        k = int(round(frac * n))
        kept = n - k
        rejected.append(k / n)
        errors.append(float(wrong[k:].sum() / kept) if kept else 0.0)
    return {"rejected": rejected, "error": errors}


def rejection_for_error(margin: np.ndarray, correct: np.ndarray, target: float = 0.005) -> float:
    """The smallest fraction of digits (lowest margins first) to reject so that the error among the
    rest is at or below ``target``: the paper's rejection figure (section III.C.5)."""
    m = np.asarray(margin, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)[np.argsort(m, kind="stable")]
    n = len(m)
    remaining_errors = wrong.sum() - np.concatenate([[0], np.cumsum(wrong)])  # after rejecting k
    kept = n - np.arange(n + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(kept > 0, remaining_errors / np.maximum(kept, 1), 0.0)
    k = int(np.flatnonzero(rate <= target)[0])
    return k / n


@dataclass(frozen=True)
class Rejector:
    """Applies a calibrated margin threshold to penalties."""

    j: float
    threshold: float

    @classmethod
    def from_calibration(cls, j: float, calibration: dict, target: float) -> Rejector:
        key = f"{target:g}"
        thresholds = calibration.get("thresholds", {})
        if key not in thresholds:
            known = ", ".join(sorted(thresholds)) or "none"
            from ocr.errors import OCRError

            raise OCRError(f"no calibrated threshold for target error {key} (calibrated: {known})")
        return cls(j=j, threshold=float(thresholds[key]["threshold"]))

    def assess(self, penalties: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(labels, confidence, accepted)`` for ``[N, 10]`` penalties."""
        m = margins(penalties, self.j)
        labels = np.argmin(np.asarray(penalties), axis=1)
        return labels, confidence(m), m >= self.threshold

    @property
    def confidence_threshold(self) -> float:
        return float(confidence(self.threshold))

"""A field's score: how likely the reader's value of a whole field is right, from all of its digits.

Two thresholds on a field's weakest digits (one for digits read whole, one for joined digits:
:func:`ocr.fieldset.choose_pair`) see two numbers of a field. Whether a field is right depends on
more: how many digits it has, how many of them are unsure and not only the weakest, how many were
cut from a wider mark, what the two-digit detector said of a wide mark read whole, and how likely the
pair reader (:class:`ocr.pairs.PairReader`), reading each wide mark whole, finds the digits the
segmentation graph read from it (a touching pair cut in the wrong place is read as digits the whole
mark does not look like). The score
here is a logistic regression on those features of the digits the reader chose (:func:`features`),
fitted per field type on strips written with held-out digits and read at the digit threshold
(:func:`fit`); a field is accepted when its score reaches the threshold chosen for a target error among
accepted fields (:func:`threshold_for_error`) on the scores those strips get from regressions fitted
without them (:func:`cross_fitted_scores`).

One number per field, with its threshold chosen on strips the regression was not fitted on, is a
steadier choice than the best of a few hundred threshold pairs: on 10,000 held-out amount strips,
the pair chosen for 0.5% on one set of 10,000 accepted 28.6% of the next, the pair chosen on that
next set let 0.74% through on the first (README, "Field scores").

Pure NumPy at read time; the fit uses torch (L-BFGS).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The features, in order. Margins are log-odds of the chosen digit (ocr.reject.margins), clipped to
# +-CLIP; a field with no digit of a kind counts as CLIP there.
FEATURES = ("weakest alone", "weakest joined", "weakest", "second weakest", "digits", "wide marks read whole",
            "cut pieces", "two digits", "log risk", "has joined", "pair reading", "pair-read digits",
            "weakest 1 or 7")
CLIP = 20.0
L2 = 1e-3  # ridge penalty on the standardised weights
# Thresholds are chosen on out-of-fold scores (cross_fitted_scores): 5 folds, dealt 4 times. Chosen on
# one half of 20,000 held-out amount strips scored by a regression fitted on the other, the threshold for
# 0.5% accepted 39-69% of the same test strips depending on how the strips were halved; on the pooled
# out-of-fold scores of all of them, 54-60% (README, "Field scores").
FOLDS = 5
REPEATS = 4


def features(margins: Sequence[float], kinds: Sequence[str], sources: Sequence[str],
             two_digits: Sequence[float], pair_readings: Sequence[float] = (),
             labels: Sequence[int] = ()) -> np.ndarray:
    """``float64 [len(FEATURES)]`` for one field read as digits with these ``margins``, threshold
    ``kinds`` ("alone" / "joined": :func:`ocr.classify.source_kind`), ``sources`` ("blob", "wide
    blob", "cut", "pair read": ``DigitResult.source``), two-digit detector answers (NaN: not asked) and the pair
    reader's log P of the readings of the wide marks they were read from (``DigitResult.pair_reading``,
    NaN: none; the feature is the least likely, at least -CLIP, and 0 when there is none) and the digits'
    ``labels`` (the weakest margin among the digits read '1' or '7', CLIP when there is none or no labels
    are given: '1' and '7' are the digits commas, slashes and stray strokes are misread as, and the two most
    often read with low margins against each other; fitted, an unsure '1' or '7' counts less against a field
    than another unsure digit; README, "Field scores")."""
    m = np.clip(np.asarray(margins, np.float64), -CLIP, CLIP)
    pr = np.asarray(pair_readings, np.float64)
    pr = pr[np.isfinite(pr)]
    k = np.asarray(kinds)
    s = list(sources)
    two = np.asarray(two_digits, np.float64)
    low = np.sort(m)
    lab = np.asarray(labels)
    thin = m[np.isin(lab, (1, 7))] if len(lab) else m[:0]  # labels of other digits than the margins: IndexError
    risk = float(np.log1p(np.exp(-m)).sum())  # sum over digits of -log P(digit right), by its margin
    return np.array([
        m[k == "alone"].min() if (k == "alone").any() else CLIP,
        m[k == "joined"].min() if (k == "joined").any() else CLIP,
        low[0] if len(low) else CLIP,
        low[1] if len(low) > 1 else CLIP,
        len(m),
        s.count("wide blob"),
        s.count("cut"),
        float(np.nanmax(two)) if np.isfinite(two).any() else 0.0,
        np.log(risk + 1e-9),
        float((k == "joined").any()),
        max(float(pr.min()), -CLIP) if len(pr) else 0.0,
        s.count("pair read"),
        thin.min() if len(thin) else CLIP,
    ], np.float64)


def digit_features(digits: Sequence, key: str) -> np.ndarray:
    """:func:`features` of a field read as ``digits`` (:class:`ocr.records.DigitResult`) with
    thresholds ``key`` (:func:`ocr.classify.threshold_key`)."""
    from ocr.classify import source_kind  # the classifier imports this module
    from ocr.reader import PAIR_SOURCES  # and so does the reader
    # The detector's answer counts for the marks wide enough for two digits, as the scores were fitted: the
    # reader also asks it of narrower marks, whose answer only ever sends a field to a person.
    two = [d.two_digits if d.source in PAIR_SOURCES else float("nan") for d in digits]
    return features([d.margin for d in digits], [source_kind(d.source, key) for d in digits],
                    [d.source for d in digits], two, [d.pair_reading for d in digits], [d.label for d in digits])


def fit(x: np.ndarray, right: np.ndarray, l2: float = L2) -> dict:
    """A logistic regression of ``right`` (``bool [N]``) on ``x`` (``[N, len(FEATURES)]``), standardised,
    with a ridge penalty ``l2``. Returns ``{"features", "mean", "scale", "weights", "bias"}`` (plain
    lists, for the weights file; ``features`` names the columns, so that a scorer keeps working when
    later versions add features)."""
    import torch

    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    spread = x.std(axis=0) if len(x) else np.zeros(x.shape[1])
    # A feature that did not vary (no detector to ask, no cut pieces) keeps weight 0 and a unit scale, so
    # that the values it takes later do not blow up.
    scale = np.where(spread > 1e-9, spread, 1.0)
    xt = torch.tensor((x - mean) / scale, dtype=torch.float64)
    yt = torch.tensor(np.asarray(right, np.float64))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    if len(x):
        opt.step(closure)
    return {"features": list(FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "weights": w.detach().numpy().tolist(), "bias": float(b.detach()[0])}


def cross_fitted_scores(x: np.ndarray, right: np.ndarray, *, folds: int = FOLDS, repeats: int = REPEATS,
                        seed: int = 0, l2: float = L2) -> np.ndarray:
    """Out-of-fold scores ``float64 [repeats, N]`` of fields with features ``x`` and ``right``: the fields
    are dealt into ``folds`` folds (``repeats`` times, each time dealt anew from ``seed``), and each fold
    is scored by a regression (:func:`fit`) fitted on the other folds only. Every field gets scores from
    regressions that never saw it, so a threshold can be chosen on all of them (:func:`threshold_for_error`
    on the pooled scores) instead of on the half a regression fitted on the other half did not see."""
    x = np.asarray(x, np.float64)
    right = np.asarray(right, bool)
    out = np.zeros((repeats, len(right)))
    rng = np.random.default_rng(seed)
    for r in range(repeats):
        fold = rng.permutation(len(right)) % folds
        for k in range(folds):
            held = fold == k
            if held.any():
                out[r, held] = score(fit(x[~held], right[~held], l2), x[held])
    return out


def check_scorer(scorer: dict) -> None:
    """:class:`ocr.errors.OCRError` when ``scorer`` uses a feature this version of ocr does not know (it
    was fitted by another version), or its columns do not match its feature names. A scorer fitted on
    fewer features (an older version's) is fine: :func:`score` takes the columns it names."""
    names = list(scorer.get("features", ()))
    unknown = [f for f in names if f not in FEATURES]
    sizes = {len(scorer.get(k, ())) for k in ("mean", "scale", "weights")}
    if not names or unknown or sizes != {len(names)}:
        from ocr.errors import OCRError
        what = f"features this version of ocr does not know ({', '.join(map(str, unknown))})" if unknown \
            else "a malformed feature list"
        raise OCRError(f"the weights' field scores use {what}: run `ocr calibrate` on them, or use --field-error 0")


def score(scorer: dict, x: np.ndarray) -> np.ndarray:
    """The log-odds that fields with features ``x`` (``[N, len(FEATURES)]`` or ``[len(FEATURES)]``) are
    read right, by the features ``scorer`` was fitted on."""
    check_scorer(scorer)
    cols = [FEATURES.index(f) for f in scorer["features"]]
    z = (np.asarray(x, np.float64)[..., cols] - np.asarray(scorer["mean"])) / np.asarray(scorer["scale"])
    # Summed the same way for one field as for many (a matrix product may round differently from a dot
    # product), so that the field whose score set a threshold scores exactly that when read alone.
    out = np.zeros(z.shape[:-1])
    for k, w in enumerate(scorer["weights"]):
        out = out + z[..., k] * w
    return out + scorer["bias"]


def threshold_for_error(scores: np.ndarray, right: np.ndarray, n: int, target: float) -> dict:
    """The lowest score threshold at which the fields scored at least it are wrong at most ``target``
    of the time, with the share of ``n`` strips it accepts and their error: ``{"score", "accepted",
    "error"}`` (``score`` ``inf`` when none is)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    s = np.asarray(scores)[order]
    wrong = np.cumsum(~np.asarray(right, bool)[order])
    k = np.arange(1, len(s) + 1)
    # Only cut between distinct scores: fields with the same score are taken together.
    last = np.r_[s[1:] != s[:-1], True]
    good = np.flatnonzero((wrong <= target * k) & last)
    if not len(good):
        return {"score": float("inf"), "accepted": 0.0, "error": 0.0}
    i = int(good.max())
    return {"score": float(s[i]), "accepted": float(k[i] / max(n, 1)), "error": float(wrong[i] / k[i])}

"""Training examples as the pipeline sees them: what the segmenter cuts out of scanned fields.

MNIST digits are clean, centred and isolated; the reader's candidates are not. They were written
larger and scanned (blur, noise, JPEG), binarised, had printed lines taken out from under them,
and some are not one digit at all: two touching digits read whole, a cut in the wrong place, a
currency sign. The paper trains its recogniser on the segmenter's own output for this reason
(section VI and VIII: the recogniser must learn to give bad segments high penalties).

:func:`field_examples` writes synthetic field strips (:func:`ocr.handwriting.make_field`) with the
digits it is given (the MNIST *training* digits: the benchmarks write with test digits), cleans and
segments them with the pipeline's own :func:`ocr.fields.clean_field` and :func:`ocr.segment.segment`,
and labels every candidate of the segmentation graphs by who wrote its ink
(:attr:`ocr.handwriting.FieldStrip.owner`):

- a candidate whose ink is almost all one digit's (*purity* >= ``DIGIT_PURITY``) and holds almost
  all of that digit's ink (*cover* >= ``DIGIT_COVER``) is that digit;
- one that is not mostly one digit (purity < ``RUBBISH_PURITY``: two digits read as one, a sign)
  or holds too little of it (cover < ``RUBBISH_COVER``: a slice, a broken-off stroke) is
  :data:`ocr.lenet5.RUBBISH`;
- in between (a digit less a serif, or with a bit of its neighbour) it is left out: neither label
  is safe.

Every example goes through :func:`ocr.normalize.normalize_digit`, the one normalisation.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields

import cv2
import numpy as np

from ocr.assemble import ALLOWED_COUNTS, format_value
from ocr.errors import OCRError
from ocr.fields import clean_field
from ocr.handwriting import DigitPool, make_field, random_value
from ocr.lenet5 import RUBBISH
from ocr.normalize import SIZE, normalize_digit
from ocr.records import Box, FieldImage
from ocr.segment import DRIFT, segment

DIGIT_PURITY = 0.9
DIGIT_COVER = 0.9
RUBBISH_PURITY = 0.7
RUBBISH_COVER = 0.6
# Strips cleaned with hysteresis: paper this many pixels round a digit's ink counts as that digit's
# (owner_in_clean): the blur about its strokes that the mask now holds (2: the scanner's blur, sigma <= 0.8).
OWNER_GROWTH = 2
FIELD_TYPES = ("zip", "amount", "date")
# What the field thresholds are calibrated for: each type written freely, and zips and dates written in
# printed cells, one digit in each, as forms and cheques have them (nothing touches there).
CALIBRATED = ("zip", "amount", "date", "zip/cells", "date/cells")


def label_candidates(masks: Sequence[np.ndarray], boxes: Sequence[Box], owner: np.ndarray,
                     ink: np.ndarray, *, purity: float = DIGIT_PURITY, cover: float = DIGIT_COVER) -> np.ndarray:
    """Label candidates by who wrote their ink.

    ``masks[k]`` ``bool`` is candidate k's ink inside ``boxes[k]``; ``owner`` ``int [h, w]`` the
    writer of each pixel (digit index, -2 a mark, -1 paper); ``ink`` ``bool [h, w]`` everything the
    segmenter saw as ink (a digit's total). ``purity`` and ``cover`` are what a digit's candidate must
    reach (``DIGIT_PURITY``, ``DIGIT_COVER`` by default). Returns ``int64 [len(masks)]``: the digit's
    index in the field (0, 1, ...), ``-1`` for rubbish, ``-2`` for left out.
    """
    n_digits = int(owner.max()) + 1 if owner.size else 0
    totals = np.bincount(owner[ink & (owner >= 0)], minlength=n_digits)
    out = np.full(len(masks), -2, np.int64)
    for k, (m, (x0, y0, x1, y1)) in enumerate(zip(masks, boxes, strict=True)):
        who = owner[y0:y1, x0:x1][m]
        counts = np.bincount(who[who >= 0], minlength=n_digits)
        if who.size == 0 or n_digits == 0 or counts.max() == 0:
            out[k] = -1
            continue
        best = int(np.argmax(counts))
        own = counts[best] / who.size
        held = counts[best] / max(totals[best], 1)
        if own >= purity and held >= cover:
            out[k] = best
        elif own < RUBBISH_PURITY or held < RUBBISH_COVER:
            out[k] = -1
    return out


def cut_strips(pool: DigitPool, seed: int, n_fields: int, touching: float, types: Sequence[str] = FIELD_TYPES,
               drift: float = DRIFT, hysteresis: bool = False):
    """Write ``n_fields`` synthetic strips (the field ``types`` in turn, ``touching`` of the digits touching
    the one before) and cut each as the reader does (``hysteresis``: cleaned with it). Yields ``(strip,
    clean, seg, owner)`` for every strip the segmenter cut into at least one candidate, ``owner`` the writer
    of each cleaned pixel (:func:`owner_in_clean`); a strip the pipeline rejects is passed over."""
    rng = np.random.default_rng(seed)
    for i in range(n_fields):
        field_type = types[i % len(types)]
        strip = make_field(field_type, random_value(field_type, rng), rng, pool=pool, touching_p=touching)
        try:
            clean = clean_field(strip.image, hysteresis=hysteresis)
            seg = segment(clean.ink, clean.mask, field_type, drift=drift)
        except OCRError:
            continue
        if not any(g.candidates for g in seg.groups):
            continue
        yield strip, clean, seg, owner_in_clean(strip, clean, grow=OWNER_GROWTH if hysteresis else 0)


def _examples_of_fields(pool: DigitPool, seed: int, n_fields: int, touching: float,
                        drift: float = DRIFT, hysteresis: bool = False) -> tuple[np.ndarray, np.ndarray]:
    inputs: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for strip, clean, seg, owner in cut_strips(pool, seed, n_fields, touching, drift=drift, hysteresis=hysteresis):
        comps = [c for g in seg.groups for c in g.candidates]
        which = label_candidates([c.ink > 0 for c in comps], [c.bbox for c in comps], owner, clean.mask)
        digits = [int(ch) for ch in strip.value if ch.isdigit()]
        for c, k in zip(comps, which, strict=True):
            if k == -2:
                continue
            try:
                inputs.append(normalize_digit(c.ink))
            except OCRError:
                continue
            targets.append(RUBBISH if k == -1 else digits[k])
    x = np.stack(inputs) if inputs else np.zeros((0, SIZE, SIZE), np.float32)
    return x, np.asarray(targets, np.int64)


def owner_in_clean(strip, clean, grow: int = 0) -> np.ndarray:
    """The writer of each pixel of a strip (``FieldStrip.owner``) carried into its cleaned (levelled)
    field's pixels (``CleanField``): ``int64 [h, w]``, digit index, -2 a mark, -1 paper. ``grow``: paper
    within that many pixels (8-connected) of a digit's is that digit's too, the blur round its strokes that
    a hysteresis mask holds (:func:`ocr.fields.join_faint`); without, a thin stroke's candidate would be
    half paper and labelled rubbish."""
    h, w = clean.mask.shape
    owner = cv2.warpAffine(strip.owner.astype(np.float32), clean.to_crop, (w, h),
                           flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=-1).astype(np.int64)
    for _ in range(grow):
        near = cv2.dilate((owner + 2).astype(np.uint16), np.ones((3, 3), np.uint8)).astype(np.int64) - 2
        owner = np.where((owner == -1) & (near >= 0), near, owner)
    return owner


_WORKER_POOL: DigitPool | None = None


def _init_worker(images: np.ndarray, labels: np.ndarray) -> None:
    global _WORKER_POOL
    _WORKER_POOL = DigitPool(images, labels)


def _work(job: tuple) -> object:
    func, args = job
    assert _WORKER_POOL is not None
    return func(_WORKER_POOL, *args)


def map_over_digits(func, jobs: Sequence[tuple], images: np.ndarray, labels: np.ndarray, workers: int = 1) -> list:
    """``[func(pool, *job) for job in jobs]`` with ``pool`` a :class:`DigitPool` of ``images`` and
    ``labels``, spread over ``workers`` processes (``func`` a module-level function, so it can be sent
    to them); the results in the jobs' order."""
    if workers <= 1:
        pool = DigitPool(images, labels)
        return [func(pool, *job) for job in jobs]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(images, labels)) as ex:
        return list(ex.map(_work, [(func, job) for job in jobs]))


def field_examples(images: np.ndarray, labels: np.ndarray, n_fields: int, seed: int, *, touching: float = 0.15,
                   workers: int = 1, chunk: int = 250, drift: float = DRIFT,
                   hysteresis: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Candidates cut by the pipeline from ``n_fields`` synthetic zip, amount and date strips.

    Parameters
    ----------
    images, labels : ndarray
        The digits to write with: ``uint8 [M, 28, 28]`` (ink bright) and ``[M]``.
    n_fields : int
        Strips to write, the three field types in turn.
    seed : int
        The same seed, digits and ``chunk`` give the same examples whatever ``workers`` is.
    touching : float
        Probability that a digit touches the one before it.
    workers : int
        Processes to spread the strips over.
    drift : float
        How freely the segmenter's cut paths may wander (:data:`ocr.segment.DRIFT`, the reader's, by
        default; training examples use :data:`ocr.segment.TRAIN_DRIFT`).
    hysteresis : bool
        Clean the strips with hysteresis (:func:`ocr.fields.join_faint`), as a network trained with
        ``ocr train --hysteresis`` reads.

    Returns
    -------
    (inputs ``float32 [N, 32, 32]``, targets ``int64 [N]``: 0-9 or :data:`ocr.lenet5.RUBBISH`)
    """
    jobs = [(int(zlib.crc32(f"{seed}:{k}".encode())), min(chunk, n_fields - k), touching, drift, hysteresis)
            for k in range(0, n_fields, chunk)]
    parts = map_over_digits(_examples_of_fields, jobs, images, labels, workers)
    if not parts:
        return np.zeros((0, SIZE, SIZE), np.float32), np.zeros(0, np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# --- thresholds calibrated on whole fields ------------------------------------------------------

FIELD_TARGETS = (0.02, 0.01, 0.005, 0.002)  # error rates among accepted fields the per-type thresholds are for
FIELD_STEP = 0.5  # margin step of the threshold scan


def strip_truth(field_type: str, value: str) -> str:
    """What the reader should return for a strip written with ``value`` (``"1689.50"``, ``"123456789"``)."""
    digits = value.replace(".", "")
    point = value.index(".") if "." in value else None
    return format_value(field_type, [int(d) for d in digits], point)


def calibrate_fields(classifier, images: np.ndarray, labels: np.ndarray, n_per_type: int, seed: int, *,
                     touching: float = 0.1, targets: Sequence[float] = FIELD_TARGETS,
                     types: Sequence[str] = CALIBRATED, description: str = "") -> dict:
    """Per field type, a field score (:mod:`ocr.fieldscore`) and the thresholds on it at which the
    *fields* the reader accepts are wrong at most ``targets`` of the time.

    A digit threshold calibrated on single digits says little about fields: a zip has five digits to
    get wrong, and a touching pair read confidently as one digit is a wrong field with no wrong
    digit in it. So whole fields are judged: ``2 * n_per_type`` strips of each type are written with
    the held-out digits (``images``, ``labels``: never the training digits; ``touching`` of the
    digits touch the one before) and read once through the pipeline with the digit threshold
    (:func:`ocr.reader.prepare_fields`, one classification, :func:`ocr.reader.decide_fields`). The
    reader's choice of path does not depend on the field thresholds, so a field is accepted at a
    score threshold exactly when it is accepted with the digit threshold and its score reaches it.
    The score's logistic regression is fitted on the accepted fields of all ``2 * n_per_type`` strips
    (:func:`ocr.fieldscore.fit`); each target's threshold is the lowest that holds it
    (:func:`ocr.fieldscore.threshold_for_error`) on the out-of-fold scores of those same strips
    (:func:`ocr.fieldscore.cross_fitted_scores`: each scored by regressions fitted without it), so it is
    not chosen on scores of the fields a regression was fitted to, and it rests on all the strips, not
    half of them.

    ``types`` are :func:`ocr.classify.threshold_key` s: ``"date"`` is written freely, ``"date/cells"``
    in printed cells, one digit in each (comb fields: nothing touches).

    Returns ``{"n", "seed", "touching", "digits", "thresholds": {key: {"0.01": {"score", "accepted",
    "error"}}}, "scorers": {key: scorer}, "digit_threshold": {type: {"accepted", "error"}},
    "wide_alone": [types whose wide blobs read whole count as alone], "cross_fitted": {"folds",
    "repeats"}}``; the figures are on the strips the thresholds were chosen on (their out-of-fold scores),
    and ``score`` is ``inf`` when nothing meets a target.
    """
    from ocr.fieldscore import FOLDS, REPEATS, cross_fitted_scores, fit, threshold_for_error

    pool = DigitPool(images, labels)
    out: dict[str, dict] = {}
    plain: dict[str, dict] = {}
    scorers: dict[str, dict] = {}
    for name in types:
        strips = write_strips(name, 2 * n_per_type, seed, pool, touching)
        read = read_in_halves(classifier, strips, name)
        x, right = read.features, read.right
        scorers[name] = fit(x, right)
        pooled = cross_fitted_scores(x, right, seed=seed).ravel()
        plain[name] = {"accepted": len(right) / (2 * n_per_type), "error": float((~right).sum() / max(len(right), 1))}
        out[name] = {f"{t:g}": threshold_for_error(pooled, np.tile(right, REPEATS), REPEATS * 2 * n_per_type, t)
                     for t in targets}
    return {"n": n_per_type, "seed": seed, "touching": touching, "digits": description, "thresholds": out,
            "scorers": scorers, "digit_threshold": plain, "wide_alone": sorted(ALLOWED_COUNTS),
            "cross_fitted": {"folds": FOLDS, "repeats": REPEATS}}


def threshold_grid(base: float) -> np.ndarray:
    """The thresholds the field calibration tries, strict to loose: the digit threshold ``base``
    and every multiple of ``FIELD_STEP`` from it up to 10."""
    start = max(base, -40.0) if base < np.inf else 10.0  # an untrained model's threshold may be unbounded
    grid = np.concatenate([[base], np.arange(np.ceil(start / FIELD_STEP + 1e-9) * FIELD_STEP, 10.0 + 1e-9,
                                             FIELD_STEP)])
    return np.unique(grid)[::-1]


def write_strips(name: str, n: int, seed: int, pool: DigitPool, touching: float = 0.1) -> list:
    """``n`` synthetic strips of :func:`ocr.classify.threshold_key` ``name`` (``"zip"``,
    ``"date/cells"``: written in printed cells, one digit in each) with ``pool``'s digits, a
    ``touching`` share of them touching the one before. The same ``name`` and ``seed`` give the same
    strips wherever they are written (the calibration, the benchmarks)."""
    field_type, _, style = name.partition("/")
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return [make_field(field_type, random_value(field_type, rng), rng, pool=pool, touching_p=touching,
                       **({"boxes": "cells"} if style == "cells" else {})) for _ in range(n)]


def strip_fields(name: str, strips: Sequence, start: int = 0) -> list[FieldImage]:
    """The :class:`FieldImage` s the reader reads ``strips`` of ``name`` as (cells counted from the
    strip's digits when it is written in printed cells); ``start`` numbers the first one."""
    field_type, _, style = name.partition("/")
    return [FieldImage(name=f"{field_type}{i}", type=field_type, crop=s.image,
                       cells=sum(c.isdigit() for c in s.value) if style == "cells" else 0)
            for i, s in enumerate(strips, start)]


def read_with_digit_threshold(classifier, fields: Sequence[FieldImage], name: str) -> list:
    """Read ``fields`` once through the reader with the digit threshold alone (no field thresholds
    for :func:`ocr.classify.threshold_key` ``name``): one forward pass for all of them."""
    from ocr.reader import classify_prepared, decide_fields, prepare_fields  # the reader imports the classifier
    prep = prepare_fields(fields, hysteresis=classifier.hysteresis)
    penalties, two, readings = classify_prepared(prep, classifier)
    return decide_fields(prep, penalties, classifier, {name: {"alone": -np.inf, "joined": -np.inf}}, two, readings)


@dataclass
class AcceptedFields:
    """The fields the reader accepted at the digit threshold, of strips read in order: whether each
    value is the strip's, its :func:`weakest_margins` and its :func:`ocr.fieldscore.digit_features`."""

    right: np.ndarray  # bool [k]
    alone: np.ndarray  # float [k]
    joined: np.ndarray  # float [k]
    features: np.ndarray  # float [k, len(ocr.fieldscore.FEATURES)]


def accepted_fields(results: Sequence, strips: Sequence, name: str) -> AcceptedFields:
    """:class:`AcceptedFields` of ``results`` (in the order of ``strips``) of kind ``name``."""
    from ocr.fieldscore import FEATURES, digit_features
    field_type = name.partition("/")[0]
    right, alone, joined, feats = [], [], [], []
    for r, s in zip(results, strips, strict=True):
        if r.status != "accepted":
            continue
        a, j = weakest_margins(r, name)
        alone.append(a)
        joined.append(j)
        feats.append(digit_features(r.digits, name))
        right.append(r.value == strip_truth(field_type, s.value))
    return AcceptedFields(np.asarray(right, bool), np.asarray(alone, float), np.asarray(joined, float),
                          np.asarray(feats, float).reshape(len(right), len(FEATURES)))


def read_in_halves(classifier, strips: Sequence, name: str) -> AcceptedFields:
    """:class:`AcceptedFields` of ``strips`` of kind ``name`` read at the digit threshold in two halves, as
    :func:`calibrate_fields` reads them (memory: every candidate of a half is normalised at once). Margins
    depend in their sixth digit on which fields share a forward pass, so reading the same strips otherwise
    can give the nearly separable out-of-fold regressions of a few dozen strips other thresholds."""
    half = len(strips) // 2
    parts = [accepted_fields(read_with_digit_threshold(classifier, strip_fields(name, part, start), name), part, name)
             for start, part in ((0, strips[:half]), (half, strips[half:]))]
    return AcceptedFields(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(AcceptedFields)))


def accepted_margins(results: Sequence, strips: Sequence, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each accepted result (in order) of strips of ``name``: whether its value is the strip's, and
    its :func:`weakest_margins`."""
    a = accepted_fields(results, strips, name)
    return a.right, a.alone, a.joined


def weakest_margins(result, name: str) -> tuple[float, float]:
    """The lowest margin among a field result's digits read alone and among its joined digits
    (``inf`` when it has none of a kind), for :func:`ocr.classify.threshold_key` ``name``: the margins
    the reader judged each digit by (a date's against the readings its grammar allows)."""
    from ocr.classify import source_kind
    m = np.array([d.margin for d in result.digits], np.float64)
    kinds = np.array([source_kind(d.source, name) for d in result.digits])
    alone = float(m[kinds == "alone"].min()) if (kinds == "alone").any() else np.inf
    joined = float(m[kinds == "joined"].min()) if (kinds == "joined").any() else np.inf
    return alone, joined


def choose_pair(ok: np.ndarray, alone: np.ndarray, joined: np.ndarray, n: int, target: float,
                grid: np.ndarray) -> dict:
    """The pair of thresholds on ``grid`` that accepts the most of ``n`` strips with the error among
    them at or below ``target`` (the stricter pair on a tie); ``inf`` when none does."""
    best = {"alone": float("inf"), "joined": float("inf"), "accepted": 0.0, "error": 0.0}
    most = 0
    for ta in grid:
        for tj in grid:
            take = (alone >= ta) & (joined >= tj)
            k, wrong = int(take.sum()), int((take & ~ok).sum())
            if k > most and wrong <= target * k:
                most = k
                best = {"alone": float(ta), "joined": float(tj), "accepted": k / n, "error": wrong / k}
    return best

"""Batched LeNet-5 inference on a device: 32x32 inputs -> RBF penalties -> labels and confidence.

One forward pass per batch, never per digit: callers hand over every digit of a chunk of
documents at once as ``float32 [N, 32, 32]`` and get ``[N, 10]`` penalties back.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ocr.assemble import ALLOWED_COUNTS
from ocr.errors import OCRError
from ocr.fieldscore import check_scorer
from ocr.lenet5 import fold_for_inference, load_weights, pad_batch, padded_rows, resolve_device
from ocr.normalize import BACKGROUND
from ocr.reject import Rejector, best_two
from ocr.views import AS_IS, mean_over_views, view_stack

ENV_WEIGHTS = "OCR_WEIGHTS"
SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "lenet5.pt"
DEFAULT_TARGET = 0.001  # digit error among accepted digits the default threshold is calibrated for
# Error among accepted *fields* the per-type thresholds are calibrated for (when the weights carry a
# field calibration, see ocr.fieldset.calibrate_fields): every digit must pass the digit threshold and
# the field its type's field score (ocr.fieldscore; older weights: a digit threshold per type).
DEFAULT_FIELD_TARGET = 0.01
# Field types held to a stricter field error than the one asked for: money. At 1% the thresholds
# calibrated on strips let 0.9-1.7% of accepted amounts through wrong on fresh synthetic documents
# (README); at 0.5%, 1 in 999.
FIELD_TARGET_CAPS = {"amount": 0.005}
FIELD_ERROR_HELP = ("error among accepted fields that the per-type field score thresholds are calibrated for, "
                    "when the weights carry a field calibration (every digit must pass the digit threshold and "
                    "the field its score); amounts are held "
                    "to at most 0.005; 0: the digit threshold only. Per type: 'zip=0.02,amount=0.005' (a type "
                    "named is held to exactly that, amounts too; a bare number is for the types not named)")
# The field types a --field-error may name.
FIELD_TYPES = ("zip", "amount", "date", "digits")
FieldError = float | str | None  # 0.01, or a per-type spec "zip=0.02,amount=0.005" (parse_field_error)


def parse_field_error(spec: FieldError) -> dict[str, float]:
    """A ``--field-error`` -> ``{field type: target}``, with ``"*"`` for the types not named.

    ``0.01`` (or ``"0.01"``) -> ``{"*": 0.01}``; ``"zip=0.02,amount=0.005"`` -> ``{"*": 0.01 (the
    default), "zip": 0.02, "amount": 0.005}``; ``None`` -> ``{"*": 0}`` (digit threshold only).
    A type named explicitly is not held to :data:`FIELD_TARGET_CAPS`. A malformed spec raises
    :class:`OCRError` saying what is wrong.
    """
    if spec is None:
        return {"*": 0.0}
    if isinstance(spec, (int, float)):
        return {"*": float(spec)}
    out = {"*": DEFAULT_FIELD_TARGET}
    for item in str(spec).split(","):
        name, eq, value = item.strip().rpartition("=")
        name = name.strip() if eq else "*"
        if eq and name not in FIELD_TYPES:
            raise OCRError(f"--field-error: unknown field type {name!r} in {spec!r} "
                           f"(types: {', '.join(FIELD_TYPES)})")
        try:
            target = float(value)
        except ValueError:
            raise OCRError(f"--field-error: {value.strip()!r} in {spec!r} is not a number "
                           "(e.g. 0.01, or zip=0.02,amount=0.005)") from None
        if not 0 <= target < 1:
            raise OCRError(f"--field-error: {target:g} in {spec!r} is not an error rate between 0 and 1")
        out[name] = target
    return out


def field_error_option(text: str) -> float | str:
    """argparse ``type`` for ``--field-error``: a number stays a float, a per-type spec its text
    (checked here, so that a typo stops the command before any work)."""
    try:
        targets = parse_field_error(text)
    except OCRError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--field-error: ")) from None
    return targets["*"] if set(targets) == {"*"} else str(text)


# Digits per forward pass when none is asked for (``--batch-size auto``), by device. On a CPU, 64: a batch of
# documents reads as fast or faster than at 512 and its peak memory is 80-100 MiB lower (each digit goes through
# the network five times, once per test-time view, so 512 digits made 2,560 rows of activations: the largest
# arrays of a chunk; README, "Throughput"). On a GPU, 4096 (not measured here: no GPU was lent to this work).
CPU_BATCH = 64
GPU_BATCH = 4096
DEFAULT_BATCH: int | None = None  # None: CPU_BATCH or GPU_BATCH, by the device the network runs on
BATCH_HELP = f"digits per forward pass (default auto: {CPU_BATCH} on a CPU, {GPU_BATCH} on a GPU)"


def check_batch_size(asked: int | None) -> int | None:
    """``asked`` as an ``int``, or ``None`` (auto); anything else is a clear error."""
    if asked is None:
        return None
    if isinstance(asked, bool) or not isinstance(asked, (int, np.integer)) or asked < 1:
        raise OCRError(f"batch size must be a whole number of at least 1 (or auto), got {asked!r}")
    return int(asked)


def batch_size_for(device: torch.device, asked: int | None = None) -> int:
    """Digits per forward pass: ``asked``, or by ``device`` when it is ``None`` (:data:`CPU_BATCH`,
    :data:`GPU_BATCH`)."""
    asked = check_batch_size(asked)
    if asked is None:
        return GPU_BATCH if device.type == "cuda" else CPU_BATCH
    return asked


def batch_size_option(text: str) -> int | None:
    """``--batch-size``: ``auto`` (``None``: by device) or a whole number of at least 1."""
    if text.strip().lower() == "auto":
        return None
    try:
        return check_batch_size(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number, got {text!r}") from None
    except OCRError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def default_weights() -> Path:
    """``$OCR_WEIGHTS`` if set, else the shipped ``models/lenet5.pt``."""
    return Path(os.environ.get(ENV_WEIGHTS) or SHIPPED_WEIGHTS)


@dataclass
class Verdicts:
    """Per-digit classifier output for a batch (all arrays of length N)."""

    labels: np.ndarray  # int64
    penalties: np.ndarray  # float32 [N, 10]
    best: np.ndarray  # float32
    second: np.ndarray  # float32
    confidence: np.ndarray  # float64 in [0, 1]
    accepted: np.ndarray  # bool


# Where a digit of a field came from, for the field thresholds: read whole ("alone"), or cut from a
# wider blob or read whole from one where a touching pair could hide ("joined"). Joined digits are
# where touching pairs read as one digit and wrong cuts hide, so they get their own, stricter,
# threshold. In a field whose digit count its grammar fixes (zip, date), a pair read as one digit
# breaks the count, so a wide blob read whole is as safe as a digit that stood alone (on 1,000
# development zips, 3 of 2,440 such digits were wrong at the digit threshold, 21 of 441 cut pieces);
# in an amount it is the likeliest wrong reading.
SOURCES = ("alone", "joined")


def source_kind(source: str, key: str = "", wide_alone=tuple(ALLOWED_COUNTS)) -> str:
    """``DigitResult.source`` ("blob", "wide blob", "cut") in a field with thresholds ``key``
    (:func:`threshold_key`) -> "alone" or "joined". ``wide_alone``: the keys whose wide blobs read
    whole count as alone (weights calibrated before this distinction carry none, and keep the
    thresholds they were calibrated for). Not comb fields (``"zip/cells"``): nothing can touch there,
    and counting their wide blobs as alone cost the comb thresholds 4 points of acceptance at 1% field
    error and 23 at 0.5% (such blobs are read wrong more often)."""
    if source == "blob" or (source == "wide blob" and key in wide_alone):
        return "alone"
    return "joined"


def threshold_key(field_type: str, cells: int = 0, among=None) -> str:
    """The key of a field's thresholds: ``"date"``, or ``"date/cells"`` for a field written in printed
    cells, one digit in each (no two digits can touch). With ``among`` (the keys a calibration has), a
    field in cells falls back to its type's key when there is none for cells."""
    key = f"{field_type}/cells" if cells > 1 else field_type
    return key if among is None or key in among else field_type


def field_thresholds(calibration: dict, field_target: FieldError) -> dict[str, dict[str, float]]:
    """Per field type, what its fields must reach for the ``field_target`` error among accepted
    fields (:func:`parse_field_error`): the digit margins (``{"alone": t, "joined": t}``) of weights
    calibrated with threshold pairs, or a field score (``{"alone": -inf, "joined": -inf, "score": t}``,
    :mod:`ocr.fieldscore`) of weights that carry a scorer per type; the type's own target
    when it is named, else the one for all types, held to :data:`FIELD_TARGET_CAPS`. A type whose
    target is 0 has none (the digit threshold only); so has every type for weights without a field
    calibration. A target the calibration does not hold is an error that names those it does."""
    targets = parse_field_error(field_target)
    cal = calibration.get("fields", {})
    if not cal:
        return {}
    calibrated = cal.get("thresholds", {})
    for named in {t for t, target in targets.items() if target and t != "*"}:
        if not any(key.partition("/")[0] == named for key in calibrated):
            raise OCRError(f"--field-error names {named} fields, which the weights have no field calibration for "
                           f"(calibrated: {', '.join(sorted(calibrated)) or 'none'})")
    out = {}
    for field_type, by_target in calibrated.items():
        base = field_type.partition("/")[0]
        target = targets[base] if base in targets else min(targets["*"], FIELD_TARGET_CAPS.get(base, targets["*"]))
        if not target:
            continue
        key = f"{target:g}"
        if key not in by_target:
            raise OCRError(f"no calibrated threshold for field error {key} on {field_type} fields "
                           f"(calibrated: {', '.join(sorted(by_target)) or 'none'})")
        if "score" in by_target[key]:  # a field score (ocr.fieldscore): digits need only the digit threshold
            out[field_type] = {"alone": -np.inf, "joined": -np.inf, "score": float(by_target[key]["score"])}
            continue
        if not all(kind in by_target[key] for kind in SOURCES):
            raise OCRError("the weights' field thresholds are in an older format (one per field type): run "
                           "`ocr calibrate` on them, or use --field-error 0")
        out[field_type] = {kind: float(by_target[key][kind]) for kind in SOURCES}
    return out


class Classifier:
    """A loaded LeNet-5 with its calibrated rejection threshold.

    >>> clf = Classifier.load()                       # shipped weights, device auto
    >>> v = clf.classify(normalize_many(crops))        # doctest: +SKIP
    """

    def __init__(self, model: torch.nn.Module, info: dict, device: torch.device,
                 batch_size: int | None = DEFAULT_BATCH, target: float = DEFAULT_TARGET,
                 weights: Path | None = None, field_target: FieldError = DEFAULT_FIELD_TARGET):
        self.model = model
        self.info = info
        self.device = device
        self.batch_size = batch_size_for(device, batch_size)
        self.weights = weights
        self.rejector = Rejector.from_calibration(info["j"], info["calibration"], target)
        self.field_thresholds = field_thresholds(info["calibration"], field_target)
        self.wide_alone = tuple(info["calibration"].get("fields", {}).get("wide_alone", ()))
        # Per threshold key, the field score's regression (ocr.fieldscore) when the weights carry one.
        self.field_scorers = dict(info["calibration"].get("fields", {}).get("scorers", {}))
        for scorer in self.field_scorers.values():
            check_scorer(scorer)
        # The test-time views the thresholds were calibrated with (ocr.views); none for older weights.
        self.views = tuple(tuple(v) for v in info["calibration"].get("views", AS_IS))
        # Whether the network was trained and calibrated on fields cleaned with hysteresis (ocr.fields.join_faint);
        # the reader cleans as it was (older weights: no).
        self.hysteresis = bool(info["calibration"].get("hysteresis", False))
        # The two-digit detector (ocr.pairs) the weights carry, or None. Its doubts only send fields to a
        # person; whether the field thresholds counted them is in calibration["fields"]["pairs"].
        self.pairs = info.get("pairs")
        # The pair reader (ocr.pairs.PairReader) the weights carry, or None: a feature of the field score.
        self.pair_reader = info.get("pair_reader")
        self.forward_passes = 0  # counts batches, so tests can check the batching
        self.settle()
        self.forward_passes = 0  # (the blank passes are not counted)

    def settle(self) -> None:
        """One blank pass through each network before the first real one. On a CPU with two threads the
        first forward pass of a process now and then sums in another order than every later one (penalties
        about 1e-5 apart, run to run, found by a killed and restarted batch whose digits.csv differed from an
        uninterrupted run's in the sixth decimal); after one pass they are the same from run to run."""
        from ocr.normalize import PAIR_WIDTH, SIZE

        blank = np.full((1, SIZE, SIZE), BACKGROUND, np.float32)
        self.read(blank, ask=np.ones(1, bool))
        self.read_marks(np.full((1, SIZE, PAIR_WIDTH), BACKGROUND, np.float32))

    def threshold_for(self, field_type: str, source: str = "blob", cells: int = 0,
                      table: dict[str, dict[str, float]] | None = None) -> float:
        """The margin a digit of a ``field_type`` field must reach: the digit threshold, or the one
        calibrated for the field error target on fields of that type (written in printed ``cells``,
        when the template says so and there is a calibration for it) for digits of that ``source``
        (``DigitResult.source``) if it is stricter. ``table`` (:func:`threshold_key` -> {"alone": t,
        "joined": t}) stands in for the calibrated field thresholds when given."""
        table = self.field_thresholds if table is None else table
        key = threshold_key(field_type, cells, table)
        return max(self.rejector.threshold, table.get(key, {}).get(source_kind(source, key, self.wide_alone), -np.inf))

    @classmethod
    def load(cls, weights: str | Path | None = None, device: str = "auto", batch_size: int | None = DEFAULT_BATCH,
             target: float = DEFAULT_TARGET, field_target: FieldError = DEFAULT_FIELD_TARGET) -> Classifier:
        path = Path(weights) if weights else default_weights()
        dev = resolve_device(device)
        model, info = load_weights(path, dev)
        # Same penalties (to float rounding) with fewer operations per forward pass.
        return cls(fold_for_inference(model), info, dev, batch_size=batch_size, target=target, weights=path,
                   field_target=field_target)

    def penalties(self, inputs: np.ndarray) -> np.ndarray:
        """``float32 [N, 32, 32]`` (or ``[N, 1, 32, 32]``) -> ``float32 [N, 10]`` penalties, averaged
        over the model's test-time views (one forward pass per batch carries every view of its digits)."""
        return self.read(inputs)[0]

    @torch.inference_mode()
    def read(self, inputs: np.ndarray, ask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Penalties as :meth:`penalties`, and P(two digits) from the two-digit detector (:mod:`ocr.pairs`)
        for the rows ``ask`` marks (``bool [N]``; NaN elsewhere). The second is ``None`` when the weights
        carry no detector or nothing is asked. Each batch is one forward pass of the digit network
        (every view) and, when any of its rows is asked about, one of the detector."""
        x = np.asarray(inputs, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1:] != (1, 32, 32):
            raise ValueError(f"inputs must be [N, 32, 32], got {x.shape}")
        n = len(x)
        out = np.empty((n, 10), dtype=np.float32)
        asked = None
        if ask is not None and np.shape(ask) != (n,):
            raise ValueError(f"ask must mark each of the {n} inputs, got shape {np.shape(ask)}")
        if self.pairs is not None and ask is not None and np.any(ask):
            ask = np.asarray(ask, bool)
            asked = np.full(n, np.nan, np.float32)
        for start in range(0, n, self.batch_size):
            rows = min(self.batch_size, n - start)
            # Padded with blank inputs to a shape the backend has seen (lenet5.SHAPE_BUCKET); their answers are dropped.
            chunk = pad_batch(x[start : start + rows], self.batch_size, BACKGROUND)
            on_device = torch.from_numpy(chunk).to(self.device, non_blocking=True)
            batch = view_stack(on_device, self.views)
            out[start : start + rows] = mean_over_views(self.model(batch), len(self.views)).float().cpu().numpy()[:rows]
            if asked is not None:
                which = np.flatnonzero(ask[start : start + rows])
                if len(which):  # the detector's batch padded too (its asked inputs repeated); extra answers dropped
                    pick = np.resize(which, padded_rows(len(which), self.batch_size))
                    pick = torch.from_numpy(pick).to(self.device)
                    p_two = self.pairs.two_digits(on_device[pick]).float().cpu().numpy()
                    asked[start + which] = p_two[: len(which)]
            self.forward_passes += 1
        return out, asked

    def read_marks(self, inputs: np.ndarray) -> np.ndarray | None:
        """The pair reader's log P(reading) (``float32 [M, READINGS]``: :mod:`ocr.pairs`) of marks wide
        enough for two digits, normalised ``wide`` (``[M, 32, 64]``), one forward pass per batch; ``None``
        when the weights carry no pair reader or there are no marks."""
        from ocr.normalize import PAIR_WIDTH, SIZE
        from ocr.pairs import reading_log_probs

        x = np.asarray(inputs, dtype=np.float32)
        if self.pair_reader is None or not len(x):
            return None
        if x.shape[1:] != (SIZE, PAIR_WIDTH):
            raise ValueError(f"the pair reader reads marks normalised wide ({SIZE}x{PAIR_WIDTH}), got {x.shape[1:]}")
        return reading_log_probs(self.pair_reader, x, self.device, self.batch_size)

    def classify(self, inputs: np.ndarray) -> Verdicts:
        y = self.penalties(inputs)
        labels, best, second = best_two(y)
        _, conf, accepted = self.rejector.assess(y)
        return Verdicts(labels=labels, penalties=y, best=best, second=second, confidence=conf, accepted=accepted)

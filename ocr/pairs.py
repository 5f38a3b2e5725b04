"""A second opinion on a wide mark read as one digit: is it two touching digits?

The commonest wrong amount the reader accepted was a touching pair read whole as one confident
digit: a '1' leaning on a '5' adds little width, the pair is not cut (or no cut leaves both
digits whole), and LeNet-5 reads the '5' and is sure of it. Training the digit network to call
such pairs rubbish made it less sure of every digit (README, "training touching pairs that hide a '1' as rubbish"): its
recalibrated thresholds read fewer fields. So the question goes to a second network instead, which
answers nothing else: *one digit, or two?*

:class:`PairDetector` is LeNet-5's layers up to F6 (the same C1-S2-C3-S4-C5-F6, started from the
digit network's trained weights) with a two-way output. It sees the same 32x32 normalised input
(:func:`ocr.normalize.normalize_digit`, which keeps a mark's aspect). It is trained on what the
segmenter cuts from synthetic strips written with MNIST training digits (:func:`pair_examples`),
each candidate labelled by who wrote its ink: *one digit* (almost all of it one digit's, and almost
all of that digit), *two digits* (most of the ink of two digits), the rest left out.

The reader asks it only about the digits of amounts and digit strings (no digit count to catch a lost
digit) read whole from a mark wide enough for two (``DigitResult.source == "wide blob"``). When it says
two with probability at least :data:`TWO_DIGITS`, the field goes to a person with :func:`pair_doubt`,
shown the reading with that mark cut where a cut reading exists (:data:`ocr.reader.PAIR_COST`). It never
makes a field accepted. The shipped field thresholds were calibrated without it (it can only lower the
error among the fields they accept); ``ocr calibrate`` or ``ocr train-pairs --recalibrate`` counts its
doubts. It lives in the digit network's weights file (``pairs``), written
by ``ocr train-pairs``.

:class:`PairReader` is a second network on the same marks: it *reads* a mark wide enough for two
digits, whole, as one of the 100 digit pairs or one of the 10 digits (:data:`READINGS` classes), from
the same trunk slid along a 32x64 input (the mark normalised ``wide``: fitted to 20x20, a pair's digits
were 10 pixels wide and it read 82.8% of held-out pairs right; at 32x64 each digit is as large as a
digit alone). The reader asks it about every such mark. Its -log P of each reading of the mark (whole,
or cut into two) is added to that path's cost in the segmentation graph (:func:`ocr.reader.reading_cost`),
and the field score (:mod:`ocr.fieldscore`) is given how likely the reading the graph chose is
(``DigitResult.pair_reading``): a touching pair cut in the wrong place reads as digits the whole
mark does not look like ("78" cut into a '2' and an '8'). It is trained by ``ocr train-pair-reader``
on the marks cut from strips written with the training digits, labelled by who wrote their ink, and
lives in the weights file too (``pair_reader``).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ocr.errors import OCRError
from ocr.lenet5 import LeNet5, load_state, pad_batch, squash
from ocr.normalize import BACKGROUND, PAIR_WIDTH, SIZE

# A digit read whole from a wide mark is doubted when the detector gives two digits at least this
# probability. Chosen on 3,000 amount strips written with held-out digits: 0.9 doubts 1.3% of the
# strips the digit threshold accepts, 70% of them wrong (README, the field reader's "a second opinion
# on wide marks"; 0.5 caught no more wrong amounts at 0.5%).
TWO_DIGITS = 0.9
# Labels by who wrote a candidate's ink (ocr.handwriting.FieldStrip.owner).
ONE_PURITY = 0.9  # one digit: at least this much of its ink is one digit's ...
ONE_COVER = 0.9  # ... and it holds at least this much of that digit's ink
TWO_HELD = 0.6  # two digits: it holds at least this much of the ink of each of two digits ...
TWO_PURITY = 0.85  # ... and at least this much of its ink is theirs
PAIR_FIELD_TYPES = ("amount", "zip", "amount")  # the strips written in turn (amounts: no count to catch a pair)
PAIR_TOUCHING = 0.3  # share of their digits touching the one before (the reader's strips: 0.1)


def pair_doubt(positions: Sequence[int], cut: bool = False, narrow: bool = False) -> str:
    """The reason a field goes to a person when the marks read as the digits at ``positions`` (1-based)
    look like two touching digits each; ``cut``: the mark was read whole first, and is shown cut into
    the digits at ``positions``; ``narrow``: the marks are no wider than one digit (two strokes run
    together, a '1' drawn along a '9''s stem)."""
    where = ", ".join(map(str, positions))
    if narrow:
        return (f"the mark read as digit{'s' if len(positions) > 1 else ''} {where} looks like two digits run "
                "together (a digit hidden in it?)")
    if cut:
        digits = "digits" if len(positions) > 1 else "digit"
        return (f"a wide mark read as one digit looks like two touching digits: shown cut, as {digits} {where} "
                "(check the cut)")
    if len(positions) == 1:
        return f"the wide mark read as digit {where} looks like two touching digits (a digit lost?)"
    return f"the wide marks read as digits {where} look like two touching digits (digits lost?)"


class PairDetector(nn.Module):
    """LeNet-5 up to F6 (:meth:`ocr.lenet5.LeNet5.features`) and a linear output: logits ``[N, 2]``
    of *one digit* and *two digits* for inputs ``[N, 1, 32, 32]``."""

    def __init__(self, trunk: LeNet5 | None = None):
        super().__init__()
        self.trunk = trunk if trunk is not None else LeNet5()
        self.output = nn.Linear(84, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.trunk.features(x))

    def two_digits(self, x: torch.Tensor) -> torch.Tensor:
        """P(two digits) ``[N]``."""
        return torch.softmax(self.forward(x), dim=1)[:, 1]


def load_detector(state: dict, where: str, device: str | torch.device = "cpu") -> PairDetector:
    """A :class:`PairDetector` from its state dict (stored in a weights file ``where``), in eval mode."""
    return load_state(PairDetector(), state, f"weights file {where}, its two-digit detector,",
                      "the two-digit detector").eval().to(device)


# The pair reader's classes: 10 a + b for the pair "ab" (0-99), 100 + d for the single digit d.
READINGS = 110
READER_TOUCHING = 0.6  # share of the digits touching the one before in its training strips (more pairs)
READER_FIELDS = 60_000  # strips written to train it (about 100,000 wide marks, 42,000 of them pairs)
READER_EPOCHS = 15
MARK_COLUMNS = (PAIR_WIDTH - SIZE) // 4 + 1  # C5 columns along the pair reader's 32x64 input


def reading_class(labels: Sequence[int]) -> int | None:
    """The :data:`READINGS` class of a mark read as the digits ``labels``: ``100 + d`` for one digit,
    ``10 a + b`` for two, ``None`` for more (the pair reader cannot judge those)."""
    if len(labels) == 1:
        return 100 + int(labels[0])
    if len(labels) == 2:
        return 10 * int(labels[0]) + int(labels[1])
    return None


class PairReader(nn.Module):
    """Logits ``[N, READINGS]`` of a wide mark read whole as one of the 100 digit pairs or one of the 10
    digits, for inputs ``[N, 1, 32, 64]`` (:func:`ocr.normalize.normalize_digit` with ``wide=True``).

    LeNet-5's C1-C5 slide along the wide input (:meth:`ocr.lenet5.LeNet5.c5_maps`: 9 columns, 4 pixels
    apart, each seeing a digit-sized 32x32 window), F6 reads each column, and a linear output reads the 9
    columns' F6 states together. Started from the digit network's trained layers, each window first sees
    what the digit network saw; only the output is new."""

    def __init__(self, trunk: LeNet5 | None = None):
        super().__init__()
        self.trunk = trunk if trunk is not None else LeNet5()
        self.output = nn.Linear(84 * MARK_COLUMNS, READINGS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        columns = self.trunk.c5_maps(x).flatten(2).transpose(1, 2)  # [N, 9, 120]
        return self.output(squash(self.trunk.f6(columns)).flatten(1))

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log P(reading) ``[N, READINGS]``."""
        return torch.log_softmax(self(x), dim=1)


def load_reader(state: dict, where: str, device: str | torch.device = "cpu") -> PairReader:
    """A :class:`PairReader` from its state dict (stored in a weights file ``where``), in eval mode. A pair
    reader of the first kind (32x32 marks, one F6 state) is an :class:`OCRError` saying how to replace it."""
    out = state.get("output.weight") if isinstance(state, dict) else None
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (READINGS, 84):
        raise OCRError(f"weights file {where}: its pair reader reads marks at 32x32, as the first pair readers "
                       f"did; this version reads them at {SIZE}x{PAIR_WIDTH}. Train it again: ocr train-pair-reader "
                       f"--weights {where} --data MNIST_DIR --recalibrate")
    net = load_state(PairReader(), state, f"weights file {where}, its pair reader,", "the pair reader")
    return net.eval().to(device)


# --- training examples ----------------------------------------------------------------------------

def _ink_shares(mask: np.ndarray, box, owner: np.ndarray, totals: np.ndarray):
    """Of a candidate's ink (``mask`` inside ``box``): the share that is each digit's (``own``) and the
    share of each digit's ink it holds (``held``), both ``float [n_digits]``; ``None`` when it holds
    no digit's ink."""
    x0, y0, x1, y1 = box
    who = owner[y0:y1, x0:x1][mask]
    counts = np.bincount(who[who >= 0], minlength=len(totals))
    if who.size == 0 or counts.max() == 0:
        return None
    return counts / who.size, counts / totals


def _digit_totals(owner: np.ndarray, ink: np.ndarray) -> np.ndarray:
    n_digits = int(owner.max()) + 1 if owner.size else 0
    return np.maximum(np.bincount(owner[ink & (owner >= 0)], minlength=n_digits), 1)


def _writers(own: np.ndarray, held: np.ndarray) -> list[int]:
    """Whose digit(s) a candidate is, by its ink shares (:func:`_ink_shares`): ``[d]`` when almost all
    of it is digit ``d``'s and it holds almost all of that digit; the digits it holds most of when it
    holds most of two or more and little else; ``[]`` otherwise (left out of training)."""
    best = int(np.argmax(own))
    if own[best] >= ONE_PURITY and held[best] >= ONE_COVER:
        return [best]
    most = np.flatnonzero(held >= TWO_HELD)
    if len(most) >= 2 and own[most].sum() >= TWO_PURITY:
        return most.tolist()
    return []


def _label_each(masks: Sequence[np.ndarray], boxes: Sequence, owner: np.ndarray, ink: np.ndarray,
                label) -> np.ndarray:
    """``label(writers)`` (:func:`_writers`) of each candidate (``masks[k]`` its ink inside ``boxes[k]``),
    -1 for those that hold no digit's ink."""
    out = np.full(len(masks), -1, np.int64)
    totals = _digit_totals(owner, ink)
    if len(totals) == 0:
        return out
    for k, (m, box) in enumerate(zip(masks, boxes, strict=True)):
        shares = _ink_shares(m, box, owner, totals)
        if shares is not None:
            out[k] = label(_writers(*shares))
    return out


def label_pairs(masks: Sequence[np.ndarray], boxes: Sequence, owner: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Per candidate (``masks[k]`` its ink inside ``boxes[k]``; ``owner`` the writer of each pixel, digit
    index or negative; ``ink`` everything the segmenter saw as ink): 0 one digit, 1 two digits, -1
    neither (left out of training)."""
    return _label_each(masks, boxes, owner, ink, lambda who: min(len(who), 2) - 1)


def label_readings(masks: Sequence[np.ndarray], boxes: Sequence, owner: np.ndarray, ink: np.ndarray,
                   digits: Sequence[int]) -> np.ndarray:
    """As :func:`label_pairs`, the :data:`READINGS` class of each candidate: ``100 + d`` for one digit
    ``d`` (``digits[i]`` is the label of the strip's digit ``i``), ``10 a + b`` for exactly two digits
    ``a`` then ``b`` (left to right, as written), -1 otherwise."""
    def label(who: list[int]) -> int:
        cls = reading_class([digits[i] for i in who]) if who else None
        return -1 if cls is None else cls

    return _label_each(masks, boxes, owner, ink, label)


def _examples_of_fields(pool, seed: int, n_fields: int, touching: float, readings: bool, hysteresis: bool = False):
    """Candidates cut from strips, normalised, labelled one/two digits (every candidate) or, with
    ``readings``, by :data:`READINGS` class (the wide marks read whole only); and whether each is a wide
    mark read whole."""
    from ocr.fieldset import cut_strips
    from ocr.normalize import normalize_digit

    xs: list[np.ndarray] = []
    ys: list[int] = []
    wide: list[bool] = []
    for strip, clean, seg, owner in cut_strips(pool, seed, n_fields, touching, PAIR_FIELD_TYPES,
                                               hysteresis=hysteresis):
        comps = [(c, k == 0 and g.wide_mark) for g in seg.groups for k, c in enumerate(g.candidates)]
        if readings:
            comps = [(c, w) for c, w in comps if w]
            digits = [int(ch) for ch in strip.value if ch.isdigit()]
            labels = label_readings([c.ink > 0 for c, _ in comps], [c.bbox for c, _ in comps], owner, clean.mask,
                                    digits)
        else:
            labels = label_pairs([c.ink > 0 for c, _ in comps], [c.bbox for c, _ in comps], owner, clean.mask)
        for (c, whole_wide), y in zip(comps, labels, strict=True):
            if y < 0:
                continue
            try:
                xs.append(normalize_digit(c.ink, wide=readings))
            except OCRError:
                continue
            ys.append(int(y))
            wide.append(bool(whole_wide))
    x = np.stack(xs) if xs else np.zeros((0, SIZE, PAIR_WIDTH if readings else SIZE), np.float32)
    return x, np.asarray(ys, np.int64), np.asarray(wide, bool)


def _examples(tag: str, images: np.ndarray, labels: np.ndarray, n_fields: int, seed: int, touching: float,
              workers: int, chunk: int, readings: bool,
              hysteresis: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ocr.fieldset import map_over_digits

    jobs = [(int(zlib.crc32(f"{tag}:{seed}:{k}".encode())), min(chunk, n_fields - k), touching, readings, hysteresis)
            for k in range(0, n_fields, chunk)]
    parts = map_over_digits(_examples_of_fields, jobs, images, labels, workers)
    if not parts:
        empty = np.zeros((0, SIZE, PAIR_WIDTH if readings else SIZE), np.float32)
        return empty, np.zeros(0, np.int64), np.zeros(0, bool)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def pair_examples(images: np.ndarray, labels: np.ndarray, n_fields: int, seed: int, *,
                  touching: float = PAIR_TOUCHING, workers: int = 1, chunk: int = 250,
                  hysteresis: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates the segmenter cuts from ``n_fields`` synthetic amount and zip strips written with
    ``images``/``labels`` (``uint8 [M, 28, 28]``, ink bright), ``touching`` of the digits touching the
    one before. Returns (inputs ``float32 [N, 32, 32]``, labels ``int64 [N]`` 0 one digit / 1 two
    digits, ``bool [N]`` read whole from a wide mark). The same seed and chunk give the same examples
    whatever ``workers`` is. ``hysteresis``: the strips cleaned with it, as the digit network was trained."""
    return _examples("pairs", images, labels, n_fields, seed, touching, workers, chunk, readings=False,
                     hysteresis=hysteresis)


def reading_examples(images: np.ndarray, labels: np.ndarray, n_fields: int, seed: int, *,
                     touching: float = READER_TOUCHING, workers: int = 1, chunk: int = 250,
                     hysteresis: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The wide marks read whole that the segmenter cuts from ``n_fields`` synthetic amount and zip
    strips written with ``images``/``labels``, ``touching`` of the digits touching the one before,
    labelled by who wrote their ink (:func:`label_readings`). Returns (inputs ``float32 [N, 32, 64]``,
    :data:`READINGS` classes ``int64 [N]``); the same seed and chunk give the same examples whatever
    ``workers`` is."""
    x, y, _ = _examples("readings", images, labels, n_fields, seed, touching, workers, chunk, readings=True,
                        hysteresis=hysteresis)
    return x, y


# --- training ------------------------------------------------------------------------------------

def _in_batches(net: nn.Module, answer, x: np.ndarray, device, batch_size: int, empty: tuple) -> np.ndarray:
    """``answer(batch)`` (a method of ``net``) for inputs ``[N, H, W]``, in eval mode, ``batch_size``
    at a time; ``float32 [0, *empty]`` for no inputs."""
    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            rows = min(batch_size, len(x) - i)  # padded with blank inputs to a shape seen before (lenet5.pad_batch)
            xb = pad_batch(np.ascontiguousarray(x[i : i + rows], np.float32), batch_size, BACKGROUND)
            out.append(answer(torch.from_numpy(xb).unsqueeze(1).to(device)).float().cpu().numpy()[:rows])
    return np.concatenate(out) if out else np.zeros((0, *empty), np.float32)


def probabilities(net: PairDetector, x: np.ndarray, device, batch_size: int = 4096) -> np.ndarray:
    """P(two digits) ``float32 [N]`` for inputs ``[N, 32, 32]``."""
    return _in_batches(net, net.two_digits, x, device, batch_size, ())


def fit(net: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch_size: int,
        generator: torch.Generator, device, log=print, decay: float = 0.5) -> list[dict]:
    """Cross-entropy with Adam, the learning rate times ``decay`` each epoch; the whole network trains."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)
    history = []
    for epoch in range(epochs):
        net.train()
        for group in opt.param_groups:
            group["lr"] = lr * decay ** epoch
        t0, total = time.time(), 0.0
        order = torch.randperm(len(yt), generator=generator)
        for start in range(0, len(yt), batch_size):
            b = order[start : start + batch_size]
            loss = F.cross_entropy(net(xt[b].to(device)), yt[b].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        history.append({"epoch": epoch + 1, "loss": total / max(len(yt), 1), "seconds": round(time.time() - t0, 1)})
        log(f"epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.4f}, {history[-1]['seconds']:.0f}s")
    net.eval()
    return history


def detector_figures(p: np.ndarray, y: np.ndarray, wide: np.ndarray, threshold: float = TWO_DIGITS) -> dict:
    """How the detector splits held-out candidates at ``threshold``: among all of them and among those
    read whole from a wide mark (the ones the reader asks about), the share of one-digit candidates
    called two (false alarms) and of two-digit candidates called two (found)."""
    out = {}
    for name, sel in (("all", np.ones(len(y), bool)), ("wide", wide)):
        one, two = sel & (y == 0), sel & (y == 1)
        out[name] = {"one": int(one.sum()), "two": int(two.sum()),
                     "false_alarms": float((p[one] >= threshold).mean()) if one.any() else 0.0,
                     "found": float((p[two] >= threshold).mean()) if two.any() else 0.0}
    return out


def reading_log_probs(net: PairReader, x: np.ndarray, device, batch_size: int = 4096) -> np.ndarray:
    """log P(reading) ``float32 [N, READINGS]`` for inputs ``[N, 32, 64]``."""
    return _in_batches(net, net.log_probs, x, device, batch_size, (READINGS,))


def reader_figures(log_p: np.ndarray, y: np.ndarray) -> dict:
    """How often the pair reader's best reading of held-out wide marks is theirs: among pairs, among
    single digits, and how often it reads a pair as one digit or a digit as a pair."""
    best = np.argmax(log_p, axis=1) if len(log_p) else np.zeros(0, np.int64)
    pair = y < 100
    return {"pairs": int(pair.sum()), "singles": int((~pair).sum()),
            "pairs_read_right": float((best[pair] == y[pair]).mean()) if pair.any() else 0.0,
            "singles_read_right": float((best[~pair] == y[~pair]).mean()) if (~pair).any() else 0.0,
            "pairs_read_as_one": float((best[pair] >= 100).mean()) if pair.any() else 0.0,
            "singles_read_as_two": float((best[~pair] < 100).mean()) if (~pair).any() else 0.0}

"""Training LeNet-5 on MNIST with random distortions, calibration of the rejection thresholds, and
the model card.

The paper's best LeNet-5 (0.8% test error) was trained on the 60,000 MNIST digits plus random
planar affine distortions (section III.C.3). Here every batch is distorted afresh on the fly:
small affine transforms, Simard-style elastic distortions, and a little stroke-width jitter
(scanned pens are thicker or thinner than MNIST's). The optimiser is Adam with a cosine schedule
rather than the paper's stochastic diagonal Levenberg-Marquardt: it reaches the same error in fewer
epochs on a CPU; the network and the loss are the paper's.
"""

from __future__ import annotations

import json
import math
import os
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ocr import mnist
from ocr.errors import OCRError
from ocr.lenet5 import (
    RUBBISH,
    Committee,
    LeNet5,
    layer_parameter_counts,
    load_weights,
    map_loss,
    resolve_device,
    save_weights,
)
from ocr.normalize import BACKGROUND, normalize_digit, normalize_many
from ocr.reject import DEFAULT_TARGETS, calibrate, margins, rejection_curve, rejection_for_error
from ocr.segment import DRIFT, TRAIN_DRIFT
from ocr.views import AS_IS, VIEWS, mean_over_views, view_stack

# The MAP criterion's rubbish-class constant (the paper gives no value). Penalties are squared
# distances in 84 dimensions; a digit one pixel off its prototype scores 4, two prototypes differ by
# 100-250. j = 10 keeps the correct class's penalty below ~10 without pushing the others past it
# for nothing. Recorded in the weights file and the model card.
J_DEFAULT = 10.0


@dataclass
class TrainConfig:
    data_dir: str | None = None
    out: str = "models/lenet5.pt"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0  # the data: validation split, rubbish, field strips, held-out sets
    # The network's own randomness (initial weights, batch order, distortions); None: ``seed``. Networks
    # trained with the same ``seed`` and different ``init_seed`` see the same data and hold out the same
    # digits, so their thresholds can be calibrated together (a committee, ``ocr committee``).
    init_seed: int | None = None
    val_size: int = 10_000
    j: float = J_DEFAULT
    distort: bool = True
    device: str = "auto"
    checkpoint_dir: str = "runs/lenet5"
    resume: bool = False
    limit: int | None = None  # use only the first N training digits (smoke tests)
    rubbish: float = 0.2  # non-digit examples (touching pairs, wrong cuts) per training digit
    views: bool = True  # classify with the test-time views of ocr.views (thresholds calibrated with them)
    fields: int = 0  # synthetic field strips written with training digits, cut by the segmenter (ocr.fieldset)
    workers: int = 1  # processes writing and cutting those strips
    cut_drift: float = TRAIN_DRIFT  # how freely the cut paths of the training strips wander (ocr.segment)
    extra: list[str] = field(default_factory=list)  # extra labelled digit sets (npz), see ocr.corrections
    # Share of the training '1's and '7's redrawn as writers outside the US make them (ocr.styles: a flagged
    # '1', a crossed '7'), in the digits and in the field strips written with them; validation digits never.
    styles: float = 0.0
    # Clean the field strips with hysteresis (ocr.fields.join_faint: a stroke's faint stretches kept as ink);
    # recorded in the calibration, so the reader cleans as the network was trained.
    hysteresis: bool = False
    # Fit the field scores at the end (ocr.fieldset, about half an hour on 2 cores). Without, the weights
    # read with the digit thresholds alone until `ocr calibrate` or `ocr train-pair-reader --recalibrate`.
    field_scores: bool = True
    # Start from these weights instead of random ones (``--epochs 0``: no digit-level epochs, graphs only).
    init: str | None = None
    # Field-level training after the digit epochs (ocr.graphtrain): the segmentation graphs of this many
    # strips written with training digits, for ``graph_epochs`` epochs at ``graph_lr``.
    graph_fields: int = 0
    graph_epochs: int = 0
    graph_lr: float = 1e-4


# --- distortions ---------------------------------------------------------------------------------


def _gaussian_kernel(sigma: float, device) -> torch.Tensor:
    radius = int(math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


def distort(x: torch.Tensor, generator: torch.Generator, *, max_rotation: float = 12.0,
            scale: tuple[float, float] = (0.85, 1.15), max_shear: float = 0.3, max_shift: float = 2.0,
            elastic_alpha: float = 36.0, elastic_sigma: float = 5.0, elastic_p: float = 0.5,
            stroke_p: float = 0.25) -> torch.Tensor:
    """Random distortions of a batch ``[N, 1, 32, 32]`` of normalised digits (same shape back).

    Affine: rotation, anisotropic scale, horizontal shear and shift (paper III.C.3 used planar affine
    transforms). Elastic: a smoothed random displacement field (Simard, Steinkraus, Platt, ICDAR 2003)
    on a fraction ``elastic_p`` of the batch. Stroke: 3x3 dilation or erosion of a fraction ``stroke_p``.
    """
    n, dev = x.shape[0], x.device

    def u(lo, hi, *shape):
        return torch.rand(*shape, generator=generator, device="cpu").to(dev) * (hi - lo) + lo

    angle = u(-max_rotation, max_rotation, n) * math.pi / 180
    sx, sy = u(*scale, n), u(*scale, n)
    shear = u(-max_shear, max_shear, n)
    tx, ty = u(-max_shift, max_shift, n) * 2 / 32, u(-max_shift, max_shift, n) * 2 / 32
    cos, sin = torch.cos(angle), torch.sin(angle)
    # grid = A @ [x, y, 1]: maps output coordinates to input coordinates.
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = (cos + shear * sin) / sx
    theta[:, 0, 1] = (-sin + shear * cos) / sx
    theta[:, 1, 0] = sin / sy
    theta[:, 1, 1] = cos / sy
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)

    if elastic_alpha > 0 and elastic_p > 0:
        field_ = u(-1.0, 1.0, n, 2, 32, 32)
        k = _gaussian_kernel(elastic_sigma, dev)
        pad = len(k) // 2
        field_ = F.conv2d(F.pad(field_.reshape(n * 2, 1, 32, 32), (pad, pad, 0, 0), mode="reflect"),
                          k.view(1, 1, 1, -1))
        field_ = F.conv2d(F.pad(field_, (0, 0, pad, pad), mode="reflect"), k.view(1, 1, -1, 1))
        field_ = field_.view(n, 2, 32, 32)
        on = (u(0, 1, n) < elastic_p).float().view(n, 1, 1, 1)
        grid = grid + (field_ * on * elastic_alpha * 2 / 32).permute(0, 2, 3, 1) / 1.0

    shifted = x - BACKGROUND  # so that padding with zeros means paper, not ink
    out = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if stroke_p > 0:
        pick = u(0, 1, n)
        dilate = (pick < stroke_p / 2).view(n, 1, 1, 1)
        erode = ((pick >= stroke_p / 2) & (pick < stroke_p)).view(n, 1, 1, 1)
        thick = F.max_pool2d(out, 3, stride=1, padding=1)
        thin = -F.max_pool2d(-out, 3, stride=1, padding=1)
        # Erosion only where it leaves enough ink: a thin digit is not erased.
        enough = (thin.flatten(1).sum(1) > 0.35 * out.flatten(1).sum(1)).view(n, 1, 1, 1)
        out = torch.where(dilate, thick, torch.where(erode & enough, thin, out))
    return out + BACKGROUND


# --- rubbish: what a segmenter offers that is not one digit ---------------------------------------


def _ink_box(image: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(image.max(1) > 0)
    cols = np.flatnonzero(image.max(0) > 0)
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _pair(left: np.ndarray, right: np.ndarray, offset: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Two digits on one baseline, ``right`` starting ``offset`` px after ``left``'s right edge
    (negative: they overlap). Returns the image and where ``right`` starts."""
    h = max(left.shape[0], right.shape[0]) + 4
    x_right = max(left.shape[1] + offset, 2)
    canvas = np.zeros((h, max(x_right + right.shape[1], left.shape[1])), np.uint8)
    for img, x in ((left, 0), (right, x_right)):
        top = h - img.shape[0] - int(rng.integers(0, 5))
        np.maximum(canvas[top : top + img.shape[0], x : x + img.shape[1]], img,
                   out=canvas[top : top + img.shape[0], x : x + img.shape[1]])
    return canvas, x_right


def make_rubbish(images: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` normalised non-digits ``float32 [n, 32, 32]`` built from MNIST digits ``uint8 [M, 28, 28]``:
    two digits touching or overlapping (read as one blob), and windows cut across the gap between two
    digits (the right part of one and the left part of the next). These are the wrong segments a
    segmentation graph offers; trained as rubbish (target 10) the network gives them high penalties
    for every digit, so the right cut wins and a merged pair is not read as one confident digit."""
    out = []
    while len(out) < n:
        a = _ink_box(images[rng.integers(len(images))])
        b = _ink_box(images[rng.integers(len(images))])
        if rng.random() < 0.6:
            img, _ = _pair(a, b, int(rng.integers(-6, 2)), rng)
        else:
            pair, x_b = _pair(a, b, int(rng.integers(0, 6)), rng)
            start = int(a.shape[1] * rng.uniform(0.3, 0.75))
            width = int(max(a.shape[1], b.shape[1], 14) * rng.uniform(0.7, 1.1))
            img = pair[:, start : start + width]
            ink_a = float(img[:, : max(x_b - start, 0)].sum())
            ink_b = float(img[:, max(x_b - start, 0) :].sum())
            # Both digits must show substantially, or the window is just a (possibly valid) digit.
            if min(ink_a, ink_b) < 0.3 * max(ink_a, ink_b, 1.0):
                continue
        out.append(normalize_digit(img))
    return np.stack(out) if out else np.zeros((0, 32, 32), np.float32)


# --- evaluation ----------------------------------------------------------------------------------


@torch.inference_mode()
def predict_penalties(model: torch.nn.Module, inputs: np.ndarray, device, batch_size: int = 2048,
                      views=AS_IS) -> np.ndarray:
    """Penalties ``[N, 10]``, averaged over test-time ``views`` (:mod:`ocr.views`) as the pipeline does."""
    model.eval()
    out = []
    step = max(1, batch_size // len(views))
    for start in range(0, len(inputs), step):
        xb = view_stack(torch.from_numpy(inputs[start : start + step, None]).to(device), views)
        out.append(mean_over_views(model(xb), len(views)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def evaluate(penalties: np.ndarray, labels: np.ndarray, j: float, calibration: dict | None = None) -> dict:
    """Test figures from penalties: error, per-digit error, confusion, rejection curve and figure."""
    labels = np.asarray(labels).astype(np.int64)
    predicted = penalties.argmin(1)
    correct = predicted == labels
    m = margins(penalties, j)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_digit = {str(d): float(1 - confusion[d, d] / max(confusion[d].sum(), 1)) for d in range(10)}
    result = {
        "n": int(len(labels)),
        "errors": int((~correct).sum()),
        "error": float(1 - correct.mean()),
        "error_per_digit": per_digit,
        "confusion": confusion.tolist(),
        "rejection_for_0.5%_error": rejection_for_error(m, correct, 0.005),
        "rejection_for_0.1%_error": rejection_for_error(m, correct, 0.001),
        "rejection_curve": rejection_curve(m, correct),
    }
    if calibration:
        at = {}
        for key, cal in calibration.get("thresholds", {}).items():
            accepted = m >= cal["threshold"]
            n_acc = int(accepted.sum())
            at[key] = {"accepted": n_acc / len(m), "error_among_accepted":
                       float((~correct[accepted]).sum() / max(n_acc, 1))}
        result["at_calibrated_thresholds"] = at
    return result


# --- training ------------------------------------------------------------------------------------


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _load_training_data(cfg: TrainConfig):
    images, labels = mnist.load_mnist("train", cfg.data_dir)
    if cfg.limit:
        images, labels = images[: cfg.limit], labels[: cfg.limit]
    raw = images
    inputs = normalize_many(images)  # the one normalisation, as in the pipeline
    labels = labels.astype(np.int64)
    extra_sets = []
    for path in cfg.extra:
        from ocr.corrections import load_digit_set

        x_extra, y_extra = load_digit_set(path)
        extra_sets.append({"path": str(path), "n": int(len(y_extra))})
        inputs = np.concatenate([inputs, x_extra])
        labels = np.concatenate([labels, y_extra.astype(np.int64)])
    return inputs, labels, extra_sets, raw


@dataclass
class HeldOut:
    """What the network never trains on: the digits its thresholds are calibrated on (``x``, ``y``),
    held-out non-digits (``rubbish``), and what they are (``description``)."""

    x: np.ndarray
    y: np.ndarray
    rubbish: np.ndarray
    description: str


def _examples(cfg: TrainConfig, raw: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
              n_mnist: int, log=print, training: bool = True):
    """Rubbish and field examples for training, and the held-out sets, from the training and
    validation digits separately (the same seed gives the same sets, for ``ocr calibrate``).

    Returns (training inputs, training targets, :class:`HeldOut`); ``training=False`` leaves the
    field examples for training out (empty). With ``cfg.fields``, the
    thresholds are calibrated on the digits the segmenter cuts from strips written with validation
    digits (what the reader classifies), else on the MNIST validation digits.
    """
    rng = np.random.default_rng(cfg.seed + 1)
    train_digits = train_digits_of(train_idx, n_mnist)
    n_rubbish = int(round(cfg.rubbish * len(train_idx)))
    rubbish_train = make_rubbish(raw[train_digits], n_rubbish, rng)
    rubbish_val = make_rubbish(raw[val_idx], min(2000, n_rubbish), rng)
    x = [rubbish_train]
    y = [np.full(n_rubbish, RUBBISH, np.int64)]
    held = HeldOut(np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64), rubbish_val,
                   f"{len(val_idx)} digits held out of the MNIST training set (seed {cfg.seed})")
    if cfg.fields:
        from ocr.fieldset import field_examples

        t0 = time.time()
        fx, fy = (field_examples(raw[train_digits], labels[train_digits], cfg.fields, cfg.seed, workers=cfg.workers,
                                 drift=cfg.cut_drift, hysteresis=cfg.hysteresis)
                  if training else (np.zeros((0, 32, 32), np.float32), np.zeros(0, np.int64)))
        n_val = max(cfg.fields // 5, 1)
        vx, vy = field_examples(raw[val_idx], labels[val_idx], n_val, cfg.seed + 1, workers=cfg.workers,
                                hysteresis=cfg.hysteresis)
        is_digit = vy != RUBBISH
        held = HeldOut(vx[is_digit], vy[is_digit], np.concatenate([rubbish_val, vx[~is_digit]]),
                       f"{int(is_digit.sum())} digits cut by the segmenter from {n_val} synthetic field strips "
                       f"written with {len(val_idx)} digits held out of the MNIST training set (seed {cfg.seed})")
        x.append(fx)
        y.append(fy)
        log(f"field examples: {len(fy)} from {cfg.fields} strips ({int((fy == RUBBISH).sum())} rubbish), "
            f"{len(vy)} held out, {time.time() - t0:.0f}s")
    return np.concatenate(x), np.concatenate(y), held


def styled(cfg: TrainConfig, raw: np.ndarray, labels: np.ndarray,
           train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raw MNIST digits with ``cfg.styles`` of the training split's '1's and '7's redrawn
    (:func:`ocr.styles.style_digits`; the same ``cfg.seed`` redraws the same digits the same way), and the
    indices of those redrawn. ``raw`` itself when ``cfg.styles`` is 0. Validation digits are never redrawn."""
    if not cfg.styles:
        return raw, np.zeros(0, np.int64)
    if not 0.0 < cfg.styles <= 1.0:
        raise OCRError(f"--styles is a share of the training '1's and '7's, between 0 and 1, got {cfg.styles:g}")
    from ocr.styles import style_digits

    return style_digits(raw, labels[: len(raw)], cfg.styles, np.random.default_rng([cfg.seed, 7]),
                        candidates=train_digits_of(train_idx, len(raw)))


def _split(n_mnist: int, n_total: int, val_size: int, seed: int):
    """Validation digits come from the MNIST training set only; extra sets always train."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_mnist)
    val_size = min(val_size, n_mnist // 5) if n_mnist < 5 * val_size else val_size
    val, train = order[:val_size], order[val_size:]
    return np.concatenate([train, np.arange(n_mnist, n_total)]), val


def train(cfg: TrainConfig, progress: bool = True, log=print) -> dict:
    """Train, calibrate, evaluate on the MNIST test set, and write weights + model card. Returns the card."""
    if bool(cfg.graph_fields) != bool(cfg.graph_epochs):
        raise OCRError("--graph-fields and --graph-epochs go together (strips to train on, and for how long)")
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    generator = _seed_everything(cfg.seed)
    started = time.time()
    inputs, labels, extra_sets, raw = _load_training_data(cfg)
    n_mnist = len(inputs) - sum(e["n"] for e in extra_sets)
    train_idx, val_idx = _split(n_mnist, len(inputs), cfg.val_size, cfg.seed)
    raw, redrawn = styled(cfg, raw, labels, train_idx)
    if len(redrawn):
        inputs[redrawn] = normalize_many(raw[redrawn])
        log(f"styles: {len(redrawn)} training '1's and '7's redrawn flagged or crossed (ocr.styles)")
    # Rubbish and field examples from training-split digits only; held-out sets from validation digits.
    x_more, y_more, held = _examples(cfg, raw, labels, train_idx, val_idx, n_mnist, log, training=cfg.epochs > 0)
    x_train = torch.from_numpy(np.concatenate([inputs[train_idx], x_more])).unsqueeze(1)
    y_train = torch.from_numpy(np.concatenate([labels[train_idx], y_more]))
    x_val, y_val = inputs[val_idx], labels[val_idx]
    log(f"training digits {len(train_idx)} + {len(y_more)} more ({int((y_more == RUBBISH).sum())} rubbish), "
        f"validation digits {len(val_idx)}, device {device}")

    if cfg.init_seed is not None and cfg.init_seed != cfg.seed:
        generator = _seed_everything(cfg.init_seed)  # the same data, another network
    model = LeNet5()
    model.reset_parameters(generator)
    init = _load_init(cfg.init) if cfg.init else None
    if init is not None:
        model.load_state_dict(init.pop("state_dict"))
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    # Full rate from the start (a slow warm-up leaves the RBF penalties stuck near their initial ~84),
    # cosine decay to 1% of it by the last epoch.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs * steps_per_epoch, 1),
                                                           eta_min=cfg.lr * 0.01)
    history: list[dict] = []
    start_epoch = 0
    ckpt_path = Path(cfg.checkpoint_dir) / "checkpoint.pt"
    if cfg.resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if state.get("config") != asdict(cfg) | {"resume": state["config"].get("resume")}:
            log("note: resuming with a configuration that differs from the checkpoint's")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, start_epoch = state["history"], state["epoch"]
        log(f"resumed from {ckpt_path} after epoch {start_epoch}")

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_train), generator=generator)
        total_loss, total_wrong, seen = 0.0, 0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
                   leave=False, file=sys.stderr)
        for step in bar:
            idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            xb, yb = x_train[idx].to(device), y_train[idx].to(device)
            if cfg.distort:
                xb = distort(xb, generator)
            penalties = model(xb)
            loss = map_loss(penalties, yb, cfg.j)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(yb)
            is_digit = yb != RUBBISH
            total_wrong += int((penalties.argmin(1) != yb)[is_digit].sum())
            seen += int(is_digit.sum())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{total_loss / seen:.3f}", err=f"{total_wrong / seen:.2%}")
        val_pen = predict_penalties(model, x_val, device)
        val_error = float((val_pen.argmin(1) != y_val).mean())
        entry = {"epoch": epoch + 1, "train_loss": total_loss / seen, "train_error": total_wrong / seen,
                 "val_error": val_error, "seconds": time.time() - t0}
        if cfg.fields:
            entry["val_field_error"] = float((predict_penalties(model, held.x, device).argmin(1) != held.y).mean())
        history.append(entry)
        log(f"epoch {epoch + 1:3d}/{cfg.epochs}  loss {total_loss / seen:.4f}  train error "
            f"{total_wrong / seen:.2%}  validation error {val_error:.2%}"
            + (f"  field digits {entry['val_field_error']:.2%}" if cfg.fields else "")
            + f"  ({time.time() - t0:.0f}s)")
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_path.with_name("checkpoint.pt.tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(), "history": history, "epoch": epoch + 1,
                    "config": asdict(cfg)}, tmp)
        tmp.replace(ckpt_path)

    graph_history = []
    if cfg.graph_epochs and cfg.graph_fields:
        from ocr.graphtrain import graph_examples, train_on_graphs

        t0 = time.time()
        writers = train_digits_of(train_idx, n_mnist)
        graphs = graph_examples(raw[writers], labels[writers], cfg.graph_fields, cfg.seed, workers=cfg.workers,
                                hysteresis=cfg.hysteresis)
        log(f"graph examples: {graphs.n_blobs} blobs with {len(graphs.inputs)} candidates from {cfg.graph_fields} "
            f"strips, {time.time() - t0:.0f}s")
        graph_history = train_on_graphs(model, graphs, x_train, y_train, epochs=cfg.graph_epochs, lr=cfg.graph_lr,
                                        j=cfg.j, generator=generator, device=device,
                                        distort=distort if cfg.distort else None, progress=progress, log=log)
    calibration = calibrate_on_validation(model, held.x if cfg.fields else x_val, held.y if cfg.fields else y_val,
                                          cfg.j, device, description=held.description,
                                          views=VIEWS if cfg.views else AS_IS, hysteresis=cfg.hysteresis)
    calibration["rubbish_rejected"] = rubbish_rejection(model, held.rubbish, cfg.j, calibration, device)
    if cfg.fields and cfg.field_scores:
        t0 = time.time()
        calibration["fields"] = field_calibration(model, calibration, cfg, raw[val_idx], labels[val_idx], device)
        log(f"field thresholds calibrated on {calibration['fields']['n']} strips per type, {time.time() - t0:.0f}s")
    meta = {"trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - started, 1)}
    out = Path(cfg.out)
    save_weights(model, out, j=cfg.j, calibration=calibration, meta=meta)
    card = build_card(cfg, model, history, calibration, extra_sets, meta, device)
    if init is not None:
        card["training"]["init"] = init
    if graph_history:
        card["training"]["graph_history"] = graph_history
    write_card(card, out)
    return card


def train_digits_of(train_idx: np.ndarray, n_mnist: int) -> np.ndarray:
    """The MNIST training digits of the training split (not the extra sets)."""
    return train_idx[train_idx < n_mnist]


def _load_init(path: str) -> dict:
    """The single network of a weights file to start from, and what its card says of how it was made
    (``state_dict``, ``weights``, ``sha256``, ``command``, ``epochs``, ``seconds``)."""
    from ocr.checksums import sha256_of
    from ocr.lenet5 import Committee

    weights = Path(path)
    model, _ = load_weights(weights, "cpu")
    if isinstance(model, Committee):
        raise OCRError(f"--init {weights}: a committee of networks; start from a single network")
    out = {"state_dict": model.state_dict(), "weights": weights.name,
           "sha256": sha256_of(weights), "command": None, "epochs": None, "seconds": None}
    card = weights.with_suffix(".json")
    if card.is_file():
        tr = json.loads(card.read_text()).get("training", {})
        out.update(command=tr.get("command"), epochs=len(tr.get("history", [])), seconds=tr.get("seconds"),
                   history=tr.get("history", []))
    return out


def calibrate_on_validation(model, x_val: np.ndarray, y_val: np.ndarray, j: float, device,
                            targets=DEFAULT_TARGETS, description: str = "", views=AS_IS,
                            hysteresis: bool = False) -> dict:
    """Rejection thresholds from held-out digits (never the test set), on penalties averaged over
    the test-time ``views`` the pipeline will use (recorded with them), and whether its fields are
    cleaned with ``hysteresis`` (recorded only when they are: older weights read without)."""
    val_pen = predict_penalties(model, x_val, device, views=views)
    val_correct = val_pen.argmin(1) == y_val
    return {"split": "validation", "n": int(len(y_val)), "j": j, "digits": description,
            "views": [list(v) for v in views], **({"hysteresis": True} if hysteresis else {}),
            "thresholds": calibrate(margins(val_pen, j), val_correct, targets)}


# Most strips per field type the field score is fitted on (and as many again that its thresholds are chosen on).
FIELD_CAL_STRIPS = 10_000


def field_calibration(model, calibration: dict, cfg: TrainConfig, images: np.ndarray, labels: np.ndarray,
                      device, pairs=None, pair_reader=None) -> dict:
    """Per field type, the digit thresholds for target error rates among accepted *fields*
    (:func:`ocr.fieldset.calibrate_fields`), on strips written with the validation digits ``images``
    (never trained on), read by the pipeline with this model, its digit ``calibration``, its two-digit
    detector ``pairs`` and its pair reader ``pair_reader`` (:mod:`ocr.pairs`; ``None``: none)."""
    from ocr.classify import Classifier
    from ocr.fieldset import calibrate_fields
    from ocr.lenet5 import fold_for_inference

    model.eval()
    clf = Classifier(fold_for_inference(model), {"j": cfg.j, "calibration": calibration, "pairs": pairs,
                                                 "pair_reader": pair_reader}, torch.device(device), field_target=None)
    n = min(FIELD_CAL_STRIPS, max(cfg.fields, 1))
    out = calibrate_fields(clf, images, labels, n, cfg.seed + 2,
                           description=f"{len(labels)} digits held out of the MNIST training set (seed {cfg.seed})")
    return out | {"pairs": pairs is not None, "pair_reader": pair_reader is not None}


def calibrated_views(calibration: dict) -> tuple[tuple[float, float], ...]:
    """The test-time views a calibration was made with (none for weights calibrated before views)."""
    return tuple(tuple(v) for v in calibration.get("views", AS_IS))


def rubbish_rejection(model, rubbish: np.ndarray, j: float, calibration: dict, device) -> dict:
    """Fraction of held-out non-digits (touching pairs, wrong cuts) each calibrated threshold rejects."""
    if len(rubbish) == 0:
        return {}
    m = margins(predict_penalties(model, rubbish, device, views=calibrated_views(calibration)), j)
    return {key: float((m < c["threshold"]).mean()) for key, c in calibration["thresholds"].items()}


def _trained_as(weights: Path, data_dir: str | None, what: str) -> tuple[dict, TrainConfig]:
    """The model card beside ``weights`` and the training config it records (with ``data_dir``), after
    checking that the MNIST training files there are the ones the network was trained on. A missing card
    is an :class:`OCRError` saying it holds ``what``."""
    card_path = weights.with_suffix(".json")
    if not card_path.is_file():
        raise OCRError(f"model card {card_path} not found: it holds {what}")
    card = json.loads(card_path.read_text())
    cfg = TrainConfig(**(dict(card["training"]["config"]) | {"data_dir": data_dir}))
    if mnist.file_checksums("train", data_dir) != card["data"]["train_sha256"]:
        raise OCRError("the MNIST training files differ from the ones this model was trained on (sha256)")
    return card, cfg


def _mnist_split(card: dict, cfg: TrainConfig):
    """The raw MNIST training digits and labels a trained network used (``cfg.data_dir``, ``cfg.limit``),
    and its split of them: ``(raw, labels, train_idx, val_idx)`` as at training time (``train_idx`` also
    counts the extra sets its ``card`` records, after the MNIST digits). The digits are MNIST's own: those the
    network trained on redrawn (``--styles``) are :func:`styled`."""
    raw, labels = mnist.load_mnist("train", cfg.data_dir)
    if cfg.limit:
        raw, labels = raw[: cfg.limit], labels[: cfg.limit]
    n_extra = sum(e["n"] for e in card["training"].get("extra_sets", []))
    train_idx, val_idx = _split(len(raw), len(raw) + n_extra, cfg.val_size, cfg.seed)
    return raw, labels, train_idx, val_idx


def held_out_digits(weights: Path, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST training digits the network at ``weights`` was trained without (its calibration
    digits: raw images and labels), after checking the files in ``data_dir`` are the ones it used."""
    card, cfg = _trained_as(Path(weights), data_dir, "the split of digits the network trained on")
    raw, labels, _, val_idx = _mnist_split(card, cfg)
    return raw[val_idx], labels[val_idx]


def recalibrate(weights: Path, data_dir: str | None, targets=DEFAULT_TARGETS, device: str = "auto",
                views: bool | None = None) -> dict:
    """``ocr calibrate``: recompute the thresholds of a trained model on the same validation split it
    was trained without (rebuilt from the seed and sizes in its model card), for other target error
    rates, with or without test-time views (``None``: as trained); rewrites the weights file's
    calibration and the card. The network is unchanged."""
    weights = Path(weights)
    card, cfg = _trained_as(weights, data_dir, "the validation split to calibrate on")
    dev = resolve_device(device)
    model, info = load_weights(weights, dev)
    inputs, labels, _, raw = _load_training_data(cfg)
    n_mnist = len(inputs) - sum(e["n"] for e in card["training"].get("extra_sets", []))
    train_idx, val_idx = _split(n_mnist, len(inputs), cfg.val_size, cfg.seed)
    # The same held-out sets as at training time (same generators, same seeds, same order).
    _, _, held = _examples(cfg, raw, labels, train_idx, val_idx, n_mnist, log=lambda s: None, training=False)
    x_cal, y_cal = (held.x, held.y) if cfg.fields else (inputs[val_idx], labels[val_idx])
    use_views = cfg.views if views is None else views
    calibration = calibrate_on_validation(model, x_cal, y_cal, info["j"], dev, targets, held.description,
                                          VIEWS if use_views else AS_IS, hysteresis=cfg.hysteresis)
    if len(held.rubbish):
        calibration["rubbish_rejected"] = rubbish_rejection(model, held.rubbish, info["j"], calibration, dev)
    if cfg.fields:
        calibration["fields"] = field_calibration(model, calibration, cfg, raw[val_idx], labels[val_idx], dev,
                                                  info.get("pairs"), info.get("pair_reader"))
    calibration["command"] = _command_line()
    save_weights(model, weights, j=info["j"], calibration=calibration, meta=info["meta"], pairs=info.get("pairs"),
                 pair_reader=info.get("pair_reader"))
    test_images, test_labels = mnist.load_mnist("test")
    card["calibration"] = calibration
    card["test"] = evaluate(predict_penalties(model, normalize_many(test_images), dev,
                                              views=calibrated_views(calibration)), test_labels, info["j"],
                            calibration)
    write_card(card, weights)
    return card


def _second_network_start(weights: Path, data_dir: str | None, device: str, what: str, *,
                          pair_reader: bool = True):
    """What ``ocr train-pairs`` and ``ocr train-pair-reader`` start from: the trained network at ``weights``
    (not a committee: ``what`` starts from one network's trunk), its card and config, the device, and its
    MNIST digits split as at training time, the training digits redrawn as it trained on them (:func:`styled`).
    Returns ``(card, cfg, dev, model, info, raw, labels, train_digits, val_idx)``."""
    card, cfg = _trained_as(weights, data_dir, "the split of digits the network trained on")
    dev = resolve_device(device)
    model, info = load_weights(weights, dev, pair_reader=pair_reader)
    if isinstance(model, Committee):
        raise OCRError(f"{weights}: a committee of networks; {what} starts from a single network")
    raw, labels, train_idx, val_idx = _mnist_split(card, cfg)
    raw = styled(cfg, raw, labels, train_idx)[0]
    return card, cfg, dev, model, info, raw, labels, train_digits_of(train_idx, len(raw)), val_idx


def train_pair_detector(weights: Path, data_dir: str | None, *, fields: int = 30_000, epochs: int = 3,
                        lr: float = 1e-3, batch_size: int = 256, workers: int = 1, device: str = "auto",
                        recalibrate_fields: bool = False, log=print) -> dict:
    """``ocr train-pairs``: train the two-digit detector (:mod:`ocr.pairs`) of a trained network, from its
    trunk, on candidates cut from ``fields`` strips written with the network's own training digits (its
    validation digits stay held out: the detector's figures are measured on strips written with them),
    and store it in the weights file. The digit network and its thresholds are unchanged: the detector's
    doubts only send more fields to a person (and a field score fitted without a detector gives its
    answers no weight). ``recalibrate_fields``: then fit the field scores again with it
    (:func:`recalibrate`, as the shipped weights were). Returns the model card."""
    import copy

    from ocr.pairs import TWO_DIGITS, PairDetector, detector_figures, fit, pair_examples, probabilities

    weights = Path(weights)
    card, cfg, dev, model, info, raw, labels, train_digits, val_idx = _second_network_start(
        weights, data_dir, device, "the detector")
    t0 = time.time()
    x, y, _ = pair_examples(raw[train_digits], labels[train_digits], fields, cfg.seed, workers=workers,
                            hysteresis=cfg.hysteresis)
    n_held = max(fields // 5, 1)
    hx, hy, hwide = pair_examples(raw[val_idx], labels[val_idx], n_held, cfg.seed + 1, workers=workers,
                                  hysteresis=cfg.hysteresis)
    log(f"pair examples: {len(y)} ({int(y.sum())} two digits) from {fields} strips, {len(hy)} held out, "
        f"{time.time() - t0:.0f}s")
    generator = _seed_everything(cfg.seed)
    trunk = copy.deepcopy(model).cpu()
    detector = PairDetector(trunk).to(dev)
    t1 = time.time()
    history = fit(detector, x, y, epochs=epochs, lr=lr, batch_size=batch_size, generator=generator, device=dev,
                  log=log)
    seconds = time.time() - t1
    figures = detector_figures(probabilities(detector, hx, dev), hy, hwide)
    save_weights(model, weights, j=info["j"], calibration=info["calibration"], meta=info["meta"], pairs=detector,
                 pair_reader=info.get("pair_reader"))
    card["pairs"] = {"command": _command_line(), "fields": fields, "held_out_fields": n_held, "epochs": epochs,
                     "lr": lr, "batch_size": batch_size, "seconds": round(seconds), "device": str(dev),
                     "examples": {"one": int((y == 0).sum()), "two": int((y == 1).sum())},
                     "threshold": TWO_DIGITS, "held_out": figures, "history": history}
    write_card(card, weights)
    if not recalibrate_fields:
        return card
    log("recalibrating the thresholds with the detector ...")
    return recalibrate(weights, data_dir, tuple(float(k) for k in card["calibration"]["thresholds"]), device)


def train_pair_reader(weights: Path, data_dir: str | None, *, fields: int | None = None, epochs: int | None = None,
                      lr: float = 1e-3, batch_size: int = 256, workers: int = 1, device: str = "auto",
                      recalibrate_fields: bool = False, log=print) -> dict:
    """``ocr train-pair-reader``: train the pair reader (:class:`ocr.pairs.PairReader`) of a trained
    network, from its trunk, on the wide marks cut from ``fields`` strips written with the network's own
    training digits (its validation digits stay held out: the reader's figures are measured on strips
    written with them), and store it in the weights file. The learning rate falls by 0.8 each epoch.
    The digit network, the detector and the thresholds are unchanged, but the reader's answers weigh in how
    wide marks are read at once (:func:`ocr.reader.reading_cost`) while the field scores were fitted with the
    readings of the reader before (or none, and give its answers no weight): ``recalibrate_fields`` then fits
    them again with it (:func:`recalibrate`, as the shipped weights were). Returns the model card."""
    import copy

    from ocr.pairs import (
        READER_EPOCHS,
        READER_FIELDS,
        READER_TOUCHING,
        PairReader,
        fit,
        reader_figures,
        reading_examples,
        reading_log_probs,
    )

    fields = READER_FIELDS if fields is None else fields
    epochs = READER_EPOCHS if epochs is None else epochs
    weights = Path(weights)
    card, cfg, dev, model, info, raw, labels, train_digits, val_idx = _second_network_start(
        weights, data_dir, device, "the pair reader", pair_reader=False)
    t0 = time.time()
    x, y = reading_examples(raw[train_digits], labels[train_digits], fields, cfg.seed, workers=workers,
                            hysteresis=cfg.hysteresis)
    n_held = max(fields // 5, 1)
    hx, hy = reading_examples(raw[val_idx], labels[val_idx], n_held, cfg.seed + 1, workers=workers,
                              hysteresis=cfg.hysteresis)
    log(f"reading examples: {len(y)} wide marks ({int((y < 100).sum())} pairs) from {fields} strips, "
        f"{len(hy)} held out, {time.time() - t0:.0f}s")
    generator = _seed_everything(cfg.seed)
    reader = PairReader(copy.deepcopy(model).cpu()).to(dev)
    t1 = time.time()
    history = fit(reader, x, y, epochs=epochs, lr=lr, batch_size=batch_size, generator=generator, device=dev,
                  log=log, decay=0.8)
    seconds = time.time() - t1
    figures = reader_figures(reading_log_probs(reader, hx, dev), hy)
    save_weights(model, weights, j=info["j"], calibration=info["calibration"], meta=info["meta"],
                 pairs=info.get("pairs"), pair_reader=reader)
    card["pair_reader"] = {"command": _command_line(), "fields": fields, "touching": READER_TOUCHING,
                           "held_out_fields": n_held, "epochs": epochs, "lr": lr, "batch_size": batch_size,
                           "seconds": round(seconds), "device": str(dev),
                           "examples": {"pairs": int((y < 100).sum()), "singles": int((y >= 100).sum())},
                           "held_out": figures, "history": history}
    write_card(card, weights)
    if not recalibrate_fields:
        return card
    log("recalibrating the thresholds with the pair reader ...")
    return recalibrate(weights, data_dir, tuple(float(k) for k in card["calibration"]["thresholds"]), device)


# What a committee's members must share: the digits they were trained on and held out (so one set of
# thresholds, calibrated on those held-out digits, is fair to all of them) and the loss constant.
COMMITTEE_SHARED = ("seed", "val_size", "rubbish", "fields", "limit", "extra", "cut_drift", "j", "distort", "views",
                    "styles", "hysteresis")


def make_committee(members: list[Path], out: Path, data_dir: str | None, device: str = "auto") -> dict:
    """``ocr committee``: read several trained networks as one (:class:`ocr.lenet5.Committee`, their
    penalties averaged) and calibrate its thresholds as ``ocr calibrate`` does, on the digits they
    all held out. The members must have been trained on the same data (``ocr train`` with the same
    ``--seed`` and data options, another ``--init-seed``): their model cards say so, else a clear
    error names the option that differs. Writes ``out`` with its model card, which lists every
    member's training command and figures, and returns the card."""
    members = [Path(m) for m in members]
    out = Path(out)
    if len(members) < 2:
        raise OCRError(f"a committee needs at least two weights files, got {len(members)}")
    cards = []
    for m in members:
        card_path = m.with_suffix(".json")
        if not card_path.is_file():
            raise OCRError(f"model card {card_path} not found: it says what {m.name} was trained on")
        cards.append(json.loads(card_path.read_text()))
    first = cards[0]
    defaults = asdict(TrainConfig())
    for m, card in zip(members[1:], cards[1:], strict=True):
        if card["data"]["train_sha256"] != first["data"]["train_sha256"]:
            raise OCRError(f"{m} was trained on other MNIST files than {members[0]} (sha256)")
        for key in COMMITTEE_SHARED:
            a = first["training"]["config"].get(key, defaults.get(key))
            b = card["training"]["config"].get(key, defaults.get(key))
            if a != b:
                raise OCRError(f"{m} was trained with {key} = {b!r}, {members[0]} with {a!r}: a committee's "
                               "networks must share the data they were trained on and held out "
                               "(`ocr train` with the same --seed, another --init-seed)")
    dev = resolve_device(device)
    loaded = [load_weights(m, dev) for m in members]
    if any(isinstance(model, Committee) for model, _ in loaded):
        raise OCRError("a committee's members must be single networks")
    committee = Committee([model for model, _ in loaded])
    card = dict(first)
    card["weights"] = out.name
    card["parameters"] = dict(first["parameters"]) | {"networks": len(members)}
    card["committee"] = {
        "command": _command_line(),
        "members": [{"weights": m.name, "command": c["training"]["command"],
                     "init_seed": c["training"]["config"].get("init_seed"),
                     "epochs": len(c["training"]["history"]), "seconds": c["training"].get("seconds"),
                     "test": {k: c["test"][k] for k in ("error", "errors", "rejection_for_0.5%_error",
                                                         "rejection_for_0.1%_error") if k in c["test"]}}
                    for m, c in zip(members, cards, strict=True)],
    }
    card.pop("calibration", None)
    save_weights(committee, out, j=loaded[0][1]["j"], meta={"members": [m.name for m in members]})
    out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    return recalibrate(out, data_dir, device=device)


def _command_line() -> str:
    name = Path(sys.argv[0]).name
    argv = ["ocr" if name == "__main__.py" else name] + sys.argv[1:]  # `python -m ocr ...` is `ocr ...`
    return " ".join(shlex.quote(a) for a in argv)


def build_card(cfg, model, history, calibration, extra_sets, meta, device) -> dict:
    test_images, test_labels = mnist.load_mnist("test")
    test_inputs = normalize_many(test_images)
    test_pen = predict_penalties(model, test_inputs, device, views=calibrated_views(calibration))
    checks = {"train": mnist.file_checksums("train", cfg.data_dir), "test": mnist.file_checksums("test")}
    config = asdict(cfg)
    config["data_dir"] = "<MNIST training folder>" if cfg.data_dir else None  # no machine paths in the card
    return {
        "model": "LeNet-5 (LeCun, Bottou, Bengio, Haffner, Proc. IEEE 1998)",
        "weights": Path(cfg.out).name,
        "parameters": layer_parameter_counts(model) | {"total": sum(layer_parameter_counts(model).values())},
        "loss": {"name": "MAP criterion (eq. 9)", "j": cfg.j},
        "training": {"command": _command_line(), "config": config, "history": history,
                     "extra_sets": extra_sets, "device": str(device), **meta},
        "data": {"train_sha256": checks["train"], "test_sha256": checks["test"],
                 "validation": calibration["digits"]},
        "calibration": calibration,
        "test": evaluate(test_pen, test_labels, cfg.j, calibration),
    }


def write_card(card: dict, weights: Path) -> None:
    """Write ``<weights>.json``, the plots and ``README.md`` beside the weights."""
    weights = Path(weights)
    folder = weights.parent
    json_path = weights.with_suffix(".json")
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=1) + "\n")
    tmp.replace(json_path)
    _plots(card, folder, weights.stem)
    (folder / "README.md").write_text(card_markdown(card, weights.stem))


def _plots(card: dict, folder: Path, stem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Weights trained from others (--init) with no digit epochs of their own: the curve of those.
    hist = card["training"]["history"] or card["training"].get("init", {}).get("history", [])
    if hist:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
        ep = [h["epoch"] for h in hist]
        ax[0].plot(ep, [h["train_loss"] for h in hist])
        ax[0].set(xlabel="epoch", ylabel="MAP loss (distorted training digits)", yscale="log")
        ax[1].plot(ep, [100 * h["train_error"] for h in hist], label="training (distorted)")
        ax[1].plot(ep, [100 * h["val_error"] for h in hist], label="validation")
        if all("val_field_error" in h for h in hist):
            ax[1].plot(ep, [100 * h["val_field_error"] for h in hist], label="validation digits cut from fields")
        ax[1].set(xlabel="epoch", ylabel="error %", yscale="log")
        ax[1].legend()
        fig.tight_layout()
        fig.savefig(folder / f"{stem}_training.png", dpi=110)
        plt.close(fig)
    curve = card["test"]["rejection_curve"]
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.plot([100 * r for r in curve["rejected"]], [100 * e for e in curve["error"]])
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    r05 = 100 * card["test"]["rejection_for_0.5%_error"]
    ax.axvline(r05, color="tab:red", ls=":", lw=0.8)
    ax.set(xlabel="rejected %", ylabel="error among accepted %", title="MNIST test: error vs rejection")
    fig.tight_layout()
    fig.savefig(folder / f"{stem}_rejection.png", dpi=110)
    plt.close(fig)


def _field_table(fields: dict, threshold) -> list[str]:
    """The model card's table of a field calibration: per type, the digit threshold's figures and, per
    target, ``threshold(cell)`` with the strips accepted and the error among them."""
    keys = list(next(iter(fields["thresholds"].values())))
    lines = ["| field | digit threshold alone | " + " | ".join(f"{float(k):.1%} field error" for k in keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for ft, by_target in fields["thresholds"].items():
        p = fields.get("digit_threshold", {}).get(ft)
        first = f"{100 * p['accepted']:.1f}%, {100 * p['error']:.2f}%" if p else ""
        lines.append(f"| {ft} | {first} | " + " | ".join(
            f"{threshold(c)}: {100 * c['accepted']:.1f}%, {100 * c['error']:.2f}%" for c in by_target.values()) + " |")
    return lines


def _score_card(fields: dict) -> list[str]:
    """The model card's lines on the field scores (:mod:`ocr.fieldscore`) and their thresholds."""
    from ocr.fieldscore import FEATURES

    # The features the scores were fitted on (weights fitted by an earlier version: fewer), in order.
    named = [f for f in FEATURES if any(f in sc["features"] for sc in fields["scorers"].values())]
    crossed = fields.get("cross_fitted")
    if crossed:
        n_all = 2 * fields["n"]
        fitted = f"fitted on the fields accepted at the digit threshold among {n_all:,} synthetic strips per type "
        chosen = (f"lowest score at which the fields accepted are wrong at most the target rate on the same strips' "
                  f"out-of-fold scores (each field scored by regressions fitted without it: {crossed['folds']} "
                  f"folds, dealt {crossed['repeats']} times)")
        cells = "those strips accepted, error among them"
    else:  # calibrated before the thresholds were cross-fitted
        fitted = (f"fitted on the fields accepted at the digit threshold among {fields['n']:,} synthetic strips "
                  "per type ")
        chosen = (f"lowest score at which the fields accepted are wrong at most the target rate on {fields['n']:,} "
                  "other such strips")
        cells = "those other strips accepted, error among them"
    lines = ["", "Field scores (`--field-error`, `ocr/fieldscore.py`): per field type, a logistic regression on "
             "what the reader's digits of a field say together (" + ", ".join(named) + ") that the field "
             f"is read right, {fitted}"
             f"written with the held-out digits ({fields['touching']:.0%} of digits touching the one before; `/cells`: "
             "written in printed cells, one digit in each, as a template's comb fields are; `ocr/fieldset.py`), and "
             f"the {chosen}. A field is accepted when every digit passes the digit threshold, it is well formed, "
             "nothing is in doubt, and its score reaches its type's threshold. Table cells: score threshold, "
             f"{cells}.", ""]
    lines += _field_table(fields, lambda c: f"{c['score']:.2f}")
    lines += ["", "Weights per feature (standardised; positive: more likely right):", "",
              "| field | " + " | ".join(named) + " | bias |", "|---|" + "---|" * (len(named) + 1)]
    for ft, sc in fields["scorers"].items():
        weight = dict(zip(sc["features"], sc["weights"], strict=True))
        lines.append(f"| {ft} | " + " | ".join(f"{weight[f]:+.2f}" if f in weight else "-" for f in named)
                     + f" | {sc['bias']:+.2f} |")
    return lines


def card_markdown(card: dict, stem: str) -> str:
    from ocr.reader import PAIR_READ

    t = card["test"]
    cal = card["calibration"]["thresholds"]
    committee = card.get("committee")
    members = committee["members"] if committee else []
    lines = [
        "# Model card: LeNet-5 digit classifier",
        "",
        "LeNet-5 as in LeCun, Bottou, Bengio, Haffner, \"Gradient-Based Learning Applied to Document "
        "Recognition\", Proc. IEEE 1998: C1-S2-C3 (Table I connections)-S4-C5-F6, squashing "
        "1.7159 tanh(2a/3), 10 Euclidean RBF outputs with fixed 7x12 +-1 centres, MAP loss "
        f"with j = {card['loss']['j']:g}. {card['parameters']['total']:,} trainable parameters.",
        "",
    ]
    if committee:
        lines += [f"A committee of {len(members)} such networks trained on the same digits from different "
                  "starting weights (`ocr train --init-seed`), read as one: their RBF penalties averaged "
                  "(`ocr.lenet5.Committee`). Every figure below is the committee's; the members alone:", "",
                  "| member | init seed | epochs | MNIST test error | rejection for 0.5% / 0.1% error |",
                  "|---|---|---|---|---|"]
        lines += [f"| `{m['weights']}` | {m['init_seed'] if m['init_seed'] is not None else 'as --seed'} | "
                  f"{m['epochs']} | {100 * m['test'].get('error', float('nan')):.2f}% | "
                  f"{100 * m['test'].get('rejection_for_0.5%_error', float('nan')):.2f}% / "
                  f"{100 * m['test'].get('rejection_for_0.1%_error', float('nan')):.2f}% |"
                  for m in members] + [""]
    lines += [
        "| figure (MNIST test set, 10,000 digits) | value |",
        "|---|---|",
        f"| test error | {100 * t['error']:.2f}% ({t['errors']} digits) |",
        f"| rejection needed for 0.5% error | {100 * t['rejection_for_0.5%_error']:.2f}% |",
        f"| rejection needed for 0.1% error | {100 * t['rejection_for_0.1%_error']:.2f}% |",
    ]
    for key, at in t.get("at_calibrated_thresholds", {}).items():
        lines.append(f"| at the threshold calibrated for {float(key):.2%} (validation) | accepts "
                     f"{100 * at['accepted']:.2f}%, error among accepted {100 * at['error_among_accepted']:.3f}% |")
    lines += ["", "Error per digit (test): " + ", ".join(
        f"{d}: {100 * e:.2f}%" for d, e in t["error_per_digit"].items()), "",
        "Rejection thresholds (margin = log-odds of the best digit, see `ocr/reject.py`), calibrated on "
        f"{card['calibration'].get('digits') or card['data']['validation']}:", ""]
    views = card["calibration"].get("views", [])
    if len(views) > 1:
        lines += [f"Penalties are averaged over {len(views)} test-time views of each digit (`ocr/views.py`: "
                  + ", ".join(f"{a:+g}° x{s:g}" for a, s in views) + "); the thresholds and every test figure "
                  "above use them, as the pipeline does.", ""]
    config = card.get("training", {}).get("config", {})
    if config.get("fields"):
        # Weights trained before the option existed were cut with TRAIN_DRIFT's value (1.0).
        lines += [f"Training field strips cut with cut-path drift {config.get('cut_drift', 1.0):g} (`ocr train "
                  f"--cut-drift`); the reader and the calibration cut with {DRIFT:g} (`ocr.segment.DRIFT`).", ""]
    if config.get("hysteresis"):
        lines += ["Field strips cleaned with hysteresis (`ocr train --hysteresis`, `ocr.fields.join_faint`): the faint "
                  "stretches of a stroke joined to its ink are ink too; the reader cleans so with these weights.", ""]
    if config.get("styles"):
        lines += [f"{100 * config['styles']:g}% of the training '1's and '7's redrawn as many writers outside the US "
                  "make them, a flagged '1' and a crossed '7' (`ocr train --styles`, `ocr/styles.py`), in the digits "
                  "and in the field strips written with them; the validation digits are MNIST's own.", ""]
    if card["calibration"].get("command"):
        lines.append(f"(recalibrated with `{card['calibration']['command']}`)")
        lines.append("")
    rubbish = card["calibration"].get("rubbish_rejected", {})
    for key, c in cal.items():
        extra = f"; rejects {100 * rubbish[key]:.1f}% of held-out non-digits" if key in rubbish else ""
        lines.append(f"- target {float(key):.2%}: margin >= {c['threshold']:.3f}, accepts "
                     f"{100 * c['accepted']:.2f}% of validation digits at {100 * c['error']:.3f}% error{extra}")
    fields = card["calibration"].get("fields")
    if fields and fields.get("scorers"):
        lines += _score_card(fields)
    elif fields:
        lines += ["", "Field thresholds (`--field-error`): per field type, the digit margins at which the fields the "
                  f"reader accepts are wrong at most the target rate, calibrated on {fields['n']} synthetic strips per "
                  f"type written with the held-out digits ({fields['touching']:.0%} of digits touching the one before; "
                  "`/cells`: written in printed cells, one digit in each, as a template's comb fields are; "
                  "`ocr/fieldset.py`): one for digits read whole (*alone*), one for digits cut from a wider "
                  "blob (*joined*; in amounts, which have no digit count to break, also wider blobs read whole). "
                  "A digit must pass both its digit threshold and its field's. Table cells: margin alone / "
                  "joined, strips accepted, error among them.", ""]
        lines += _field_table(fields, lambda c: f"{c['alone']:.1f} / {c['joined']:.1f}")
    pairs = card.get("pairs")
    if pairs:
        from ocr.pairs import PAIR_TOUCHING

        held = pairs["held_out"]
        lines += ["", "## Two-digit detector", "",
                  "A second network the reader asks about every digit read whole from a mark wide enough for two "
                  "(`ocr/pairs.py`): LeNet-5's C1-F6, started from the digit network's weights, with a two-way output "
                  "(one digit, two digits), trained on candidates cut from "
                  f"{pairs['fields']} synthetic amount and zip strips written with the training digits "
                  f"({PAIR_TOUCHING:.0%} of digits touching the one before; {pairs['examples']['one']:,} one-digit and "
                  f"{pairs['examples']['two']:,} two-digit candidates), {pairs['epochs']} epochs, {pairs['seconds']} s "
                  f"on {pairs['device']}. A "
                  f"digit it gives two digits at least {pairs['threshold']:g} sends its field to a person (amounts "
                  "and digit strings: zips and dates have a digit count to catch a lost digit). The field thresholds "
                  "above were calibrated "
                  + ("with that doubt" if card["calibration"].get("fields", {}).get("pairs") else
                     "without it (it can only send more fields to a person, so the error among the fields they "
                     "accept can only fall)")
                  + ". On candidates cut from "
                  f"{pairs['held_out_fields']} strips written with the held-out digits, at {pairs['threshold']:g}:", "",
                  "| candidates | one digit: called two | two digits: called two |", "|---|---|---|"]
        for name, label in (("wide", "read whole from a wide mark (what the reader asks about)"), ("all", "all")):
            h = held[name]
            lines.append(f"| {label} | {100 * h['false_alarms']:.2f}% of {h['one']:,} | "
                         f"{100 * h['found']:.1f}% of {h['two']:,} |")
    reader = card.get("pair_reader")
    if reader:
        held = reader["held_out"]
        lines += ["", "## Pair reader", "",
                  "A third network the reader asks about every mark wide enough for two digits, read whole "
                  "(`ocr/pairs.py`): LeNet-5's C1-C5 slid along the mark normalised to 32x64 (9 columns, each a "
                  "digit-sized window), F6 on each column and a 110-way output on the nine together (the 100 "
                  "digit pairs and the 10 digits), started from the digit network's weights, trained on the wide "
                  "marks cut from "
                  f"{reader['fields']:,} synthetic amount and zip strips written with the training digits "
                  f"({reader['touching']:.0%} of digits touching the one before; {reader['examples']['pairs']:,} "
                  f"touching pairs and {reader['examples']['singles']:,} single digits, labelled by who wrote their "
                  f"ink), {reader['epochs']} epochs, {reader['seconds']} s on {reader['device']}. Its -log P of each "
                  "reading of such a mark (whole, or cut into two digits) is added to that reading's cost in the "
                  "segmentation graph; a mark it reads as two digits with P at least "
                  f"{PAIR_READ} that no cut reads so is one more path of the graph, those two digits read by it "
                  "alone (`pair-read digits`); and how likely it finds the reading the graph chose is a feature of "
                  "the field score (`pair reading`); the field scores above were fitted "
                  + ("with it" if card["calibration"].get("fields", {}).get("pair_reader") else
                     "without it (they give it no weight until `ocr calibrate` is run)")
                  + f". On the wide marks of {reader['held_out_fields']:,} strips written with the held-out digits "
                  f"({held['pairs']:,} pairs, {held['singles']:,} single digits) its best reading is right for "
                  f"{100 * held['pairs_read_right']:.1f}% of the pairs and {100 * held['singles_read_right']:.1f}% of "
                  f"the single digits; it reads {100 * held['pairs_read_as_one']:.1f}% of the pairs as one digit and "
                  f"{100 * held['singles_read_as_two']:.1f}% of the single digits as two."]
    tr = card["training"]
    if committee:
        commands = [m["command"] for m in members] + [committee["command"]]
        made = ("Each member: " + "; ".join(f"{m['epochs']} epochs, {m['seconds'] or 0:.0f} s" for m in members)
                + f", on {tr['device']}, data seed {tr['config']['seed']}. The training curve is the first member's.")
    else:
        init = tr.get("init")
        commands = ([init["command"] or f"(weights {init['weights']})"] if init else []) + [tr["command"]]
        made = (f"First {init['epochs']} epochs, {init['seconds'] or 0:.0f} s (`{init['weights']}`, sha256 "
                f"{init['sha256'][:12]}...); then " if init else "")
        made += (f"{len(tr['history'])} epochs on " if tr["history"] or not init else "on ") + \
            f"{tr['device']}, {tr['seconds']:.0f} s, seed {tr['config']['seed']}."
        graph = tr.get("graph_history")
        if graph:
            spent = sum(h["seconds"] for h in graph)
            made += (f" Of those seconds, {spent:.0f} went to {len(graph)} epochs of field-level training on the "
                     f"segmentation graphs of {tr['config']['graph_fields']} strips (`ocr/graphtrain.py`; graph loss "
                     f"{graph[0]['graph_loss']:.3f} -> {graph[-1]['graph_loss']:.3f} per blob).")
    recalibrated = card["calibration"].get("command")
    with_pairs = card["calibration"].get("fields", {}).get("pairs")  # calibrated after the detector was trained
    with_reader = card["calibration"].get("fields", {}).get("pair_reader")  # ... after the pair reader was
    if recalibrated and not (with_pairs or with_reader):
        commands = [*commands, recalibrated]
    if pairs:
        commands = [*commands, pairs["command"]]
    if recalibrated and with_pairs and not with_reader and recalibrated not in commands:
        commands = [*commands, recalibrated]  # (train-pairs --recalibrate: the same)
    if reader:
        commands = [*commands, reader["command"]]
    if recalibrated and with_reader and recalibrated not in commands:
        commands = [*commands, recalibrated]
    lines += ["", "## How it was made", "", "```", *commands, "```", "", made, "Data (sha256):", ""]
    for split in ("train_sha256", "test_sha256"):
        for name, sha in card["data"][split].items():
            lines.append(f"- `{name}` {sha}")
    if tr.get("extra_sets"):
        lines += ["", "Extra training sets: " + ", ".join(f"{e['path']} ({e['n']} digits)" for e in tr["extra_sets"])]
    lines += ["", f"![training curve]({stem}_training.png) ![error vs rejection]({stem}_rejection.png)", "",
              "Confusion matrix (rows: true digit, columns: predicted): see `confusion` in "
              f"`{stem}.json`.", ""]
    return "\n".join(lines)


def evaluate_weights(weights: Path, device: str = "auto", data_dir: str | None = None) -> dict:
    """``ocr evaluate``: the shipped (or given) weights on the MNIST test set."""
    model, info = load_weights(weights, resolve_device(device))
    images, labels = mnist.load_mnist("test", data_dir)
    if not info["calibration"]:
        raise OCRError(f"weights file {weights} has no calibrated rejection thresholds")
    penalties = predict_penalties(model, normalize_many(images), next(model.parameters()).device,
                                  views=calibrated_views(info["calibration"]))
    return evaluate(penalties, labels, info["j"], info["calibration"])

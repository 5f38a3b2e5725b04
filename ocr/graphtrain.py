"""Field-level training of the recogniser through the reader's segmentation graphs (paper, sections
VI-VIII: discriminative forward training of a graph transformer network).

Digit-level training (:mod:`ocr.train`) teaches the network what each candidate *is*; it never sees
that the reader then picks one path through each blob's segmentation graph, and that a confident
wrong path (a touching pair read as one digit, a digit cut into two) costs a whole field. Here the
network is trained on whole graphs: for each blob of a synthetic field strip written with MNIST
*training* digits and cut by the reader's own segmenter, the loss is

    -log P(a right path, read right | blob)
    = -log sum_{right p} e^{-C(p, truth)} + log sum_{every p} sum_{labels} e^{-C(p, labels)}

with the reader's path cost ``C`` (:mod:`ocr.reader`: ``-log P(digit | candidate)`` from the RBF
penalties and the rubbish class, plus the piece cost and the width and aspect costs). It pulls the
right pieces' penalties down and pushes the competing readings' up, in proportion to how much they
compete: exactly the errors the reader makes.

A path is *right* when its pieces are, in order, the blob's digits by who wrote their ink
(:attr:`ocr.handwriting.FieldStrip.owner`): each piece mostly one digit's ink and most of that
digit's. Blobs with no right path (a sign, a cut that never falls in the right place) are left out.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ocr.errors import OCRError
from ocr.fieldset import FIELD_TYPES, OWNER_GROWTH, label_candidates, map_over_digits, owner_in_clean
from ocr.handwriting import DigitPool, make_field, random_value
from ocr.reader import PIECE_COST, prepare_fields, shape_costs
from ocr.records import FieldImage

PATH_PURITY = 0.75  # a right path's piece: at least this share of its ink is one digit's ...
PATH_COVER = 0.7  # ... and it holds at least this share of that digit's ink
BLOB_SHARE = 0.5  # a digit belongs to the blob holding at least this share of its ink


@dataclass
class Graphs:
    """Segmentation graphs of many blobs, flat.

    ``inputs`` ``float32 [N, 32, 32]``: every candidate, normalised; ``wide`` ``float32 [N]``: its
    width cost; ``aspect`` ``float32 [N, 10]``: its aspect cost per label. ``paths`` ``int64 [P, L]``
    candidate indices (``-1`` pads), ``path_blob`` ``int64 [P]``, ``right`` ``bool [P]`` and ``truth``
    ``int64 [P, L]`` (the digits a right path reads); ``blob_paths`` ``int64 [B + 1]``: blob b's paths
    are rows ``blob_paths[b]:blob_paths[b + 1]``.
    """

    inputs: np.ndarray
    wide: np.ndarray
    aspect: np.ndarray
    paths: np.ndarray
    path_blob: np.ndarray
    right: np.ndarray
    truth: np.ndarray
    blob_paths: np.ndarray

    @property
    def n_blobs(self) -> int:
        return len(self.blob_paths) - 1


def _graphs_of_strips(pool: DigitPool, seed: int, n_fields: int, touching: float, hysteresis: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    strips, fields = [], []
    for i in range(n_fields):
        field_type = FIELD_TYPES[i % len(FIELD_TYPES)]
        s = make_field(field_type, random_value(field_type, rng), rng, pool=pool, touching_p=touching)
        strips.append(s)
        fields.append(FieldImage(name=f"{field_type}{i}", type=field_type, crop=s.image))
    prep = prepare_fields(fields, hysteresis=hysteresis)
    keep, wide, aspect, paths, truth, right, path_blob = [], [], [], [], [], [], []
    offset, n_blobs, n_kept = 0, 0, 0
    for i, clean, seg in prep.cleaned:
        strip = strips[i]
        owner = owner_in_clean(strip, clean, grow=OWNER_GROWTH if hysteresis else 0)
        n_digits = int(owner.max()) + 1
        ink = clean.mask & (owner >= 0)
        totals = np.bincount(owner[ink], minlength=max(n_digits, 1))
        for g in seg.groups:
            n = len(g.candidates)
            rows = list(range(offset, offset + n))
            offset += n
            if n_digits == 0 or g.optional:
                continue
            x0, y0, x1, y1 = g.bbox
            inside = owner[y0:y1, x0:x1][clean.mask[y0:y1, x0:x1]]
            held = np.bincount(inside[inside >= 0], minlength=n_digits) / np.maximum(totals, 1)
            digits = [int(k) for k in np.flatnonzero(held >= BLOB_SHARE)]
            if not digits or not all(prep.valid[r] for r in rows):
                continue
            who = [int(k) for k in label_candidates([c.ink > 0 for c in g.candidates], [c.bbox for c in g.candidates],
                                                     owner, clean.mask, purity=PATH_PURITY, cover=PATH_COVER)]
            value = [int(ch) for ch in strip.value if ch.isdigit()]
            blob_rights = []
            for p in g.paths:
                read = [who[k] for k in p]
                blob_rights.append(read == digits)
            if not any(blob_rights):
                continue
            base = n_kept
            keep += rows
            wd, asp = shape_costs([prep.boxes[r] for r in rows], [prep.heights[r] for r in rows])
            wide += list(wd)
            aspect += list(asp)
            for p, ok in zip(g.paths, blob_rights, strict=True):
                paths.append([base + k for k in p])
                truth.append([value[who[k]] if ok else 0 for k in p])
                right.append(ok)
                path_blob.append(n_blobs)
            n_kept += n
            n_blobs += 1
    width = max((len(p) for p in paths), default=1)
    pad = lambda rows, fill: np.array([r + [fill] * (width - len(r)) for r in rows], np.int64).reshape(-1, width)  # noqa: E731
    return {"inputs": prep.stack[keep] if keep else np.zeros((0, 32, 32), np.float32),
            "wide": np.asarray(wide, np.float32), "aspect": np.asarray(aspect, np.float32).reshape(-1, 10),
            "paths": pad(paths, -1), "truth": pad(truth, 0), "right": np.asarray(right, bool),
            "path_blob": np.asarray(path_blob, np.int64)}


def graph_examples(images: np.ndarray, labels: np.ndarray, n_fields: int, seed: int, *, touching: float = 0.15,
                   workers: int = 1, chunk: int = 250, hysteresis: bool = False) -> Graphs:
    """The segmentation graphs of the blobs of ``n_fields`` synthetic zip, amount and date strips
    written with ``images``/``labels`` (the MNIST *training* digits) and cut by the reader's
    segmenter (``hysteresis``: cleaned with it); the same seed and chunk give the same graphs whatever
    ``workers`` is."""
    jobs = [(int(zlib.crc32(f"graph:{seed}:{k}".encode())), min(chunk, n_fields - k), touching, hysteresis)
            for k in range(0, n_fields, chunk)]
    parts = map_over_digits(_graphs_of_strips, jobs, images, labels, workers)
    if not parts:
        raise OCRError("no field strips to train on")
    width = max(p["paths"].shape[1] for p in parts)
    inputs, wide, aspect, paths, truth, right, path_blob = [], [], [], [], [], [], []
    n_cand, n_blob = 0, 0
    for p in parts:
        extra = width - p["paths"].shape[1]
        pp = np.pad(p["paths"], ((0, 0), (0, extra)), constant_values=-1)
        paths.append(np.where(pp >= 0, pp + n_cand, -1))
        truth.append(np.pad(p["truth"], ((0, 0), (0, extra))))
        path_blob.append(p["path_blob"] + n_blob)
        inputs.append(p["inputs"])
        wide.append(p["wide"])
        aspect.append(p["aspect"])
        right.append(p["right"])
        n_cand += len(p["inputs"])
        n_blob += int(p["path_blob"].max()) + 1 if len(p["path_blob"]) else 0
    path_blob_all = np.concatenate(path_blob)
    blob_paths = np.searchsorted(path_blob_all, np.arange(n_blob + 1))
    return Graphs(np.concatenate(inputs), np.concatenate(wide), np.concatenate(aspect), np.concatenate(paths),
                  path_blob_all, np.concatenate(right), np.concatenate(truth), blob_paths)


def graph_batch(g: Graphs, blobs: np.ndarray) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """The candidates (indices into ``g.inputs``) and path tensors of some blobs, renumbered."""
    rows = np.concatenate([np.arange(g.blob_paths[b], g.blob_paths[b + 1]) for b in blobs])
    paths = g.paths[rows]
    used = np.unique(paths[paths >= 0])
    local = np.full(len(g.inputs), -1, np.int64)
    local[used] = np.arange(len(used))
    paths = np.where(paths >= 0, local[np.maximum(paths, 0)], -1)
    _, blob_of_path = np.unique(g.path_blob[rows], return_inverse=True)
    return used, {"paths": torch.from_numpy(paths), "truth": torch.from_numpy(g.truth[rows]),
                  "right": torch.from_numpy(g.right[rows]), "blob": torch.from_numpy(blob_of_path),
                  "wide": torch.from_numpy(g.wide[used]), "aspect": torch.from_numpy(g.aspect[used])}


def _segment_logsumexp(x: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    """logsumexp of ``x`` within each segment id of ``seg`` (``-inf`` entries count for nothing)."""
    top = torch.full((n,), -torch.inf, dtype=x.dtype).scatter_reduce(0, seg, x, "amax", include_self=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top)).detach()
    s = torch.zeros(n, dtype=x.dtype).index_add(0, seg, torch.exp(x - top[seg]))
    return torch.log(s) + top


def graph_loss(penalties: torch.Tensor, batch: dict[str, torch.Tensor], j: float) -> torch.Tensor:
    """Mean over the batch's blobs of ``-log P(a right path, read right | blob)`` under the reader's
    path costs (module docstring). ``penalties`` ``[n, 10]`` are the batch's candidates' RBF outputs."""
    full = torch.cat([penalties, torch.full_like(penalties[:, :1], float(j))], dim=1)
    log_p = -penalties - torch.logsumexp(-full, dim=1, keepdim=True)  # log P(digit d | candidate)
    cost = -log_p + PIECE_COST + batch["wide"][:, None] + batch["aspect"]  # [n, 10]
    free = torch.logsumexp(-cost, dim=1)  # log sum over labels of e^{-cost}
    paths, mask = batch["paths"], batch["paths"] >= 0
    idx = paths.clamp(min=0)
    free_score = torch.where(mask, free[idx], torch.zeros_like(free[idx])).sum(1)  # [P]
    true_cost = torch.where(mask, cost[idx, batch["truth"]], torch.zeros_like(free[idx])).sum(1)
    n_blobs = int(batch["blob"].max()) + 1
    every = _segment_logsumexp(free_score, batch["blob"], n_blobs)
    right = _segment_logsumexp(torch.where(batch["right"], -true_cost, torch.full_like(true_cost, -torch.inf)),
                               batch["blob"], n_blobs)
    return (every - right).mean()


def sample_blobs(n_blobs: int, size: int, generator: torch.Generator) -> Sequence[np.ndarray]:
    """Blob indices in random order, ``size`` at a time."""
    order = torch.randperm(n_blobs, generator=generator).numpy()
    return [order[k : k + size] for k in range(0, n_blobs, size)]


def train_on_graphs(model: torch.nn.Module, graphs: Graphs, digits: torch.Tensor, digit_labels: torch.Tensor, *,
                    epochs: int, lr: float, j: float, generator: torch.Generator, device: torch.device,
                    blobs_per_step: int = 64, digits_per_step: int = 128, distort=None, progress: bool = False,
                    log=print) -> list[dict]:
    """Train ``model`` on whole segmentation graphs (:func:`graph_loss`) and, in the same steps, on
    single digits with the MAP criterion: the right paths' pieces with their digits, and
    ``digits_per_step`` of ``digits`` (``float32 [M, 1, 32, 32]``, targets ``digit_labels``, which may be
    rubbish), ``distort``-ed, so the network keeps what the digit training taught it. Adam, cosine decay
    from ``lr`` to 1% of it. Returns one history entry per epoch."""
    import sys
    import time

    from tqdm import tqdm

    from ocr.lenet5 import map_loss

    if graphs.n_blobs == 0:
        raise OCRError("no blob of the field strips has a right path to train on (too few strips? --graph-fields)")
    x = torch.from_numpy(graphs.inputs).unsqueeze(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = -(-graphs.n_blobs // blobs_per_step)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs * steps, 1), eta_min=lr * 0.01)
    history = []
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        totals = {"graph_loss": 0.0, "piece_loss": 0.0, "digit_loss": 0.0}
        batches = sample_blobs(graphs.n_blobs, blobs_per_step, generator)
        for blobs in tqdm(batches, desc=f"graph epoch {epoch + 1}/{epochs}", disable=not progress, leave=False,
                          file=sys.stderr):
            used, batch = graph_batch(graphs, blobs)
            pick = torch.randint(0, len(digits), (digits_per_step,), generator=generator)
            xd = digits[pick]
            if distort is not None:
                xd = distort(xd, generator)
            penalties = model(torch.cat([x[used], xd]).to(device)).cpu()
            cand = penalties[: len(used)]
            lg = graph_loss(cand, batch, j)
            paths, truth = batch["paths"][batch["right"]], batch["truth"][batch["right"]]
            lp = map_loss(cand[paths[paths >= 0]], truth[paths >= 0], j)
            ld = map_loss(penalties[len(used):], digit_labels[pick], j)
            loss = lg + lp + ld
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            for key, value in zip(totals, (lg, lp, ld), strict=True):
                totals[key] += float(value.detach())
        entry = {"epoch": epoch + 1, **{k: v / len(batches) for k, v in totals.items()},
                 "seconds": time.time() - t0}
        history.append(entry)
        log(f"graph epoch {epoch + 1:3d}/{epochs}  graph loss {entry['graph_loss']:.4f}  right pieces "
            f"{entry['piece_loss']:.4f}  digits {entry['digit_loss']:.4f}  ({entry['seconds']:.0f}s)")
    model.eval()
    return history

"""LeNet-5 as in LeCun, Bottou, Bengio, Haffner, "Gradient-Based Learning Applied to Document
Recognition", Proc. IEEE 86(11), 1998, section II.B and Appendix A.

Input ``[N, 1, 32, 32]`` float32 with background -0.1 and ink 1.175 (see :mod:`ocr.normalize`).
Output: ``[N, 10]`` RBF penalties ``y_i = sum_j (x_j - w_ij)^2`` (smaller is better).

Trainable parameters, layer by layer (the paper's counts): C1 156, S2 12, C3 1,516, S4 32,
C5 48,120, F6 10,164; 60,000 in all. The RBF centres are fixed +-1 7x12 bitmaps, not trained.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ocr.errors import OCRError

# Squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3 (Appendix A).
SQUASH_A = 1.7159
SQUASH_S = 2.0 / 3.0

# Table I: which S2 feature maps each C3 map takes. 6 maps of 3 contiguous, 6 of 4 contiguous,
# 3 of 4 discontinuous, 1 of all 6.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

# The RBF centres: stylised 7x12 bitmaps of the digits (Fig. 3 of the paper is the model),
# '#' = +1, '.' = -1. Read them as pictures: 12 rows of 7 pixels.
PROTOTYPES_ART: dict[int, str] = {
    0: """
..###..
.#...#.
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
#.....#
.#...#.
..###..
""",
    1: """
...#...
..##...
.#.#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
...#...
.#####.
""",
    2: """
..###..
.#...#.
#.....#
......#
.....#.
....#..
...#...
..#....
.#.....
#......
#......
#######
""",
    3: """
.#####.
#.....#
......#
......#
.....#.
..###..
.....#.
......#
......#
......#
#.....#
.#####.
""",
    4: """
.....#.
....##.
...#.#.
..#..#.
.#...#.
#....#.
#....#.
#######
.....#.
.....#.
.....#.
.....#.
""",
    5: """
#######
#......
#......
#......
#####..
.....#.
......#
......#
......#
......#
#....#.
.####..
""",
    6: """
...###.
..#....
.#.....
#......
#.###..
##...#.
#.....#
#.....#
#.....#
#.....#
.#...#.
..###..
""",
    7: """
#######
......#
.....#.
.....#.
....#..
....#..
...#...
...#...
..#....
..#....
..#....
..#....
""",
    8: """
..###..
.#...#.
#.....#
#.....#
.#...#.
..###..
.#...#.
#.....#
#.....#
#.....#
.#...#.
..###..
""",
    9: """
..###..
.#...#.
#.....#
#.....#
#.....#
.#...##
..###.#
......#
......#
.....#.
....#..
.###...
""",
}


def rbf_prototypes() -> torch.Tensor:
    """The fixed RBF centres as a ``[10, 84]`` float32 tensor of +-1 (rows of the 7x12 bitmaps)."""
    rows = []
    for digit in range(10):
        lines = [ln for ln in PROTOTYPES_ART[digit].strip().splitlines()]
        if len(lines) != 12 or any(len(ln) != 7 for ln in lines):
            raise ValueError(f"prototype {digit} is not a 7x12 picture")
        rows.append([1.0 if ch == "#" else -1.0 for ln in lines for ch in ln])
    return torch.tensor(rows, dtype=torch.float32)


def squash(a: torch.Tensor) -> torch.Tensor:
    """f(a) = 1.7159 tanh(2a/3) (paper, eq. 6 and Appendix A)."""
    return SQUASH_A * torch.tanh(SQUASH_S * a)


class Subsampling(nn.Module):
    """S2/S4: the sum of each 2x2 block times one trainable coefficient per map, plus one trainable
    bias per map (the squashing is applied by the caller). 2 parameters per map."""

    def __init__(self, channels: int):
        super().__init__()
        self.coefficient = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = F.avg_pool2d(x, 2) * 4.0
        return summed * self.coefficient.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialConv(nn.Module):
    """C3: 16 maps of 5x5 kernels, each looking only at the S2 maps that Table I gives it.

    The 60 connections' kernels are stored packed (``weight`` ``[60, 5, 5]``) so the parameter
    count is the paper's 1,516; they are scattered into a dense ``[16, 6, 5, 5]`` kernel with zeros
    for the missing connections, and run as one convolution (one kernel launch instead of 16).
    """

    def __init__(self, table: tuple[tuple[int, ...], ...] = C3_TABLE, in_maps: int = 6, kernel: int = 5):
        super().__init__()
        self.table = table
        self.in_maps = in_maps
        self.out_maps = len(table)
        self.kernel = kernel
        flat = [out * in_maps + src for out, srcs in enumerate(table) for src in srcs]
        self.register_buffer("connection_index", torch.tensor(flat, dtype=torch.long), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(flat), kernel, kernel))
        self.bias = nn.Parameter(torch.empty(self.out_maps))
        self._dense_cache: torch.Tensor | None = None

    def connection_mask(self) -> torch.Tensor:
        """``[16, 6]`` bool: True where C3 map ``o`` reads S2 map ``i``."""
        mask = torch.zeros(self.out_maps * self.in_maps, dtype=torch.bool)
        mask[self.connection_index.cpu()] = True
        return mask.view(self.out_maps, self.in_maps)

    def dense_weight(self) -> torch.Tensor:
        k = self.kernel
        dense = self.weight.new_zeros(self.out_maps * self.in_maps, k, k)
        dense = dense.index_copy(0, self.connection_index, self.weight)
        return dense.view(self.out_maps, self.in_maps, k, k)

    def train(self, mode: bool = True):
        self._dense_cache = None
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            weight = self.dense_weight()
        else:
            # Inference: build the dense kernel once (weights don't change in eval mode).
            if self._dense_cache is None or self._dense_cache.device != x.device:
                with torch.no_grad():
                    self._dense_cache = self.dense_weight().contiguous()
            weight = self._dense_cache
        return F.conv2d(x, weight, self.bias)


class RBFOutput(nn.Module):
    """Euclidean RBF units: ``y_i = sum_j (x_j - w_ij)^2`` with fixed centres ``w_i`` (eq. 7)."""

    def __init__(self, prototypes: torch.Tensor):
        super().__init__()
        self.register_buffer("prototypes", prototypes.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # |x - w|^2 = |x|^2 - 2 x.w + |w|^2, as one matrix product.
        w = self.prototypes
        return (x * x).sum(1, keepdim=True) - 2.0 * (x @ w.t()) + (w * w).sum(1).unsqueeze(0)


class LeNet5(nn.Module):
    """LeNet-5, layer by layer as in the paper (Fig. 2)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)  # 32x32 -> 6@28x28
        self.s2 = Subsampling(6)  # -> 6@14x14
        self.c3 = PartialConv()  # -> 16@10x10
        self.s4 = Subsampling(16)  # -> 16@5x5
        self.c5 = nn.Conv2d(16, 120, 5)  # -> 120@1x1
        self.f6 = nn.Linear(120, 84)
        self.output = RBFOutput(rbf_prototypes())
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Appendix A: weights uniform in +-2.4/F_i, F_i the fan-in of the unit."""

        def uniform_(t: torch.Tensor, fan_in: int) -> None:
            bound = 2.4 / fan_in
            with torch.no_grad():
                t.uniform_(-bound, bound, generator=generator)

        uniform_(self.c1.weight, 25)
        uniform_(self.c1.bias, 25)
        for s in (self.s2, self.s4):
            uniform_(s.coefficient, 4)
            uniform_(s.bias, 4)
        # C3 fan-in depends on how many S2 maps the unit reads (3, 4 or 6 maps of 25).
        with torch.no_grad():
            start = 0
            for out, srcs in enumerate(self.c3.table):
                n = len(srcs)
                bound = 2.4 / (25 * n)
                self.c3.weight[start : start + n].uniform_(-bound, bound, generator=generator)
                self.c3.bias[out].uniform_(-bound, bound, generator=generator)
                start += n
        uniform_(self.c5.weight, 400)
        uniform_(self.c5.bias, 400)
        uniform_(self.f6.weight, 120)
        uniform_(self.f6.bias, 120)

    def c5_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The C5 output ``[N, 120, 1, (W - 32) / 4 + 1]`` for inputs ``[N, 1, 32, W]``: ``[N, 120, 1, 1]`` for
        the 32x32 input; a wider input gives a column every 4 pixels, the network slid along it."""
        x = squash(self.c1(x))
        x = squash(self.s2(x))
        x = squash(self.c3(x))
        x = squash(self.s4(x))
        return squash(self.c5(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The F6 output ``[N, 84]`` (the state the RBF units compare with their centres)."""
        return squash(self.f6(self.c5_maps(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x))


class FoldedLeNet5(nn.Module):
    """An inference-only rewrite of a trained :class:`LeNet5` that computes the same penalties with
    fewer operations: the squashing constants are folded into the neighbouring linear layers
    (``A tanh(S a)``: S into this layer's weights, A into the next one's), S2/S4 become depthwise
    2x2 stride-2 convolutions (sum x coefficient + bias in one op), and C3 runs as one dense
    convolution with zeros for the missing connections. Built by :func:`fold_for_inference`.
    """

    def __init__(self, model: LeNet5):
        super().__init__()
        a, s = SQUASH_A, SQUASH_S

        def conv(weight, bias, in_scale, groups=1, stride=1):
            c = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], weight.shape[-1], stride=stride, groups=groups)
            c.weight.data = (weight * in_scale * s).contiguous()
            c.bias.data = (bias * s).contiguous()
            return c

        def subsampling(layer: Subsampling):
            n = layer.coefficient.numel()
            w = layer.coefficient.detach().view(n, 1, 1, 1).expand(n, 1, 2, 2)
            return conv(w, layer.bias.detach(), a, groups=n, stride=2)

        with torch.no_grad():
            self.c1 = conv(model.c1.weight.detach(), model.c1.bias.detach(), 1.0)
            self.s2 = subsampling(model.s2)
            self.c3 = conv(model.c3.dense_weight().detach(), model.c3.bias.detach(), a)
            self.s4 = subsampling(model.s4)
            self.c5 = conv(model.c5.weight.detach(), model.c5.bias.detach(), a)
            self.f6 = nn.Linear(120, 84)
            self.f6.weight.data = model.f6.weight.detach() * a * s
            self.f6.bias.data = model.f6.bias.detach() * s
            w = model.output.prototypes
            # y = |A t - w|^2 = A^2 |t|^2 - 2A t.w + |w|^2
            self.register_buffer("rbf_weight", (-2.0 * a * w).t().contiguous())
            self.register_buffer("rbf_bias", (w * w).sum(1))
        self.a2 = a * a
        # Channels-last activations: oneDNN's convolutions run ~1.3x faster on them here.
        self.to(memory_format=torch.channels_last)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.c1(x.contiguous(memory_format=torch.channels_last)))
        x = torch.tanh(self.s2(x))
        x = torch.tanh(self.c3(x))
        x = torch.tanh(self.s4(x))
        x = torch.tanh(self.c5(x)).flatten(1)
        t = torch.tanh(self.f6(x))
        return torch.addmm(self.rbf_bias, t, self.rbf_weight) + self.a2 * (t * t).sum(1, keepdim=True)


class Committee(nn.Module):
    """Several LeNet-5s trained on the same digits from different starting weights (``ocr train
    --init-seed``), read as one network: their RBF penalties averaged, every member in the same
    forward pass. Their errors differ where each is unsure, so the average is surer where they
    agree and less sure where they do not (the paper's boosted LeNet-4 combined three networks'
    outputs: rejection for 0.5% error 1.8% -> 0.5%). Built by ``ocr committee``."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"a committee needs at least two networks, got {len(members)}")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.members[0](x)
        for m in self.members[1:]:
            out = out + m(x)
        return out / len(self.members)


def fold_for_inference(model: LeNet5 | Committee) -> FoldedLeNet5 | Committee:
    """The same function as ``model`` in eval mode, with fewer operations per forward pass."""
    if isinstance(model, Committee):
        return Committee([fold_for_inference(m) for m in model.members])
    return FoldedLeNet5(model).to(next(model.parameters()).device)


def layer_parameter_counts(model: LeNet5) -> dict[str, int]:
    """Trainable parameters per layer, in the paper's names."""
    return {
        name: sum(p.numel() for p in getattr(model, name).parameters() if p.requires_grad)
        for name in ("c1", "s2", "c3", "s4", "c5", "f6", "output")
    }


RUBBISH = 10  # target of "not one digit" examples (two touching digits, a cut in the wrong place)


def map_loss(penalties: torch.Tensor, targets: torch.Tensor, j: float) -> torch.Tensor:
    """The paper's MAP criterion (eq. 9), averaged over the batch:

    ``E = mean_p [ y_{D_p} + log(e^{-j} + sum_i e^{-y_i}) ]``

    The first term pulls the correct class's penalty down; the second pushes the others up, and
    ``e^{-j}`` (a "rubbish" class of constant penalty j) stops it once they are above ~j. A target of
    :data:`RUBBISH` (10) is such a non-digit: its "correct penalty" is j itself, so the loss pushes
    every digit's penalty above j for it, and the rejection margin of such inputs goes negative
    (the paper trains its segmenter's recogniser on such bad segments, section VII).
    """
    rubbish = torch.full((penalties.shape[0], 1), float(j), dtype=penalties.dtype, device=penalties.device)
    full = torch.cat([penalties, rubbish], dim=1)
    correct = full.gather(1, targets.view(-1, 1)).squeeze(1)
    return (correct + torch.logsumexp(-full, dim=1)).mean()


# --- weights files -------------------------------------------------------------------------------

WEIGHTS_FORMAT = "ocr-lenet5"
WEIGHTS_VERSION = 1


def _state(model: nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def save_weights(model: LeNet5 | Committee, path: Path, *, j: float, calibration: dict | None = None,
                 meta: dict | None = None, pairs: nn.Module | None = None, pair_reader: nn.Module | None = None):
    """Write a self-contained weights file: state dict (a committee: one per member) + the loss
    constant j + rejection thresholds (+ the two-digit detector and the pair reader of :mod:`ocr.pairs`,
    when given)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        **({"members": [_state(m) for m in model.members]} if isinstance(model, Committee)
           else {"state_dict": _state(model)}),
        "j": float(j),
        "calibration": calibration or {},
        "meta": meta or {},
        **({"pairs": _state(pairs)} if pairs is not None else {}),
        **({"pair_reader": _state(pair_reader)} if pair_reader is not None else {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_state(net: nn.Module, state, where: str, what: str) -> nn.Module:
    """``net`` with ``state`` loaded, or :class:`OCRError` naming ``where`` (``"weights file X"``) and
    ``what`` the network is when the state does not fit it or holds non-finite values."""
    try:
        net.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OCRError(f"{where} does not fit {what}: {first}") from None
    for name, tensor in net.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise OCRError(f"{where} holds non-finite values in {name}")
    return net


def load_weights(path: Path, device: str | torch.device = "cpu", *,
                 pair_reader: bool = True) -> tuple[LeNet5 | Committee, dict]:
    """Load a weights file written by :func:`save_weights`.

    Returns ``(model in eval mode on device, info)`` (a :class:`Committee` when the file holds several
    networks) with ``info`` holding ``j``, ``calibration``, ``meta``, ``pairs`` and ``pair_reader`` (the
    two-digit detector and the pair reader of :mod:`ocr.pairs` in eval mode on device, or ``None``). A
    missing, truncated or foreign file raises :class:`OCRError` naming the file. ``pair_reader=False``
    leaves the pair reader out (``None``; ``ocr train-pair-reader`` replaces it, whatever it was).
    """
    path = Path(path)
    if not path.is_file():
        raise OCRError(f"weights file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt zips/pickles
        raise OCRError(f"weights file {path} is unreadable (truncated or not a torch file): "
                       f"{type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise OCRError(f"weights file {path} is not an ocr LeNet-5 weights file")
    if payload.get("version") != WEIGHTS_VERSION:
        raise OCRError(f"weights file {path} has version {payload.get('version')}, expected {WEIGHTS_VERSION}")
    states = payload.get("members") if "members" in payload else [payload.get("state_dict")]
    if not isinstance(states, list) or not states:
        raise OCRError(f"weights file {path} holds no networks")
    networks = []
    for k, state in enumerate(states):
        which = f" (committee member {k + 1})" if len(states) > 1 else ""
        networks.append(load_state(LeNet5(), state, f"weights file {path}{which}", "LeNet-5"))
    model = Committee(networks) if len(networks) > 1 else networks[0]
    model.eval()
    pairs = None
    if payload.get("pairs") is not None:
        from ocr.pairs import load_detector

        pairs = load_detector(payload["pairs"], str(path), device)
    reader = None
    if pair_reader and payload.get("pair_reader") is not None:
        from ocr.pairs import load_reader

        reader = load_reader(payload["pair_reader"], str(path), device)
    info = {"j": float(payload.get("j", 0.0)), "calibration": payload.get("calibration", {}),
            "meta": payload.get("meta", {}), "pairs": pairs, "pair_reader": reader}
    return model.to(device), info


# A forward pass's last, partial batch is padded to a multiple of this many rows (never past the batch size):
# the CPU backend keeps kernels per input shape, so batches that end on ever new sizes grow the process chunk
# by chunk (measured in ocr/batch.py: 230 -> 560 MiB over 150 chunks; flat with padding). Every network of
# the weights file pads (the digit network, the two-digit detector, the pair reader).
SHAPE_BUCKET = 128


def padded_rows(rows: int, batch_size: int) -> int:
    """How many rows a batch of ``rows`` inputs is padded to (at least ``rows``)."""
    return max(rows, min(batch_size, -(-rows // SHAPE_BUCKET) * SHAPE_BUCKET))


def pad_batch(x: np.ndarray, batch_size: int, fill: float) -> np.ndarray:
    """``x`` (``[rows, ...]``) with rows of ``fill`` added up to :func:`padded_rows`; their answers are
    dropped by the caller."""
    extra = padded_rows(len(x), batch_size) - len(x)
    return np.concatenate([x, np.full((extra, *x.shape[1:]), fill, x.dtype)]) if extra else x


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when a GPU is there, else ``cpu``; ``cuda`` without one is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise OCRError("--device cuda asked for, but no CUDA GPU is available (use --device cpu or auto)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise OCRError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


def prototype_bitmap(digit: int) -> np.ndarray:
    """The 12x7 +-1 bitmap of one digit's RBF centre (for plots and tests)."""
    return rbf_prototypes()[digit].view(12, 7).numpy()


assert math.isclose(SQUASH_A * math.tanh(SQUASH_S), 1.0, rel_tol=1e-3)  # f(1) = 1, f(-1) = -1

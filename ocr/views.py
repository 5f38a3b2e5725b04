"""Test-time views: each digit is also classified slightly turned and scaled, and the penalties of
its views are averaged.

A digit the network reads confidently only in one pose (a cut piece that happens to look like a
'1', a '4' written open) loses confidence when it is turned by a few degrees; a well-formed digit
does not (training distorted every digit by rotations and scalings of this size). Averaging over
the views therefore sends more wrong readings to review at the same acceptance. The views are
part of a model's calibration: thresholds are computed on penalties averaged over the same views
(:mod:`ocr.train` records them with the thresholds, :class:`ocr.classify.Classifier` applies them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ocr.normalize import BACKGROUND

# (rotation in degrees, scale): the digit as it is, turned 8 degrees either way, 10% smaller and larger.
VIEWS: tuple[tuple[float, float], ...] = ((0.0, 1.0), (-8.0, 1.0), (8.0, 1.0), (0.0, 0.9), (0.0, 1.1))
AS_IS: tuple[tuple[float, float], ...] = ((0.0, 1.0),)


def view_stack(x: torch.Tensor, views: Sequence[Sequence[float]] = VIEWS) -> torch.Tensor:
    """``float32 [N, 1, 32, 32]`` normalised digits -> ``[V * N, 1, 32, 32]``: view 0 of every digit,
    then view 1, ... (turned and scaled about the centre; what moves in from outside is paper)."""
    if len(views) == 1 and tuple(views[0]) == (0.0, 1.0):
        return x
    n = x.shape[0]
    thetas = []
    for angle, scale in views:
        a = math.radians(float(angle))
        # affine_grid maps output to input coordinates: the inverse of turning by a and scaling by s.
        thetas.append(torch.tensor([[math.cos(a) / scale, -math.sin(a) / scale, 0.0],
                                    [math.sin(a) / scale, math.cos(a) / scale, 0.0]], dtype=x.dtype))
    theta = torch.stack(thetas).to(x.device).repeat_interleave(n, dim=0)
    stacked = x.repeat(len(views), 1, 1, 1) - BACKGROUND  # zeros outside = paper
    grid = F.affine_grid(theta, list(stacked.shape), align_corners=False)
    return F.grid_sample(stacked, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + BACKGROUND


def mean_over_views(penalties: torch.Tensor, n_views: int) -> torch.Tensor:
    """``[V * N, 10]`` (as :func:`view_stack` orders them) -> ``[N, 10]``, the mean over the views."""
    if n_views == 1:
        return penalties
    return penalties.view(n_views, -1, penalties.shape[-1]).mean(dim=0)

"""Digits per second against batch size: the project's LeNet-5 (as the pipeline runs it) and a plain
``nn.Sequential`` LeNet-like baseline, in the same run, and the ratio.

    python benchmarks/inference.py [--device cpu|cuda] [--batches 64 256 1024 4096] [--seconds 2]

The baseline is what one writes in five minutes: Conv2d/Tanh/AvgPool2d layers and a Linear output,
run eagerly in float32. The project's model is the paper's LeNet-5 (trainable subsampling, C3
connection table, RBF output) run by :class:`ocr.classify.Classifier`, one view per digit for the
comparison; the last column is what the pipeline runs, every digit with the model's test-time
views (:mod:`ocr.views`) averaged.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from torch import nn

from ocr.classify import Classifier
from ocr.views import AS_IS


def baseline() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    ).eval()


def rate(fn, x: np.ndarray, seconds: float) -> float:
    fn(x)  # warm-up (and compilation, where there is any)
    fn(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(x)
        n += len(x)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024, 4096])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    clf = Classifier.load(args.weights, device=args.device)
    views = clf.views
    print(f"{'batch':>6} {'baseline digits/s':>18} {'project digits/s':>17} {'ratio':>6} "
          f"{f'with {len(views)} views':>14}")
    best_base, best_ours = 0.0, 0.0
    base = baseline().to(device)
    for bs in args.batches:
        x = (rng.random((bs, 32, 32), dtype=np.float32) * 1.275 - 0.1).astype(np.float32)
        clf.batch_size, clf.views = bs, views

        @torch.inference_mode()
        def run_base(arr):
            return base(torch.from_numpy(arr[:, None]).to(device)).cpu().numpy()

        b = rate(run_base, x, args.seconds)
        pipeline = rate(clf.penalties, x, args.seconds)
        clf.views = AS_IS
        o = rate(clf.penalties, x, args.seconds)
        best_base, best_ours = max(best_base, b), max(best_ours, o)
        print(f"{bs:>6} {b:>18,.0f} {o:>17,.0f} {o / b:>6.2f} {pipeline:>14,.0f}")
    print(f"best: baseline {best_base:,.0f}/s, project {best_ours:,.0f}/s, ratio {best_ours / best_base:.2f}")


if __name__ == "__main__":
    main()

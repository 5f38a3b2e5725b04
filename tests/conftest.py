"""Shared fixtures: inputs are built in code; the MNIST test set is the shipped copy."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Before anything imports Prefect: its ephemeral API server (the flows' tests, `ocr batch` with the prefect
# runner) gets as long to start as the flows give it (flows/process_batch.py). With the default 20 s a test
# timed out on a machine busy with a training run; the flows' own default comes too late once another test
# has imported Prefect.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@pytest.fixture(scope="session")
def mnist_test():
    from ocr.mnist import load_mnist

    return load_mnist("test")


@pytest.fixture(scope="session")
def classifier():
    from ocr.classify import Classifier

    return Classifier.load(device="cpu")


def mnist_digit(images: np.ndarray, labels: np.ndarray, label: int, nth: int = 0) -> np.ndarray:
    """The nth MNIST test image of a label (uint8 28x28, ink bright)."""
    return images[np.flatnonzero(labels == label)[nth]]


def tall_first_digit_amount(pool) -> np.ndarray:
    """An amount '4263' (MNIST test digits) whose '4' is written half as tall again as the rest, as a
    ``uint8`` gray image, dark on light: to the segmenter, the tall first mark looks like a '$'."""
    from ocr.handwriting import render_text

    rng = np.random.default_rng(1)
    big, _ = render_text("4", pool, rng, height=58, touching_p=0.0, margin=0)
    rest, _ = render_text("263", pool, rng, height=40, touching_p=0.0, spacing=0.3, margin=0)
    h = max(big.shape[0], rest.shape[0])
    ink = np.zeros((h + 20, big.shape[1] + rest.shape[1] + 30), np.uint8)
    ink[10 + h - big.shape[0] : 10 + h, 5 : 5 + big.shape[1]] = big
    ink[10 + h - rest.shape[0] : 10 + h, 15 + big.shape[1] : 15 + big.shape[1] + rest.shape[1]] = rest
    return 255 - ink

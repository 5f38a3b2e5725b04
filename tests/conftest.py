"""Shared fixtures: inputs are built in code; the MNIST test set is the shipped copy."""

from __future__ import annotations

import numpy as np
import pytest


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

"""ocr.styles: flagged '1's and crossed '7's drawn onto training digits, and ``ocr train --styles``."""

import numpy as np
import pytest

from ocr.errors import OCRError
from ocr.styles import cross_seven, flag_one, style_digits
from ocr.train import TrainConfig, styled


def _one() -> np.ndarray:
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 13:15] = 255  # a '1': one stroke down, rows 4-23
    return img


def _seven() -> np.ndarray:
    import cv2

    img = np.zeros((28, 28), np.uint8)
    cv2.line(img, (6, 4), (21, 4), 255, 2)  # the top bar
    cv2.line(img, (21, 4), (12, 23), 255, 2)  # the stem, leaning left
    return img


def _drawn(draw, img: np.ndarray):
    """For 20 seeds: ``draw(img)``, and the rows and columns of the ink it added (asserted not none)."""
    for seed in range(20):
        out = draw(img, np.random.default_rng(seed))
        ys, xs = np.nonzero((out > 60) & ~(img > 60))
        assert len(ys), f"nothing drawn (seed {seed})"
        yield out, ys, xs


def test_a_flag_is_drawn_from_the_top_of_a_one_down_to_its_left():
    img = _one()
    for out, ys, xs in _drawn(flag_one, img):
        flag = ys < 16  # the foot, when there is one, is drawn across the bottom
        assert flag.any()
        # The flag: left of the stem (but where it starts, at the stem's top), from the top down to at most 0.35
        # of its height (and its pen's width), reaching at least 2 px out.
        assert (xs[flag & (xs >= 13)] <= 14).all() and (ys[flag & (xs >= 13)] <= 6).all()
        assert xs[flag].min() <= 11 and ys[flag].min() >= 3 and ys[flag].max() <= 4 + 0.35 * 20 + 2
        assert (ys[~flag] >= 21).all()  # a foot stays at the bottom
        assert (out >= img).all()  # the digit's own ink is kept


def test_a_bar_is_drawn_across_the_stem_of_a_seven():
    img = _seven()
    for _, ys, xs in _drawn(cross_seven, img):
        # 0.4-0.65 of the height below the top (and a tilt of up to 8 degrees, and the pen's width).
        assert ys.min() >= 4 + 0.4 * 20 - 3 and ys.max() <= 4 + 0.65 * 20 + 3
        # across the stem: ink added on both sides of it, on the rows it crosses
        row = int(np.median(ys))
        stem = np.flatnonzero(img[row] > 60)
        assert len(stem) and xs.min() < stem.min() and xs.max() > stem.max()


def test_only_the_given_share_of_the_candidate_ones_and_sevens_is_redrawn():
    rng = np.random.default_rng(0)
    labels = np.array([1] * 10 + [7] * 10 + [4] * 10)
    images = np.stack([_one() if y == 1 else _seven() if y == 7 else _one() for y in labels])
    candidates = np.r_[0:8, 10:18, 20:28]  # two of each held out
    out, changed = style_digits(images, labels, 0.5, rng, candidates=candidates)
    assert len(changed) == 8  # half of the 8 candidate '1's and of the 8 '7's
    assert set(changed) <= set(candidates) and set(labels[changed]) == {1, 7}
    differs = np.flatnonzero(np.any(out != images, axis=(1, 2)))
    assert list(differs) == list(changed)
    again, changed_again = style_digits(images, labels, 0.5, np.random.default_rng(0), candidates=candidates)
    assert np.array_equal(again, out) and np.array_equal(changed_again, changed)


def test_training_styles_leave_validation_digits_alone():
    labels = np.array([1, 7] * 50)
    raw = np.stack([_one() if y == 1 else _seven() for y in labels])
    train_idx, val_idx = np.arange(0, 80), np.arange(80, 100)
    out, changed = styled(TrainConfig(styles=1.0), raw, labels, train_idx)
    assert len(changed) == 80 and set(changed) == set(train_idx)
    assert np.array_equal(out[val_idx], raw[val_idx])
    same, none = styled(TrainConfig(), raw, labels, train_idx)
    assert same is raw and len(none) == 0
    with pytest.raises(OCRError, match="between 0 and 1"):
        styled(TrainConfig(styles=30), raw, labels, train_idx)

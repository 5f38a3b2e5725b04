import numpy as np
import pytest

from ocr.errors import OCRError
from ocr.normalize import BACKGROUND, CENTRE, INK, normalize_digit, normalize_many


def _centre_of_mass(x):
    ink = x - BACKGROUND
    ys, xs = np.indices(x.shape)
    return (ink * ys).sum() / ink.sum(), (ink * xs).sum() / ink.sum()


def test_shape_dtype_and_value_range():
    img = np.zeros((50, 30), np.uint8)
    img[5:45, 10:20] = 255
    out = normalize_digit(img)
    assert out.shape == (32, 32) and out.dtype == np.float32
    assert out.min() == pytest.approx(BACKGROUND) and out.max() == pytest.approx(INK)


def test_fits_longer_side_to_20_keeping_aspect_ratio():
    tall = np.zeros((80, 200), np.uint8)
    tall[10:70, 50:65] = 255  # 60 high, 15 wide -> 20 x 5
    out = normalize_digit(tall)
    rows = np.flatnonzero((out > 0.5).any(1))
    cols = np.flatnonzero((out > 0.5).any(0))
    assert rows[-1] - rows[0] + 1 == 20
    assert cols[-1] - cols[0] + 1 == 5
    wide = tall.T.copy()
    out = normalize_digit(wide)
    width = np.ptp(np.flatnonzero((out > 0.5).any(0))) + 1
    height = np.ptp(np.flatnonzero((out > 0.5).any(1))) + 1
    assert (width, height) == (20, 5)


def test_centre_of_mass_is_centred_wherever_the_digit_was():
    img = np.zeros((100, 100), np.uint8)
    img[70:95, 3:30] = 255  # a blob in a corner
    img[70:75, 3:60] = 255  # lopsided
    cy, cx = _centre_of_mass(normalize_digit(img))
    assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5


def test_mnist_digits_pass_through_almost_unchanged(mnist_test):
    images, _ = mnist_test
    for img in images[:50]:
        out = normalize_digit(img)
        padded = np.pad(img.astype(np.float32) / 255, 2) * (INK - BACKGROUND) + BACKGROUND
        # MNIST is already fitted and centred: at most a one-pixel shift, same ink.
        best = min(np.abs(np.roll(np.roll(out, dy, 0), dx, 1) - padded).mean()
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        assert best < 0.02


def test_input_types_agree():
    mask = np.zeros((40, 40), bool)
    mask[5:35, 15:22] = True
    a = normalize_digit(mask)
    b = normalize_digit(mask.astype(np.uint8) * 255)
    c = normalize_digit(mask.astype(np.float32))
    d = normalize_digit(mask.astype(np.uint16) * 65535)
    assert np.allclose(a, b) and np.allclose(a, c) and np.allclose(a, d)


def test_blank_and_bad_inputs_raise_the_projects_error():
    with pytest.raises(OCRError, match="blank"):
        normalize_digit(np.zeros((10, 10), np.uint8))
    with pytest.raises(OCRError, match="2-D"):
        normalize_digit(np.zeros((3, 10, 10), np.uint8))
    with pytest.raises(OCRError, match="NaN"):
        normalize_digit(np.full((5, 5), np.nan, np.float32))


def test_normalize_many_stacks_and_handles_empty():
    assert normalize_many([]).shape == (0, 32, 32)
    imgs = [np.eye(10, dtype=np.uint8) * 255, np.ones((3, 9), np.uint8)]
    assert normalize_many(imgs).shape == (2, 32, 32)


def test_training_and_pipeline_share_the_one_function():
    import inspect

    import ocr.train

    src = inspect.getsource(ocr.train)
    assert "normalize_many" in src and "def normalize" not in src


def test_a_wide_mark_is_fitted_as_high_as_a_digit_into_the_pair_readers_wider_input():
    pair = np.zeros((60, 120), np.uint8)
    pair[5:55, 10:40] = 255  # two blocks 50 high, 30 wide each, touching by a bar
    pair[5:55, 60:90] = 255
    pair[28:32, 40:60] = 255
    out = normalize_digit(pair, wide=True)
    assert out.shape == (32, 64) and out.dtype == np.float32
    rows = np.flatnonzero((out > 0.5).any(1))
    cols = np.flatnonzero((out > 0.5).any(0))
    # 50 x 80 -> 20 x 32: as high as a digit in the 32x32 input, each block 12 wide (6 at 32x32)
    assert (np.ptp(rows) + 1, np.ptp(cols) + 1) == (20, 32)
    cy, cx = _centre_of_mass(out)
    assert abs(cy - CENTRE) <= 0.501 and abs(cx - (CENTRE + 16)) <= 0.501
    # a mark more than twice as wide as high is fitted to the 40-pixel width instead
    long = np.zeros((20, 200), np.uint8)
    long[5:15, 10:190] = 255
    cols = np.flatnonzero((normalize_digit(long, wide=True) > 0.5).any(0))
    assert np.ptp(cols) + 1 == 40
    # the 32x32 input is what it always was
    assert np.array_equal(normalize_digit(pair), normalize_digit(pair, wide=False))
    assert np.ptp(np.flatnonzero((normalize_digit(pair) > 0.5).any(0))) + 1 == 20

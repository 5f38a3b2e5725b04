"""The shipped model and the `ocr classify` / `ocr evaluate` commands."""

import csv
import io

import cv2
import numpy as np
import pytest

from ocr.classify import DEFAULT_TARGET, Classifier
from ocr.cli import main
from ocr.errors import OCRError
from ocr.normalize import normalize_many
from tests.conftest import mnist_digit


def test_shipped_weights_reach_the_target_on_the_shipped_test_set(classifier, mnist_test):
    images, labels = mnist_test
    penalties = classifier.penalties(normalize_many(images))
    error = float((penalties.argmin(1) != labels).mean())
    assert error <= 0.0080, f"MNIST test error {error:.2%} above 0.80%"


def test_classifier_batches_the_forward_passes(mnist_test):
    images, _ = mnist_test
    clf = Classifier.load(device="cpu", batch_size=100)
    clf.penalties(normalize_many(images[:250]))
    assert clf.forward_passes == 3  # 100 + 100 + 50, not one per digit


def test_batch_size_auto_is_chosen_by_device_and_changes_no_penalty(mnist_test):
    import argparse

    import torch

    from ocr.batch import BatchConfig
    from ocr.classify import CPU_BATCH, GPU_BATCH, batch_size_for, batch_size_option

    assert batch_size_for(torch.device("cpu")) == CPU_BATCH == 64
    assert batch_size_for(torch.device("cuda")) == GPU_BATCH  # no GPU needed to name one
    assert batch_size_for(torch.device("cpu"), 300) == 300
    assert batch_size_option("auto") is None and batch_size_option("AUTO") is None
    assert batch_size_option("128") == 128
    for bad in ("0", "-3", "many", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            batch_size_option(bad)
    for bad in (0, -1, 2.0, True, "64"):
        with pytest.raises(OCRError, match="batch size must be a whole number"):
            batch_size_for(torch.device("cpu"), bad)
        with pytest.raises(OCRError, match="batch size must be a whole number"):
            BatchConfig(input_dir=".", out_dir="out", batch_size=bad)
    from ocr.lenet5 import padded_rows

    # Partial batches are padded to a multiple of 128 rows, never past the batch size.
    assert [padded_rows(r, 64) for r in (1, 63, 64)] == [64, 64, 64]
    assert [padded_rows(r, 4096) for r in (1, 128, 129, 4000)] == [128, 128, 256, 4096]
    assert padded_rows(5, 2) == 5  # never fewer rows than given
    images, _ = mnist_test
    x = normalize_many(images[:200])
    auto = Classifier.load(device="cpu")
    assert auto.batch_size == CPU_BATCH
    small = auto.penalties(x)
    assert auto.forward_passes == 4  # 200 digits, 64 a pass
    big = Classifier.load(device="cpu", batch_size=512)
    wide = big.penalties(x)
    assert big.forward_passes == 1
    # The batch size moves memory and speed, not what is read: penalties agree to float rounding.
    np.testing.assert_allclose(small, wide, rtol=0, atol=1e-4)
    assert (small.argmin(1) == wide.argmin(1)).all()


def _scan_of(digit28: np.ndarray, scale: int = 4, invert: bool = False) -> np.ndarray:
    """An MNIST digit as a scanner would give it: bigger, dark ink on light paper with a margin."""
    big = cv2.resize(digit28, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    big = np.pad(big, 30)
    return big if invert else 255 - big


def test_classify_command_prints_the_csv_contract(tmp_path, capsys, mnist_test):
    images, labels = mnist_test
    files = []
    for d in range(10):
        path = tmp_path / f"digit {d}.png"
        cv2.imwrite(str(path), _scan_of(mnist_digit(images, labels, d, 3)))
        files.append(path)
    light_on_dark = tmp_path / "inverted.png"
    cv2.imwrite(str(light_on_dark), _scan_of(mnist_digit(images, labels, 7, 5), invert=True))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")

    code = main(["classify", *map(str, files), str(broken), "--device", "cpu"])
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == "file,label,status,confidence,penalty_best,penalty_second"
    assert [r["file"] for r in rows] == [str(p) for p in files] + [str(broken)]
    assert [r["label"] for r in rows[:10]] == [str(d) for d in range(10)]
    assert all(r["status"] in ("accepted", "review") for r in rows[:10])
    assert all(float(r["penalty_best"]) <= float(r["penalty_second"]) for r in rows[:10])
    assert rows[10]["status"] == "error" and "broken.png" in err
    assert code == 1

    main(["classify", str(light_on_dark), "--invert", "--device", "cpu"])
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["label"] == "7"


def test_a_smudge_is_not_accepted(tmp_path, capsys):
    rng = np.random.default_rng(3)
    blob = np.full((120, 120), 255, np.uint8)
    for _ in range(6):
        cv2.circle(blob, tuple(int(v) for v in rng.integers(30, 90, 2)), int(rng.integers(8, 25)), 0, -1)
    path = tmp_path / "smudge.png"
    cv2.imwrite(str(path), blob)
    main(["classify", str(path), "--device", "cpu"])
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["status"] == "review"


def test_evaluate_command_prints_error_and_rejection(capsys):
    assert main(["evaluate", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "MNIST test error" in out and "rejection for 0.5% error" in out
    error = float(out.split("MNIST test error: ")[1].split("%")[0])
    assert error <= 0.80


@pytest.mark.parametrize("target", [0.005, 0.002, 0.001])
def test_calibrated_thresholds_hold_on_the_test_set(classifier, mnist_test, target):
    """Calibrated on validation digits; checked here on the test set they never saw (with slack for
    the sampling noise of ~50 and ~10 allowed errors)."""
    from ocr.reject import Rejector

    images, labels = mnist_test
    penalties = classifier.penalties(normalize_many(images))
    rej = Rejector.from_calibration(classifier.info["j"], classifier.info["calibration"], target)
    pred, _, accepted = rej.assess(penalties)
    error = float((pred[accepted] != labels[accepted]).mean())
    assert error <= 2 * target
    if target == DEFAULT_TARGET:  # the operating point the pipeline uses keeps nearly every digit
        assert accepted.mean() >= 0.95


def test_two_touching_digits_are_not_accepted_as_one(classifier, mnist_test):
    """A segmenter that fails to split a pair must not get a confident single digit back."""
    images, labels = mnist_test
    rng = np.random.default_rng(5)
    pairs = []
    for _ in range(200):
        a, b = images[rng.integers(5000, 10000)], images[rng.integers(5000, 10000)]
        pair = np.zeros((28, 50), np.uint8)
        pair[:, :28] = a
        pair[:, 18:46] = np.maximum(pair[:, 18:46], b)  # overlapping by a few pixels: they touch
        pairs.append(pair)
    verdicts = classifier.classify(normalize_many(pairs))
    assert verdicts.accepted.mean() < 0.2


def test_partial_batches_are_padded_but_results_unchanged(mnist_test):
    images, _ = mnist_test
    x = normalize_many(images[:130])
    clf = Classifier.load(device="cpu", batch_size=1024)
    together = clf.penalties(x)  # 130 rows, padded to 256 inside
    alone = np.concatenate([clf.penalties(x[i : i + 1]) for i in range(0, 130, 13)])
    assert together.shape == (130, 10)
    assert np.allclose(together[::13], alone, atol=1e-3)

import gzip

import numpy as np
import pytest

from ocr.errors import OCRError
from ocr.mnist import load_mnist, read_idx, resolve_dir


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_reads_plain_and_gzipped_idx(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    plain = tmp_path / "x-idx3-ubyte"
    plain.write_bytes(_idx(data))
    packed = tmp_path / "x-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(_idx(data)))
    assert np.array_equal(read_idx(plain), data)
    assert np.array_equal(read_idx(packed), data)


def test_bad_magic_number_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad-idx1-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"\x01\x02\x03")
    with pytest.raises(OCRError, match="bad-idx1-ubyte.*bad magic"):
        read_idx(bad)
    floats = tmp_path / "floats-idx1-ubyte"
    floats.write_bytes(b"\x00\x00\x0d\x01" + (1).to_bytes(4, "big") + b"\x00\x00\x00\x00")
    with pytest.raises(OCRError, match="bad magic"):
        read_idx(floats)


def test_truncated_files_are_clear_errors(tmp_path):
    data = np.ones((10, 28, 28), np.uint8)
    short = tmp_path / "short-idx3-ubyte"
    short.write_bytes(_idx(data)[:-100])
    with pytest.raises(OCRError, match="short-idx3-ubyte.*truncated"):
        read_idx(short)
    header_only = tmp_path / "head-idx3-ubyte"
    header_only.write_bytes(_idx(data)[:6])
    with pytest.raises(OCRError, match="truncated"):
        read_idx(header_only)
    broken_gz = tmp_path / "broken-idx3-ubyte.gz"
    broken_gz.write_bytes(gzip.compress(_idx(data))[:50])
    with pytest.raises(OCRError, match="broken-idx3-ubyte.gz"):
        read_idx(broken_gz)


def test_loads_a_folder_of_canonical_names(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (7, 28, 28))
    labels = np.arange(7) % 10
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(labels))
    x, y = load_mnist("train", tmp_path)
    assert x.shape == (7, 28, 28) and list(y) == list(labels)


def test_mismatched_counts_are_reported(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((5, 28, 28))))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.zeros(4)))
    with pytest.raises(OCRError, match="disagree"):
        load_mnist("train", tmp_path)


def test_shipped_test_set_and_missing_training_set(monkeypatch, mnist_test):
    images, labels = mnist_test
    assert images.shape == (10_000, 28, 28) and np.bincount(labels).tolist()[:2] == [980, 1135]
    monkeypatch.delenv("OCR_MNIST_DIR", raising=False)
    with pytest.raises(OCRError, match="--data DIR or set OCR_MNIST_DIR"):
        resolve_dir(None, "train")


def test_download_offline_is_a_clear_error(tmp_path):
    from ocr.mnist import download

    with pytest.raises(OCRError, match="could not download .*offline"):
        download(tmp_path, mirrors=("http://127.0.0.1:9/",), timeout=2)

"""The MNIST IDX files: a loader (gzipped or not) and a download command for real users.

IDX format (LeCun & Cortes): big-endian magic ``0x0000 08 NN`` (``08`` = unsigned byte,
``NN`` = number of dimensions), then one big-endian uint32 per dimension, then the data.

Where the files are: an explicit ``data_dir`` (the CLI's ``--data DIR``), else the environment
variable ``OCR_MNIST_DIR``, else (test set only) the copy shipped in the repository's ``data/mnist``.
Nothing is downloaded unless the user runs ``ocr download-mnist``.
"""

from __future__ import annotations

import gzip
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ocr.checksums import sha256_of
from ocr.errors import OCRError

ENV_VAR = "OCR_MNIST_DIR"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"

# Canonical file names and sha256 of the gzipped originals.
FILES: dict[str, tuple[str, str]] = {
    "train-images": ("train-images-idx3-ubyte.gz",
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels": ("train-labels-idx1-ubyte.gz",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test-images": ("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test-labels": ("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
COUNTS = {"train": 60_000, "test": 10_000}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (``.gz`` or plain) into a ``uint8`` array.

    Raises :class:`OCRError` naming the file for a bad magic number, a truncated file, or a size
    that does not match the header.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise OCRError(f"MNIST file not found: {path}") from None
    except (OSError, EOFError) as exc:
        raise OCRError(f"MNIST file {path} is corrupt or truncated ({exc})") from None
    if len(raw) < 4:
        raise OCRError(f"MNIST file {path} is truncated: {len(raw)} bytes, no IDX header")
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise OCRError(f"MNIST file {path} has bad magic number 0x{raw[:4].hex()} "
                       "(expected 0x00000801 labels or 0x00000803 images)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise OCRError(f"MNIST file {path} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    have = len(raw) - header
    if have < expected:
        raise OCRError(f"MNIST file {path} is truncated: {have} data bytes, header says {expected}")
    if have > expected:
        raise OCRError(f"MNIST file {path} has {have - expected} bytes more than its header says")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def resolve_dir(data_dir: str | Path | None, split: str) -> Path:
    """Where to read ``split`` from: the argument, else ``$OCR_MNIST_DIR``, else (test) the shipped copy."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    if split == "test" and SHIPPED_DIR.is_dir():
        return SHIPPED_DIR
    raise OCRError(f"MNIST {split} set not found: pass --data DIR or set {ENV_VAR} "
                   "(or fetch it with `ocr download-mnist --out DIR`)")


def _find(data_dir: Path, key: str) -> Path:
    gz_name = FILES[key][0]
    plain = gz_name[: -len(".gz")]
    candidates = [gz_name, plain, plain.replace("-idx", ".idx")]
    for name in candidates:
        if (data_dir / name).is_file():
            return data_dir / name
    raise OCRError(f"MNIST file {gz_name} (or {plain}) not found in {data_dir}")


def load_mnist(split: str = "test", data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images uint8 [N, 28, 28], labels uint8 [N])`` for ``split`` ``"train"`` or ``"test"``."""
    if split not in COUNTS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = resolve_dir(data_dir, split)
    images_path, labels_path = _find(folder, f"{split}-images"), _find(folder, f"{split}-labels")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise OCRError(f"MNIST file {images_path} holds shape {images.shape}, expected [N, 28, 28]")
    if labels.ndim != 1 or len(labels) != len(images):
        raise OCRError(f"MNIST files {images_path.name} and {labels_path.name} disagree: "
                       f"{len(images)} images, {labels.shape} labels")
    if labels.max(initial=0) > 9:
        raise OCRError(f"MNIST file {labels_path} holds labels above 9")
    return images, labels


def file_checksums(split: str, data_dir: str | Path | None = None) -> dict[str, str]:
    """sha256 of the files a split was read from (recorded in the model card)."""
    folder = resolve_dir(data_dir, split)
    return {p.name: sha256_of(p) for p in (_find(folder, f"{split}-images"), _find(folder, f"{split}-labels"))}


def download(out_dir: str | Path, mirrors: tuple[str, ...] = MIRRORS, timeout: float = 30.0) -> list[Path]:
    """Download the four canonical files into ``out_dir`` and check their sha256.

    Files already present with the right checksum are kept. Offline, or on a checksum mismatch,
    raises :class:`OCRError` with the reason.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, sha in FILES.values():
        target = out / name
        if target.is_file() and sha256_of(target) == sha:
            written.append(target)
            continue
        errors = []
        for mirror in mirrors:
            tmp = target.with_name(target.name + ".part")
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as resp, open(tmp, "wb") as fh:
                    while block := resp.read(1 << 20):
                        fh.write(block)
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                errors.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
                tmp.unlink(missing_ok=True)
                continue
            if sha256_of(tmp) != sha:
                tmp.unlink(missing_ok=True)
                errors.append(f"{mirror}: checksum mismatch")
                continue
            tmp.replace(target)
            written.append(target)
            break
        else:
            raise OCRError(f"could not download {name} (offline?): " + "; ".join(errors))
    return written

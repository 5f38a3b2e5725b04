"""The same synthetic field strips through Tesseract and through our reader, side by side.

    .venv/bin/python benchmarks/tesseract_peer.py --n 200 --seed 2

Tesseract (Debian ``tesseract-ocr``) reads each strip as one text line with a digits-and-point
whitelist: ``tesseract IMG stdout --psm 7 -c tessedit_char_whitelist=0123456789.``, one process per
field as its command line offers. It has no rejection, so every answer counts as accepted; its
answer is compared after dropping anything but digits and the point (and for zips the point too).
Our reader runs on the same images through ``ocr.reader.read_fields`` (one batch); its time per
field includes the model's share of one batched forward pass. Tesseract is not needed by the
tests; this script stops with a message when it is missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from benchmarks.fields import make_strips, truth_of  # noqa: E402
from ocr.classify import BATCH_HELP, DEFAULT_BATCH, DEFAULT_TARGET, Classifier, batch_size_option
from ocr.handwriting import DigitPool
from ocr.reader import read_fields
from ocr.records import FieldImage


def tesseract_read(path: Path, exe: str) -> str:
    out = subprocess.run([exe, str(path), "stdout", "--psm", "7", "-c", "tessedit_char_whitelist=0123456789."],
                         capture_output=True, text=True, timeout=60)
    return "".join(ch for ch in out.stdout if ch.isdigit() or ch == ".")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="fields per type")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--types", default="zip,amount")
    p.add_argument("--touching", type=float, default=0.1)
    p.add_argument("--weights", default=None)
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch-size", type=batch_size_option, default=DEFAULT_BATCH, help=BATCH_HELP)
    p.add_argument("--target-error", type=float, default=DEFAULT_TARGET)
    p.add_argument("--tesseract", default="tesseract", help="the tesseract executable")
    args = p.parse_args(argv)
    exe = shutil.which(args.tesseract)
    if exe is None:
        print("tesseract not found: apt-get install tesseract-ocr (or pass --tesseract PATH)", file=sys.stderr)
        return 2
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    clf = Classifier.load(args.weights, args.device, args.batch_size, args.target_error)
    pool = DigitPool()
    print(f"{version}; our reader: weights {clf.weights}, device {clf.device}, target digit error "
          f"{args.target_error:g}; {args.n} fields per type, seed {args.seed}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for ft in args.types.split(","):
            strips = make_strips(ft, args.n, args.seed, pool, args.touching)
            truths = [truth_of(ft, s.value)[0] for s in strips]
            paths = []
            for i, s in enumerate(strips):
                path = Path(tmp) / f"{ft}{i}.png"
                cv2.imwrite(str(path), s.image)
                paths.append(path)
            t0 = time.perf_counter()
            tess = [tesseract_read(path, exe) for path in paths]
            t_tess = (time.perf_counter() - t0) / len(paths)
            # Compare as digit strings (and the amount's point): Tesseract does not write ZIP+4's hyphen.
            bare = [t.replace("-", "") for t in truths]
            tess_ok = [(a.replace(".", "") if ft != "amount" else a) == b for a, b in zip(tess, bare, strict=True)]
            t0 = time.perf_counter()
            results = read_fields([FieldImage(f"{ft}{i}", ft, s.image) for i, s in enumerate(strips)], clf)
            t_ours = (time.perf_counter() - t0) / len(strips)
            ours_ok = [r.value == t for r, t in zip(results, truths, strict=True)]
            acc = [r.status == "accepted" for r in results]
            n_acc = sum(acc)
            wrong_acc = sum(a and not ok for a, ok in zip(acc, ours_ok, strict=True))
            n = len(strips)
            rows.append((ft, "Tesseract --psm 7, digit whitelist", 100 * sum(tess_ok) / n, 100.0,
                         100 * (n - sum(tess_ok)) / n, 1000 * t_tess))
            rows.append((ft, "ocr read (LeNet-5 + RBF rejection)", 100 * sum(ours_ok) / n, 100 * n_acc / n,
                         100 * wrong_acc / max(n_acc, 1), 1000 * t_ours))
    print()
    print("| field | reader | correct % (all fields) | accepted % | error among accepted % | ms per field |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.2f} | {r[5]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

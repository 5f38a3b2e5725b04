"""How far would perfect segmentation take the field reader? An upper bound, with a judge no reader has.

    .venv/bin/python benchmarks/segmentation_bound.py --n 3000 --seed 11 --types amount,zip

Writes ``--n`` strips per type with MNIST *test* digits (the strips benchmarks/fields.py and
benchmarks/thresholds.py write for the seed: same generator, same order), reads each once through
the reader with the digit threshold alone (as the field calibration does: one reading serves every
threshold pair), and judges the segmentation of every accepted strip with the strip's pixel owners
(``FieldStrip.owner``): a strip is *cut right* when each digit read holds at least ``--cover`` of
the ink of exactly one written digit (not two digits read as one, not a slice of one).

For each target error among accepted strips it prints the best (alone, joined) threshold pair
chosen on these same strips (ocr.fieldset.choose_pair) twice: over every accepted strip, and with
the strips the judge finds cut wrong sent to review, as a perfect segmentation doubt would send
them. Both are chosen on the strips they are counted on, so both are optimistic; their difference is
what better segmentation doubts could gain at most. It also counts, at the digit threshold alone, the
wrong strips the judge finds cut right: misread digits, which no segmentation doubt can catch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fields import make_strips  # noqa: E402

from ocr.classify import Classifier  # noqa: E402
from ocr.fieldset import (  # noqa: E402
    accepted_margins,
    choose_pair,
    read_with_digit_threshold,
    strip_fields,
    threshold_grid,
)
from ocr.handwriting import DigitPool  # noqa: E402


def cut_right(digits, owner: np.ndarray, cover: float) -> bool:
    """Each digit read holds at least ``cover`` of the ink of exactly one written digit."""
    written = owner[owner >= 0]
    totals = np.bincount(written, minlength=int(owner.max()) + 1 if written.size else 0)
    for d in digits:
        x0, y0, x1, y1 = d.bbox
        inside = owner[y0:y1, x0:x1]
        held = np.bincount(inside[inside >= 0], minlength=len(totals)) / np.maximum(totals, 1)
        if (held >= cover).sum() != 1:
            return False
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000, help="strips per type")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--types", default="amount,zip", help="comma-separated field types")
    ap.add_argument("--touching", type=float, default=0.1, help="probability that a digit touches the one before")
    ap.add_argument("--cover", type=float, default=0.6, help="share of a written digit's ink a read digit must hold")
    ap.add_argument("--targets", default="0.005,0.01", help="error rates among accepted strips")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--chunk", type=int, default=500)
    args = ap.parse_args(argv)

    clf = Classifier.load(args.weights, "cpu")
    pool = DigitPool()
    grid = threshold_grid(float(clf.rejector.threshold))
    targets = [float(t) for t in args.targets.split(",")]
    print(f"weights {clf.weights}; {args.n} strips per type; seed {args.seed}; touching {args.touching:g}; "
          f"cut right: each digit read holds >= {args.cover:g} of one written digit's ink")
    rows = []
    for ft in args.types.split(","):
        strips = make_strips(ft, args.n, args.seed, pool, args.touching)
        results = []
        for k in range(0, len(strips), args.chunk):
            results += read_with_digit_threshold(clf, strip_fields(ft, strips[k : k + args.chunk], k), ft)
        ok, a, j = accepted_margins(results, strips, ft)
        cut = np.array([cut_right(r.digits, s.owner, args.cover)
                        for r, s in zip(results, strips, strict=True) if r.status == "accepted"], bool)
        n = len(strips)
        print(f"{ft}: accepted at the digit threshold alone {len(ok)} ({100 * len(ok) / n:.1f}%), "
              f"{int((~ok).sum())} wrong; cut wrong {int((~cut).sum())} ({int((~cut & ~ok).sum())} of them wrong); "
              f"cut right and wrong {int((cut & ~ok).sum())} of {int(cut.sum())} "
              f"({100 * (cut & ~ok).sum() / max(cut.sum(), 1):.2f}%)")
        for t in targets:
            every = choose_pair(ok, a, j, n, t, grid)
            judge = choose_pair(ok[cut], a[cut], j[cut], n, t, grid)
            rows.append((ft, t, every, judge))
    print()
    print("| field | target | best pair, every strip: accepted (error) | best pair, strips cut wrong in review: "
          "accepted (error) |")
    print("|---|---|---|---|")
    for ft, t, every, judge in rows:
        print(f"| {ft} | {t:.1%} | {100 * every['accepted']:.1f}% ({100 * every['error']:.2f}%; "
              f"{every['alone']:g} / {every['joined']:g}) | {100 * judge['accepted']:.1f}% "
              f"({100 * judge['error']:.2f}%; {judge['alone']:g} / {judge['joined']:g}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

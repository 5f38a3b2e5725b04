"""Do the calibrated field thresholds hold on fields they were not calibrated on?

    .venv/bin/python benchmarks/thresholds.py --n 3000 --seeds 2,3

`ocr calibrate` picks, per field kind and target error among accepted fields, the pair of digit
margin thresholds (alone, joined) that accepts the most held-out strips within the target
(ocr.fieldset.calibrate_fields). A pair chosen as the best of many on a few thousand strips can
have been lucky. This script writes fresh strips of every calibrated kind (zip, amount and date
written freely, 1 in 10 digits touching the one before; zip and date in printed cells) with MNIST
*test* digits, reads each once through the reader (ocr.fieldset.field_margins, as the calibration
does) and prints, per kind and target, what the stored pair accepts and lets through wrong there,
beside what it did on the calibration strips. One read per strip serves every target: the reader's
path does not depend on the field thresholds.

The zip, amount and date strips of a seed are the first --n strips benchmarks/fields.py writes
with that seed (same generator, same order).
"""

from __future__ import annotations

import argparse

from ocr.classify import Classifier
from ocr.fieldset import CALIBRATED, field_margins
from ocr.handwriting import DigitPool


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=3000, help="strips per kind and seed")
    p.add_argument("--seeds", default="2,3", help="comma-separated seeds")
    p.add_argument("--kinds", default=",".join(CALIBRATED), help="comma-separated kinds (zip, date/cells, ...)")
    p.add_argument("--touching", type=float, default=0.1, help="probability that a digit touches the one before")
    p.add_argument("--weights", default=None)
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    args = p.parse_args(argv)

    clf = Classifier.load(args.weights, args.device, field_target=None)
    fields = clf.info["calibration"].get("fields")
    if not fields:
        raise SystemExit(f"{clf.weights} has no field thresholds to check: run `ocr calibrate` on it")
    seeds = [int(s) for s in args.seeds.split(",")]
    pool = DigitPool()
    print(f"weights {clf.weights}; calibrated on {fields['n']} strips per kind (seed {fields['seed']}); "
          f"checked on {args.n} strips per kind and seed, seeds {args.seeds}, MNIST test digits")
    head = ("kind", "target", "alone / joined", "calibration: accepted % (error %)",
            *(f"seed {s}: accepted % (error %)" for s in seeds), "all seeds: accepted % (error %, wrong of accepted)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for kind in args.kinds.split(","):
        read = [field_margins(clf, pool, kind, args.n, s, args.touching) for s in seeds]
        for target, pair in sorted(fields["thresholds"].get(kind, {}).items(), key=lambda kv: -float(kv[0])):
            cells = []
            total = wrong_total = 0
            for ok, alone, joined in read:
                take = (alone >= pair["alone"]) & (joined >= pair["joined"])
                k, wrong = int(take.sum()), int((take & ~ok).sum())
                total, wrong_total = total + k, wrong_total + wrong
                cells.append(f"{100 * k / args.n:.1f} ({100 * wrong / max(k, 1):.2f})")
            print(f"| {kind} | {100 * float(target):g}% | {pair['alone']:g} / {pair['joined']:g} | "
                  f"{100 * pair['accepted']:.1f} ({100 * pair['error']:.2f}) | " + " | ".join(cells) +
                  f" | {100 * total / (args.n * len(seeds)):.1f} ({100 * wrong_total / max(total, 1):.2f}, "
                  f"{wrong_total} of {total}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``ocr read IMAGE... --field zip|amount|date|digits``: read field images; CSV on stdout.

Contract (other tools depend on it): header ``file,field,value,status,confidence``, one row per
file in the order given; ``status`` is ``accepted``, ``review`` or ``error``; an unreadable file
is an ``error`` row with an empty value and its reason on stderr, and the other files are still
read. ``--json`` prints per-digit detail instead (bbox, label, best and second-best penalty,
confidence, where it came from and, for an amount's wide marks read whole, P(two touching digits)).
Exit status 0, or 1 when some file was an error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ocr.cli.common import add_model_options, csv_writer
from ocr.records import FIELD_TYPES

READ_FIELDS = ["file", "field", "value", "status", "confidence"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("read", help="read handwritten digit fields (one field per image); CSV on stdout")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--field", required=True, choices=FIELD_TYPES, help="what the images hold")
    p.add_argument("--cells", type=int, default=0, metavar="N",
                   help="the fields are written in N printed cells, one digit in each (a comb): read cell by "
                        "cell, with the comb thresholds, and N digits required")
    p.add_argument("--printed-sign", choices=("cell", "inside"), default="",
                   help="amounts: the form prints the currency sign, in a cell of its own left of the image "
                        "(cell) or inside it at its left (inside, as Axis Bank's CTS-2010 cheques): a first mark "
                        "that looks like a sign is then asked about, or left out as the printed one")
    p.add_argument("--json", action="store_true", help="print per-digit detail as JSON instead of CSV")
    add_model_options(p)
    p.set_defaults(func=cmd_read)


def _number(x: float, digits: int) -> float | None:
    """``x`` rounded, or ``None`` (JSON null) when it is NaN."""
    return None if math.isnan(x) else round(x, digits)


def result_json(r) -> dict:
    """A :class:`ocr.records.FieldResult` as plain JSON types."""
    return {
        "file": r.field.name, "field": r.field.type, "value": r.value, "status": r.status,
        "confidence": round(r.confidence, 4), "reason": r.reason,
        "digits": [{"position": d.position, "bbox": list(d.bbox), "label": d.label,
                    # null for a digit the pair reader read on its own (source "pair read": no RBF penalties)
                    "penalty_best": _number(d.best_penalty, 3), "penalty_second": _number(d.second_penalty, 3),
                    "confidence": round(d.confidence, 4), "accepted": d.accepted, "source": d.source,
                    # P(two touching digits) from the two-digit detector, where it was asked (ocr/pairs.py)
                    **({} if math.isnan(d.two_digits) else {"two_digits": round(d.two_digits, 4)}),
                    # P(the reading of the wide mark it was read from) by the pair reader, where it read one
                    **({} if math.isnan(d.pair_reading) else {"pair_reading": round(math.exp(d.pair_reading), 4)})}
                   for d in r.digits],
    }


def cmd_read(args) -> int:
    from ocr.classify import Classifier
    from ocr.reader import read_files

    if args.cells < 0 or args.cells == 1:
        print("ocr read: --cells must be 2 or more (0: written freely)", file=sys.stderr)
        return 2
    clf = Classifier.load(args.weights, args.device, args.batch_size, args.target_error, args.field_error)
    if args.printed_sign and args.field != "amount":
        print("ocr read: --printed-sign is for amounts", file=sys.stderr)
        return 2
    results = read_files(args.images, args.field, clf, cells=args.cells, printed_sign=args.printed_sign)
    for r in results:
        if r.status == "error":
            print(f"ocr read: {r.field.name}: {r.reason}", file=sys.stderr)
    if args.json:
        print(json.dumps([result_json(r) for r in results], indent=1))
    else:
        writer = csv_writer(READ_FIELDS)
        for r in results:
            writer.writerow({"file": r.field.name, "field": r.field.type, "value": r.value, "status": r.status,
                             "confidence": f"{r.confidence:.4f}" if r.status != "error" else ""})
    return 1 if any(r.status == "error" for r in results) else 0

"""Options and helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
import csv
import sys

from ocr.classify import (
    BATCH_HELP,
    DEFAULT_BATCH,
    DEFAULT_FIELD_TARGET,
    DEFAULT_TARGET,
    FIELD_ERROR_HELP,
    batch_size_option,
    field_error_option,
)


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None,
                   help="weights file (default: $OCR_WEIGHTS, else the shipped models/lenet5.pt)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to run the network (auto: cuda when there is a GPU)")
    p.add_argument("--batch-size", type=batch_size_option, default=DEFAULT_BATCH, help=BATCH_HELP)
    p.add_argument("--target-error", type=float, default=DEFAULT_TARGET,
                   help="digit error among accepted digits the rejection threshold is calibrated for "
                        "(one of the model card's calibrated targets)")
    p.add_argument("--field-error", type=field_error_option, default=DEFAULT_FIELD_TARGET,
                   help=FIELD_ERROR_HELP)


def csv_writer(fields: list[str]) -> csv.DictWriter:
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    return writer

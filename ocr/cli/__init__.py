"""The ``ocr`` command. Each module in ``COMMAND_MODULES`` adds its sub-commands with ``register``.

An :class:`ocr.errors.OCRError` that escapes a command is printed as one line (``ocr: reason``)
with exit status 2; no traceback for a person to read.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ocr.errors import OCRError

COMMAND_MODULES = ("ocr.cli.model", "ocr.cli.batch", "ocr.cli.read", "ocr.cli.review")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr", description="Read handwritten digits on scanned cheques and forms.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OCRError as exc:
        print(f"ocr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ocr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

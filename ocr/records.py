"""Small typed records passed between the steps of the pipeline (see DESIGN.md).

``Path`` -> :class:`Page` -> :class:`FieldImage` -> :class:`Component` -> one float32 tensor
``[N, 1, 32, 32]`` -> penalties ``[N, 10]`` -> :class:`DigitResult` -> :class:`FieldResult`.

Boxes are ``(x0, y0, x1, y1)`` in pixels, half-open (``x1``/``y1`` exclusive), ints.
Arrays stay NumPy; nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Box = tuple[int, int, int, int]
FieldType = Literal["amount", "zip", "date", "digits"]
FIELD_TYPES: tuple[str, ...] = ("amount", "zip", "date", "digits")
Status = Literal["accepted", "review", "error"]


@dataclass(frozen=True)
class Page:
    """One page of a scan.

    ``image`` is ``uint8`` grayscale ``[H, W]`` (0 = black ink, 255 = white paper).
    ``page_number`` counts from 1. ``dpi`` is ``None`` when the file does not say.
    """

    image: np.ndarray
    source: Path
    page_number: int = 1
    dpi: float | None = None


@dataclass(frozen=True)
class FieldImage:
    """A field cut out of a page: ``crop`` is ``uint8`` grayscale ``[h, w]``, dark ink on light paper.

    ``page_box`` is where the crop sits on its (registered) page, in page pixels.
    """

    name: str
    type: FieldType
    crop: np.ndarray
    page_box: Box = (0, 0, 0, 0)
    document: str = ""
    page: int = 1
    cells: int = 0  # printed cells, one digit in each (a comb field of the template); 0: written freely
    # Where the form prints the currency sign of this amount field: "cell" (in a cell of its own, left of the
    # field, cut off), "inside" (inside the field at its left, no divider: CTS-2010 cheques of Axis Bank; a
    # first mark there shaped like the sign is that sign), "" (it prints none, or the template does not say).
    # Where one is printed, writers seldom write another: a leading mark left out as a sign is a doubt.
    printed_sign: str = ""


@dataclass(frozen=True)
class Component:
    """One digit candidate inside a field.

    ``ink`` is ``uint8`` ``[h, w]`` cut to ``bbox`` with ink bright (255) on 0 background;
    ``bbox`` is in field-crop pixels. ``kind`` is ``"digit"`` or ``"point"`` (decimal point).
    """

    ink: np.ndarray
    bbox: Box
    kind: Literal["digit", "point"] = "digit"


@dataclass(frozen=True)
class DigitResult:
    """The classifier's verdict on one component.

    ``penalties`` are the ten RBF outputs (smaller = closer to that digit's prototype);
    ``confidence`` in [0, 1] comes from :mod:`ocr.reject`; ``accepted`` applies the calibrated threshold.
    ``bbox`` is in field-crop pixels; ``digit_image`` is the 32x32 network input (float32, -0.1..1.175).
    """

    position: int
    bbox: Box
    label: int
    penalties: np.ndarray
    confidence: float
    accepted: bool
    digit_image: np.ndarray | None = None
    # Where the component came from: "blob" (a digit-sized connected component, read whole),
    # "wide blob" (a component wide enough for two digits, read whole) or "cut" (a piece of one).
    source: str = "blob"
    # The log-odds ``confidence`` comes from (ocr.reject.margins; against the other digits the
    # field's grammar allows there); NaN when not given.
    margin: float = float("nan")
    # P(two touching digits) from the two-digit detector (ocr.pairs), for the digits it was asked about
    # (an amount's digit read whole from a wide mark); NaN for the others.
    two_digits: float = float("nan")
    # log P(the reading chosen for the wide mark this digit was read from) by the pair reader (ocr.pairs:
    # the mark read whole as one of 100 digit pairs or 10 digits), for every digit read from such a mark
    # (whole or cut into two); NaN for the others.
    pair_reading: float = float("nan")

    @property
    def best_penalty(self) -> float:
        return float(np.sort(self.penalties)[0])

    @property
    def second_penalty(self) -> float:
        return float(np.sort(self.penalties)[1])


@dataclass
class FieldResult:
    """A field's value and whether a person must check it, with the reason."""

    field: FieldImage
    value: str
    status: Status
    confidence: float
    reason: str = ""
    digits: list[DigitResult] = field(default_factory=list)

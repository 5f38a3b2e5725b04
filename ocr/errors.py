"""The project's one error type.

Everything that can go wrong with one input (a file, a page, a field) raises :class:`OCRError`
with a one-line reason a person understands. It is caught once, at the document boundary, and
becomes a row in ``errors.csv`` (or an ``error`` row of a command's CSV); the rest goes on.
"""


class OCRError(Exception):
    """A failure with a one-line, human-readable reason (no traceback needed)."""

    def __init__(self, reason: str):
        super().__init__(" ".join(str(reason).split()))

    @property
    def reason(self) -> str:
        return str(self)

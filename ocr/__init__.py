"""Batch OCR of handwritten digits on scanned cheques and forms (LeNet-5, RBF rejection).

The library knows nothing of Prefect: the flows in ``flows/`` call it.
"""

from ocr.errors import OCRError

__all__ = ["OCRError"]
__version__ = "0.1.0"

"""Text in the image, through the ``tesseract`` program when it is installed.

Tesseract is a system program (Debian package ``tesseract-ocr``), not a Python
dependency. Without it the facts say OCR was skipped, and why.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from groundcap.records import OcrResult

__all__ = ["tesseract_available", "read_text"]


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def read_text(image: np.ndarray, *, timeout: float = 20.0, min_chars: int = 3) -> OcrResult:
    """Runs tesseract on an RGB array; lines shorter than ``min_chars`` are dropped as noise."""
    exe = shutil.which("tesseract")
    if exe is None:
        return OcrResult("skipped", (), "tesseract is not installed")
    import cv2

    ok, png = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        return OcrResult("failed", (), "could not encode the image for tesseract")
    try:
        proc = subprocess.run([exe, "stdin", "stdout", "--psm", "11"], input=png.tobytes(),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return OcrResult("failed", (), f"tesseract took longer than {timeout:.0f} s")
    if proc.returncode != 0:
        return OcrResult("failed", (), proc.stderr.decode("utf-8", "replace").strip()[:200])
    lines = [" ".join(line.split()) for line in proc.stdout.decode("utf-8", "replace").splitlines()]
    texts = tuple(t for t in lines if sum(ch.isalnum() for ch in t) >= min_chars)
    return OcrResult("ok", texts)

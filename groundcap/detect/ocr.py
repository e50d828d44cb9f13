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


def read_text(image: np.ndarray, *, timeout: float = 20.0, min_confidence: float = 75.0,
              min_chars: int = 3) -> OcrResult:
    """Runs tesseract on an RGB array and keeps the lines of confident words.

    Tesseract reads natural photos poorly and reports shapes as letters, so
    words under ``min_confidence`` (0..100) and lines with fewer than
    ``min_chars`` letters or digits are dropped.
    """
    exe = shutil.which("tesseract")
    if exe is None:
        return OcrResult("skipped", (), "tesseract is not installed")
    import cv2

    ok, png = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        return OcrResult("failed", (), "could not encode the image for tesseract")
    try:
        proc = subprocess.run([exe, "stdin", "stdout", "--psm", "11", "tsv"], input=png.tobytes(),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return OcrResult("failed", (), f"tesseract took longer than {timeout:.0f} s")
    if proc.returncode != 0:
        return OcrResult("failed", (), proc.stderr.decode("utf-8", "replace").strip()[:200])
    return OcrResult("ok", _confident_lines(proc.stdout.decode("utf-8", "replace"), min_confidence, min_chars))


def _confident_lines(tsv: str, min_confidence: float, min_chars: int) -> tuple[str, ...]:
    """Lines of words from tesseract's TSV (level, ..., conf, text), in reading order."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or not cols[11].strip():
            continue
        try:
            conf = float(cols[10])
        except ValueError:
            continue
        if conf >= min_confidence:
            lines.setdefault((cols[2], cols[3], cols[4]), []).append(cols[11].strip())
    texts = (" ".join(words) for words in lines.values())
    return tuple(t for t in texts if sum(ch.isalnum() for ch in t) >= min_chars)

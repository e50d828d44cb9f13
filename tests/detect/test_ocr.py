import shutil

import numpy as np
import pytest

from groundcap.detect.ocr import read_text


def test_without_tesseract_ocr_is_skipped_with_a_reason(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = read_text(np.zeros((10, 10, 3), np.uint8))
    assert (result.status, result.reason) == ("skipped", "tesseract is not installed")


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed (Debian: tesseract-ocr)")
def test_tesseract_reads_a_sign():
    import cv2

    img = np.full((120, 520, 3), 255, np.uint8)
    cv2.putText(img, "GROUNDCAP", (20, 85), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 0, 0), 5, cv2.LINE_AA)
    result = read_text(img)
    assert result.status == "ok"
    assert any("GROUNDCAP" in t.replace(" ", "") for t in result.texts)


def test_low_confidence_words_and_short_lines_are_dropped():
    from groundcap.detect.ocr import _confident_lines

    head = "level\tpage\tblock\tpar\tline\tword\tleft\ttop\twidth\theight\tconf\ttext"
    rows = ["5\t1\t1\t1\t1\t1\t0\t0\t9\t9\t91.0\tSTOP", "5\t1\t1\t1\t1\t2\t0\t0\t9\t9\t12.0\t~{",
            "5\t1\t2\t1\t1\t1\t0\t0\t9\t9\t95.0\tNo", "5\t1\t3\t1\t1\t1\t0\t0\t9\t9\t88.0\tMain",
            "5\t1\t3\t1\t1\t2\t0\t0\t9\t9\t90.0\tSt"]
    assert _confident_lines("\n".join([head, *rows]), 75, 3) == ("STOP", "Main St")


def test_ocr_on_a_photo_gives_no_junk(bus_rgb):
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed")
    # bus.jpg's lettering is small and slanted; raw tesseract output on it was
    # fragments like "ae Ee"; whatever survives the filter must be words.
    for line in read_text(bus_rgb).texts:
        assert sum(ch.isalpha() for ch in line) >= 3

"""The real embedded SSD-MobileNet-v2 on real photos."""

import numpy as np
import pytest

from groundcap.detect import create_detector

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def ssd():
    return create_detector("ssd-mobilenet-v2")


def test_bus_photo_has_a_bus_and_people(ssd, bus_rgb):
    dets = ssd.detect(bus_rgb)
    labels = [d.label for d in dets]
    assert labels.count("bus") == 1
    assert labels.count("person") >= 3  # four people stand in front; the rightmost is cut off
    bus = next(d for d in dets if d.label == "bus")
    # The bus spans most of the width across the middle of the frame.
    assert bus.width > 0.8 * bus_rgb.shape[1]
    assert 0.1 * bus_rgb.shape[0] < bus.center[1] < 0.6 * bus_rgb.shape[0]
    assert all(d.source == "ssd-mobilenet-v2" for d in dets)


def test_zidane_photo_has_two_people(ssd, zidane_path):
    from PIL import Image

    dets = ssd.detect(np.asarray(Image.open(zidane_path).convert("RGB")))
    assert [d.label for d in dets].count("person") == 2


def test_ssd_gets_rgb_not_bgr(ssd, bus_rgb):
    # Same photo with channels swapped: the bus is still found, but scores differ,
    # which shows the channel order reaches the network.
    a = ssd.detect(bus_rgb)
    b = ssd.detect(np.ascontiguousarray(bus_rgb[..., ::-1]))
    assert [d.score for d in a] != [d.score for d in b]


def test_blank_image_has_no_detections(ssd):
    assert ssd.detect(np.full((300, 400, 3), 127, np.uint8)) == ()


def test_deterministic(ssd, bus_rgb):
    assert ssd.detect(bus_rgb) == ssd.detect(bus_rgb)


@pytest.mark.parametrize("command", ["facts", "caption"])
def test_an_opencv_without_the_tensorflow_importer_is_one_clear_line(command, monkeypatch, capsys, bus_path):
    """OpenCV 5 dropped readNetFromTensorflow: the user gets the version found and the fix, not a traceback."""
    import cv2

    from groundcap.cli import main

    monkeypatch.delattr(cv2.dnn, "readNetFromTensorflow")
    monkeypatch.setattr(cv2, "__version__", "5.1.0")
    assert main([command, str(bus_path), "--generate.generator", "template"][:2 if command == "facts" else 4]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "OpenCV 5.1.0 has no TensorFlow importer" in err and "'opencv-python-headless>=4.8,<5'" in err

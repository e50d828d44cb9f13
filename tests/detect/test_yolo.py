"""The ultralytics path on a tiny random YOLOv8n built from its .yaml (no download)."""

import numpy as np
import pytest

from groundcap.config import DetectConfig
from groundcap.detect import create_detector
from groundcap.detect.coco import COCO80
from groundcap.detect.yolo import is_yolo_name

pytest.importorskip("ultralytics")


@pytest.fixture(scope="module")
def yolo():
    return create_detector(DetectConfig(detector="yolov8n.yaml", conf=0.0, imgsz=64, max_objects=7, agnostic_iou=1.0))


@pytest.mark.parametrize("name, expected", [
    ("yolov8m", True), ("yolov8n.pt", True), ("yolo11s", True), ("runs/best.pt", True),
    ("yolov8n.yaml", True), ("ssd-mobilenet-v2", False), ("yolo", False), ("bus.jpg", False),
])
def test_is_yolo_name(name, expected):
    assert is_yolo_name(name) is expected


def test_random_yolo_gives_valid_coco_detections(yolo, bus_rgb):
    dets = yolo.detect(bus_rgb)
    assert 0 < len(dets) <= 7
    h, w = bus_rgb.shape[:2]
    for d in dets:
        assert d.label in COCO80  # placeholder names '0'..'79' were mapped
        assert d.image_size == (w, h)
        assert 0 <= d.box[0] < d.box[2] <= w and 0 <= d.box[1] < d.box[3] <= h


def test_yolo_gets_rgb_flipped_to_bgr(monkeypatch, yolo):
    seen = []
    real = yolo._model.predict

    def spy(source, **kw):
        seen.extend(source)
        return real(source, **kw)

    monkeypatch.setattr(yolo._model, "predict", spy)
    img = np.zeros((32, 48, 3), np.uint8)
    img[..., 0] = 255  # pure red in RGB
    yolo.detect(img)
    assert isinstance(seen[0], np.ndarray)  # an array, never a user string
    assert seen[0][0, 0].tolist() == [0, 0, 255]  # red in BGR


def test_yolo_batch_equals_single(yolo, bus_rgb):
    small = bus_rgb[::4, ::4].copy()
    assert yolo.detect_batch([small, small]) == [yolo.detect(small)] * 2

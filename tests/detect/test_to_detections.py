import numpy as np
import pytest

from groundcap.config import DetectConfig
from groundcap.detect.base import RawBoxes, to_detections, iou_matrix, nms


def raw(*rows):
    """rows of (x1, y1, x2, y2, score, label)"""
    boxes = np.array([r[:4] for r in rows], dtype=float).reshape(-1, 4)
    return RawBoxes(boxes, np.array([r[4] for r in rows], dtype=float), tuple(r[5] for r in rows))


def ids(dets):
    return [d.instance_id for d in dets]


def test_iou_matrix_basic():
    m = iou_matrix(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
    assert m[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])


def test_nms_per_class_keeps_other_classes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5, groups=["dog", "dog", "cat"]).tolist() == [0, 2]
    assert nms(boxes, scores, 0.5).tolist() == [0]


@pytest.mark.parametrize(
    "rows, config, expected",
    [
        pytest.param([(0, 0, 10, 10, 0.3, "dog")], DetectConfig(conf=0.4), [], id="below-conf"),
        pytest.param([(0, 0, 10, 10, 0.9, None)], DetectConfig(), [], id="unnamed-class-dropped"),
        pytest.param([(0, 0, 10, 10, 0.9, "dog"), (50, 0, 60, 10, 0.9, "cat")],
                     DetectConfig(classes=("cat",)), ["cat_1"], id="classes-filter"),
        pytest.param([(0, 0, 10, 10, 0.9, "dog"), (1, 0, 11, 10, 0.8, "dog")],
                     DetectConfig(), ["dog_1"], id="per-class-nms"),
        pytest.param([(0, 0, 10, 10, 0.9, "dog"), (0, 0, 10, 10.5, 0.8, "cat")],
                     DetectConfig(), ["dog_1"], id="agnostic-duplicate"),
        pytest.param([(0, 0, 10, 10, 0.9, "dog"), (0, 0, 10, 10.5, 0.8, "cat")],
                     DetectConfig(agnostic_iou=1.0), ["dog_1", "cat_1"], id="agnostic-off"),
        pytest.param([(i * 20, 0, i * 20 + 10, 10, 0.5 + i / 100, "dog") for i in range(5)],
                     DetectConfig(max_objects=2), ["dog_2", "dog_1"], id="max-objects-keeps-best"),
        pytest.param([(-5, -5, 0.5, 40, 0.9, "dog")], DetectConfig(), [], id="sub-pixel-after-clip"),
    ],
)
def test_finalize_filters(rows, config, expected):
    assert ids(to_detections(raw(*rows), (100, 100), config, "test")) == expected


def test_instances_numbered_left_to_right_and_sorted_by_score():
    dets = to_detections(raw((60, 0, 80, 10, 0.9, "dog"), (0, 0, 20, 10, 0.5, "dog"), (30, 50, 40, 60, 0.7, "person")),
                    (100, 100), DetectConfig(), "t")
    assert ids(dets) == ["dog_2", "person_1", "dog_1"]
    by_id = {d.instance_id: d for d in dets}
    assert by_id["dog_1"].box[0] < by_id["dog_2"].box[0]


def test_boxes_clipped_and_image_size_kept():
    (d,) = to_detections(raw((-10, -10, 120, 50, 0.9, "bus")), (100, 80), DetectConfig(), "t")
    assert d.box == (0.0, 0.0, 100.0, 50.0)
    assert d.image_size == (100, 80)
    assert d.source == "t"


def test_mismatched_backend_output_is_an_error():
    with pytest.raises(ValueError, match="boxes"):
        to_detections(RawBoxes(np.zeros((2, 4)), np.zeros(1), ("a",)), (10, 10), DetectConfig(), "t")

"""The shipped EfficientNet-Lite3 classifier and MoveNet pose model."""

import numpy as np
import pytest

from groundcap.detect.classify import ContextClassifier, imagenet_labels
from groundcap.detect.pose import PoseEstimator, posture_from_keypoints
from groundcap.records import Detection

pytestmark = pytest.mark.models


def test_imagenet_labels_are_short_names():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench" and "seashore" in labels and "alp" in labels


def test_classifier_names_the_bus(bus_rgb):
    top = ContextClassifier(top_k=3).classify(bus_rgb)
    assert top[0].label in {"minibus", "trolleybus", "passenger car", "streetcar", "school bus"}
    assert top[0].score > 0.5
    assert [c.score for c in top] == sorted((c.score for c in top), reverse=True)


def test_classifier_features_are_1280d(bus_rgb):
    f = ContextClassifier(keep_features=True).features(bus_rgb)
    assert f.shape == (1280,) and np.isfinite(f).all() and f.std() > 0


def _kp(points):
    kp = np.zeros((17, 3), np.float32)
    for i, (y, x) in points.items():
        kp[i] = (y, x, 0.9)
    return kp


STANDING = {5: (0.2, 0.45), 6: (0.2, 0.55), 11: (0.5, 0.46), 12: (0.5, 0.54),
            13: (0.7, 0.46), 14: (0.7, 0.54), 15: (0.9, 0.46), 16: (0.9, 0.54)}
SITTING = {5: (0.2, 0.45), 6: (0.2, 0.55), 11: (0.5, 0.46), 12: (0.5, 0.54),
           13: (0.52, 0.75), 14: (0.53, 0.8), 15: (0.8, 0.75), 16: (0.8, 0.8)}
LYING = {5: (0.5, 0.1), 6: (0.55, 0.1), 11: (0.5, 0.5), 12: (0.55, 0.5),
         13: (0.5, 0.7), 14: (0.55, 0.7), 15: (0.5, 0.9), 16: (0.55, 0.9)}
RUNNING = {5: (0.2, 0.45), 6: (0.2, 0.55), 11: (0.5, 0.48), 12: (0.5, 0.52),
           13: (0.68, 0.35), 14: (0.68, 0.65), 15: (0.88, 0.2), 16: (0.85, 0.8)}


@pytest.mark.parametrize("points, expected", [
    (STANDING, "standing"), (SITTING, "sitting"), (LYING, "lying"), (RUNNING, "running"),
    ({5: (0.2, 0.5)}, None),  # no hips: no guess
])
def test_posture_rules(points, expected):
    guess = posture_from_keypoints(_kp(points))
    assert (guess[0] if guess else None) == expected


def test_pose_on_real_people(bus_rgb):
    people = [Detection("person", "person_1", (53, 394, 228, 898), 0.99, (810, 1080))]
    (p,) = PoseEstimator().postures(bus_rgb, people)
    assert p.posture == "standing"  # the people in bus.jpg stand on the pavement


def test_only_the_first_interpreter_build_hides_stderr(monkeypatch):
    """Hiding fd 2 is process-wide: after the one build that prints LiteRT's notice, builds leave it alone."""
    import contextlib

    import groundcap.detect.litert as litert

    hidden = []
    monkeypatch.setattr(litert, "native_stderr_silenced", lambda: hidden.append(1) or contextlib.nullcontext())
    monkeypatch.setattr(litert, "_announced", False)
    litert.TfliteModel("movenet_lightning.tflite")
    litert.TfliteModel("movenet_lightning.tflite")
    assert hidden == [1]

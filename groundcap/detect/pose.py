"""Coarse posture of each detected person from the shipped MoveNet Lightning.

MoveNet gives 17 COCO keypoints for the one person in a 192×192 crop. From
the torso and leg angles a rule gives ``standing``, ``sitting``, ``lying``,
``running`` or ``jumping``; when the needed keypoints are not visible it gives
nothing rather than a guess.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from groundcap.detect.litert import TfliteModel
from groundcap.records import Detection, Posture

__all__ = ["PoseEstimator", "posture_from_keypoints"]

MODEL = "movenet_lightning.tflite"
_SHOULDERS, _HIPS, _KNEES, _ANKLES = (5, 6), (11, 12), (13, 14), (15, 16)


def _angle_from_vertical(top: np.ndarray, bottom: np.ndarray) -> float:
    dy, dx = bottom[0] - top[0], bottom[1] - top[1]
    return math.degrees(math.atan2(abs(dx), dy)) if (dx or dy) else 0.0


def _mid(kp: np.ndarray, pair: tuple[int, int], min_score: float) -> np.ndarray | None:
    pts = [kp[i, :2] for i in pair if kp[i, 2] >= min_score]
    return np.mean(pts, axis=0) if pts else None


def posture_from_keypoints(kp: np.ndarray, min_score: float = 0.3) -> tuple[str, float] | None:
    """Posture from ``(17, 3)`` MoveNet keypoints ``(y, x, score)`` in a square crop.

    Returns:
        ``(posture, confidence)``, or ``None`` when torso or legs are not visible.
    """
    shoulder, hip = _mid(kp, _SHOULDERS, min_score), _mid(kp, _HIPS, min_score)
    if shoulder is None or hip is None:
        return None
    torso_len = float(np.linalg.norm(hip - shoulder))
    if torso_len < 1e-3:
        return None
    torso_tilt = _angle_from_vertical(shoulder, hip)
    torso_conf = float(min(kp[list(_SHOULDERS + _HIPS), 2].max(), 1.0))
    if torso_tilt > 60 or hip[0] < shoulder[0]:  # horizontal, or upside down
        return "lying", round(torso_conf * min(1.0, torso_tilt / 75), 3)
    knee, ankle = _mid(kp, _KNEES, min_score), _mid(kp, _ANKLES, min_score)
    if knee is None:
        return None
    thigh_tilt = _angle_from_vertical(hip, knee)
    leg_conf = float(min(torso_conf, kp[list(_KNEES), 2].max()))
    if thigh_tilt > 55 or (knee[0] - hip[0]) < 0.25 * torso_len:
        return "sitting", round(leg_conf * min(1.0, thigh_tilt / 70 + 0.3), 3)
    if ankle is None:
        return "standing", round(leg_conf * 0.6, 3)
    visible = [i for i in _ANKLES if kp[i, 2] >= min_score]
    stride = abs(kp[visible[0], 1] - kp[visible[-1], 1]) / torso_len if len(visible) == 2 else 0.0
    ankles_high = ankle[0] - knee[0] < 0.35 * torso_len  # feet tucked up under the knees
    if ankles_high and stride < 0.6:
        return "jumping", round(leg_conf * 0.6, 3)
    if stride > 0.9:
        return "running", round(leg_conf * min(1.0, stride / 1.5), 3)
    return "standing", round(leg_conf * (1.0 - min(thigh_tilt, 40) / 80), 3)


class PoseEstimator:
    """MoveNet Lightning on each person box, padded to a square crop.

    Args:
        min_area: Person boxes smaller than this share of the image are skipped
            (too few pixels for keypoints).
    """

    name = "movenet-lightning"

    def __init__(self, min_area: float = 0.01) -> None:
        self.min_area = min_area
        self._model = TfliteModel(MODEL)

    def keypoints(self, image: np.ndarray, det: Detection) -> np.ndarray:
        """``(17, 3)`` keypoints ``(y, x, score)`` in the crop's unit square."""
        import cv2

        x1, y1, x2, y2 = det.box
        side = max(x2 - x1, y2 - y1) * 1.1
        cx, cy = det.center
        h, w = image.shape[:2]
        # Pad the crop to a square with edge pixels so the body keeps its aspect.
        m = np.float32([[1, 0, side / 2 - cx], [0, 1, side / 2 - cy]])
        size = self._model.input_shape[0]
        crop = cv2.warpAffine(image, m * (size / side), (size, size), borderMode=cv2.BORDER_REPLICATE)
        return self._model.run(crop[None])[0].reshape(17, 3)

    def postures(self, image: np.ndarray, detections: Sequence[Detection]) -> tuple[Posture, ...]:
        """One :class:`Posture` per person whose posture could be read."""
        out = []
        for det in detections:
            if det.label != "person" or det.area_fraction < self.min_area:
                continue
            guess = posture_from_keypoints(self.keypoints(image, det))
            if guess is not None:
                out.append(Posture(det.instance_id, guess[0], max(0.0, min(1.0, float(guess[1])))))
        return tuple(out)

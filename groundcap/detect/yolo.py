"""YOLOv8 (and any ultralytics weights) as a groundcap detector.

Ultralytics is an optional extra (``pip install groundcap[yolo]``) and is
imported only when this backend is built. Images are handed to ultralytics as
decoded arrays, never as user strings: ``YOLO.predict("...")`` would treat a
string as a file, URL, stream or webcam.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from groundcap.config import DetectConfig
from groundcap.detect.base import Detector, RawBoxes
from groundcap.detect.coco import COCO80
from groundcap.errors import ModelLoadError

__all__ = ["YoloDetector", "is_yolo_name"]

_SHORT_NAME = re.compile(r"^yolo(v?\d+)[nsmlx](-\w+)?$")


def is_yolo_name(name: str) -> bool:
    """True for ``yolov8m``, ``yolov8n.pt``, ``yolo11s`` or a local weights/config path.

    >>> is_yolo_name("yolov8m"), is_yolo_name("weights/best.pt"), is_yolo_name("ssd-mobilenet-v2")
    (True, True, False)
    """
    return bool(_SHORT_NAME.match(name)) or name.endswith((".pt", ".yaml", ".yml", ".onnx", ".torchscript"))


def _import_yolo():
    # Ultralytics probes the network for updates and telemetry unless told not to.
    os.environ.setdefault("YOLO_OFFLINE", "1")
    # A .pt checkpoint is a pickle: load it with weights_only=True and ultralytics' allow-list of
    # model classes, so a planted file can't run code (ULTRALYTICS_SAFE_LOAD=0 turns this off).
    os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")
    try:
        from ultralytics import YOLO
        from ultralytics.nn import tasks
    except ImportError as e:
        raise ModelLoadError(
            "the YOLO detectors need ultralytics: pip install 'groundcap[yolo]'"
        ) from e
    if hasattr(tasks, "SAFE_LOAD"):  # ultralytics read the variable at import, which may have come first
        tasks.SAFE_LOAD = os.environ["ULTRALYTICS_SAFE_LOAD"].strip().lower() not in ("0", "false", "no", "off", "")
    return YOLO


class YoloDetector(Detector):
    """An ultralytics detection model.

    ``config.detector`` is a short name (``yolov8m``: its ``.pt`` weights are
    downloaded by ultralytics when online and not cached yet), a local weights
    path, or a model ``.yaml`` (random weights; used by the tests).
    """

    name = "yolo"

    def __init__(self, config: DetectConfig | None = None) -> None:
        super().__init__(config)
        YOLO = _import_yolo()
        weights = self.config.detector
        if _SHORT_NAME.match(weights):
            weights += ".pt"
        if weights.endswith(".pt") and os.sep in weights and not Path(weights).is_file():
            raise ModelLoadError(f"YOLO weights not found: {weights}")
        try:
            self._model = YOLO(weights, task="detect")
        except (ConnectionError, OSError, RuntimeError, TypeError) as e:  # TypeError: refused by safe load
            raise ModelLoadError(
                f"could not load YOLO weights {weights!r}: {e}. Offline, pass a local weights "
                "path (--detector path/to/yolov8m.pt) or use the embedded ssd-mobilenet-v2."
            ) from e
        self._weights = weights
        names = dict(self._model.names)
        # A model built from a .yaml has placeholder names '0'..'79'; with 80
        # classes those are the COCO classes in ultralytics order.
        if len(names) == len(COCO80) and all(str(v).isdigit() for v in names.values()):
            names = dict(enumerate(COCO80))
        self._names = {int(k): str(v) for k, v in names.items()}
        self.name = Path(weights).stem

    @property
    def model_id(self) -> str:
        return self._weights

    def _class_ids(self) -> list[int] | None:
        if not self.config.classes:
            return None
        return [i for i, n in self._names.items() if n in set(self.config.classes)]

    def predict_raw(self, image: np.ndarray) -> RawBoxes:
        return self.predict_raw_batch([image])[0]

    def predict_raw_batch(self, images: Sequence[np.ndarray]) -> list[RawBoxes]:
        # ultralytics reads numpy input as BGR (OpenCV's order); ours is RGB.
        bgr = [np.ascontiguousarray(im[..., ::-1]) for im in images]
        results = self._model.predict(
            bgr, conf=self.config.conf, iou=self.config.iou, max_det=max(1, self.config.max_objects * 3),
            classes=self._class_ids(), imgsz=self.config.imgsz, device=self.config.device, verbose=False,
        )
        out = []
        for r in results:
            b = r.boxes
            cls = b.cls.cpu().numpy().astype(int)
            out.append(RawBoxes(b.xyxy.cpu().numpy().astype(np.float64), b.conf.cpu().numpy().astype(np.float64),
                                tuple(self._names.get(int(c)) for c in cls)))
        return out

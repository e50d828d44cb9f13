"""Object detection: a registry of backends behind :func:`create_detector`.

>>> from groundcap.detect import list_detectors
>>> list_detectors()
['ssd-mobilenet-v2', 'yolo']
"""

from __future__ import annotations

from typing import Callable

from groundcap.config import DetectConfig
from groundcap.detect.base import Detector, RawBoxes, to_detections
from groundcap.detect.coco import COCO80, COCO90, coco90_to_label
from groundcap.errors import ConfigError
from groundcap.registry import Registry

__all__ = [
    "Detector", "RawBoxes", "to_detections", "COCO80", "COCO90", "coco90_to_label",
    "create_detector", "register_detector", "list_detectors",
]

# Built-ins are named by "module:class" so that listing them imports nothing heavy.
_REGISTRY: Registry[Callable[[DetectConfig], Detector]] = Registry("detector", {
    "ssd-mobilenet-v2": "groundcap.detect.ssd:SSDMobileNetV2",
    "yolo": "groundcap.detect.yolo:YoloDetector",
})


def register_detector(name: str, factory: Callable[[DetectConfig], Detector]) -> None:
    """Adds a backend under ``name``; a name can be registered once.

    Raises:
        ValueError: if ``name`` is taken.
    """
    _REGISTRY.register(name, factory)


def list_detectors() -> list[str]:
    """Registered backend names. Any ultralytics name or path also works via ``yolo``."""
    return _REGISTRY.names()


def create_detector(name_or_config: str | DetectConfig | None = None) -> Detector:
    """Builds a detector by name (``"ssd-mobilenet-v2"``, ``"yolov8m"``, ``"best.pt"``) or from a config.

    Raises:
        ConfigError: for a name no backend knows.
        groundcap.errors.ModelLoadError: when the backend cannot load its model.
    """
    if name_or_config is None:
        config = DetectConfig()
    elif isinstance(name_or_config, str):
        config = DetectConfig(detector=name_or_config)
    else:
        config = name_or_config
    name = config.detector
    if name in _REGISTRY:
        return _REGISTRY.get(name)(config)
    from groundcap.detect.yolo import is_yolo_name

    if is_yolo_name(name):
        return _REGISTRY.get("yolo")(config)
    raise ConfigError(f"unknown detector {name!r}; choose one of {list_detectors()} or an ultralytics weights path")

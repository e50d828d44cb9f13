import numpy as np
import pytest

from groundcap.config import DetectConfig
from groundcap.detect import create_detector, list_detectors, register_detector
from groundcap.detect.base import Detector, RawBoxes
from groundcap.errors import ConfigError, ModelLoadError


class _Fixed(Detector):
    name = "fixed"

    def predict_raw(self, image):
        return RawBoxes(np.array([[1.0, 1.0, 5.0, 5.0]]), np.array([0.9]), ("cat",))


def test_list_detectors_names_builtins():
    assert {"ssd-mobilenet-v2", "yolo"} <= set(list_detectors())


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_detector("ssd-mobilenet-v2", _Fixed)


def test_unknown_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown detector"):
        create_detector("not-a-detector")


def test_custom_backend_gets_shared_postprocessing(monkeypatch):
    from groundcap import detect

    monkeypatch.setitem(detect._REGISTRY._entries, "fixed-test", _Fixed)
    det = create_detector(DetectConfig(detector="fixed-test"))
    (d,) = det.detect(np.zeros((10, 10, 3), np.uint8))
    assert (d.instance_id, d.source) == ("cat_1", "fixed")


def test_detect_rejects_non_rgb_arrays():
    with pytest.raises(TypeError, match="load_image"):
        _Fixed().detect(np.zeros((10, 10), np.uint8))


def test_missing_local_yolo_weights_is_a_clear_error(tmp_path):
    pytest.importorskip("ultralytics")
    with pytest.raises(ModelLoadError, match="not found"):
        create_detector(str(tmp_path / "missing" / "best.pt"))

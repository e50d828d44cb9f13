import numpy as np
import pytest

from groundcap.records import ContextLabel, Detection
from groundcap.spatial.scene import scene_of


def image(top, bottom, h=60, w=80):
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = top
    img[h // 2:] = bottom
    return img


SKY, GRASS, SNOW, SEA, NIGHT, WALL, FLOOR = (
    (90, 150, 235), (60, 150, 40), (240, 242, 245), (30, 80, 140), (8, 8, 14), (150, 120, 100), (90, 70, 50))


def det(label, box=(10, 10, 40, 50)):
    return Detection(label, f"{label}_1", box, 0.9, (80, 60))


@pytest.mark.parametrize(
    "img, dets, context, time_of_day, location, place",
    [
        pytest.param(image(SKY, GRASS), (), (), "day", "outdoor", "grass", id="sky-over-grass"),
        pytest.param(image(SKY, SNOW), (), (), "day", "outdoor", "snow", id="sky-over-snow"),
        pytest.param(image(SKY, SEA), (), (ContextLabel("seashore", 0.6),), "day", "outdoor", "water", id="beach"),
        pytest.param(image(NIGHT, NIGHT), (), (), "night", "unknown", "unknown", id="dark"),
        pytest.param(image(WALL, FLOOR), (det("couch"), det("tv", (50, 5, 70, 20))), (), "unknown", "indoor",
                     "indoor room", id="living-room"),
        pytest.param(image(SKY, (110, 110, 110)), (det("car"), det("bus", (40, 10, 78, 50))), (), "day", "outdoor",
                     "street", id="street"),
        pytest.param(image((128, 128, 128), (128, 128, 128)), (), (), "unknown", "unknown", "unknown", id="no-evidence"),
        pytest.param(image((120, 110, 100), (120, 110, 100)), (), (ContextLabel("alp", 0.7),), "day", "outdoor",
                     "mountain", id="alp-label"),
    ],
)
def test_scene_table(img, dets, context, time_of_day, location, place):
    s = scene_of(img, dets, context)
    assert (s.time_of_day.value, s.location.value, s.place.value) == (time_of_day, location, place)


def test_unknown_has_zero_confidence_and_known_has_evidence():
    s = scene_of(image(SKY, GRASS))
    assert s.place.confidence > 0 and s.place.evidence
    u = scene_of(image((128, 128, 128), (128, 128, 128)))
    assert u.place.confidence == 0.0


def test_scene_on_real_bus_photo(bus_rgb):
    s = scene_of(bus_rgb, (det("bus"),), (ContextLabel("minibus", 0.85),))
    assert s.location.value == "outdoor"
    assert s.place.value == "street"


def test_tiny_image():
    s = scene_of(np.zeros((1, 1, 3), np.uint8))
    assert 0.0 <= s.brightness <= 1.0

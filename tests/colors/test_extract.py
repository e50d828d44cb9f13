"""Dominant colors of objects and images, on synthetic images and one real photo."""

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from groundcap.colors import colors_of, palette
from groundcap.colors.extract import _sample
from groundcap.config import ColorConfig
from groundcap.records import Detection, ObjectColor

RED, GREEN, BLUE, WHITE = (200, 30, 30), (40, 160, 60), (30, 60, 200), (250, 250, 250)
METHODS = ["kmeans", "histogram"]


def _det(box, size, n=1, label="thing"):
    return Detection(label, f"{label}_{n}", box, 0.9, size)


def _canvas(height, width, color):
    img = np.empty((height, width, 3), np.uint8)
    img[:] = color
    return img


def _disk_on_background(radius):
    """A red disk of ``radius`` centred in a 100x100 green image."""
    img = _canvas(100, 100, GREEN)
    yy, xx = np.mgrid[:100, :100]
    img[(xx + 0.5 - 50) ** 2 + (yy + 0.5 - 50) ** 2 <= radius ** 2] = RED
    return img


@pytest.mark.parametrize("method", METHODS)
def test_square_object_beats_background_in_box_corners(method):
    img = _canvas(100, 100, BLUE)
    img[30:70, 30:70] = RED
    (obj,) = colors_of(img, [_det((25, 25, 75, 75), (100, 100))], ColorConfig(color_method=method))
    assert obj.colors[0].basic == "red"
    assert obj.instance_id == "thing_1" and obj.method == method


# A disk filling 44% of its box (radius 0.75 of the half-side): flat counting
# lets the background in the corners win; center weighting gives the object.
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("center_weight, first", [(1.0, "green"), (2.0, "red"), (4.0, "red")])
def test_center_weighting_picks_a_round_object_over_its_box_corners(method, center_weight, first):
    cfg = ColorConfig(color_method=method, center_weight=center_weight)
    (obj,) = colors_of(_disk_on_background(22.5), [_det((20, 20, 80, 80), (100, 100))], cfg)
    assert obj.colors[0].basic == first
    assert obj.basic_names == (first, ({"red", "green"} - {first}).pop())


@pytest.mark.parametrize("method", METHODS)
def test_two_color_object_reports_both_with_their_shares(method):
    img = _canvas(80, 80, GREEN)
    img[10:40, 10:70] = WHITE
    img[40:70, 10:70] = BLUE
    (obj,) = colors_of(img, [_det((10, 10, 70, 70), (80, 80))], ColorConfig(color_method=method))
    assert set(obj.basic_names) == {"white", "blue"}
    for color in obj.colors:
        assert color.fraction == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("method", METHODS)
def test_shades_with_one_name_are_merged(method):
    img = _canvas(60, 60, WHITE)
    img[:, 30:] = (232, 232, 236)
    cfg = ColorConfig(color_method=method, n_colors=3, center_weight=1.0)
    (obj,) = colors_of(img, [_det((0, 0, 60, 60), (60, 60))], cfg)
    assert [c.basic for c in obj.colors] == ["white"]
    assert obj.colors[0].fraction == pytest.approx(1.0)


@pytest.mark.parametrize("min_fraction, names", [
    (0.12, ("red",)),                    # the 10% blue stripe is dropped
    (0.05, ("red", "blue")),
    (0.95, ("red",)),                    # the most dominant color is always kept
])
def test_min_fraction(min_fraction, names):
    img = _canvas(50, 100, RED)
    img[:, :10] = BLUE
    cfg = ColorConfig(min_fraction=min_fraction, center_weight=1.0)
    (obj,) = colors_of(img, [_det((0, 0, 100, 50), (100, 50))], cfg)
    assert obj.basic_names == names


@pytest.mark.parametrize("n_colors", [0, 1, 2, 3])
def test_at_most_n_colors_most_dominant_first(n_colors):
    img = _canvas(40, 100, RED)
    img[:, 50:80] = GREEN
    img[:, 80:] = BLUE
    cfg = ColorConfig(n_colors=n_colors, center_weight=1.0, min_fraction=0.0)
    (obj,) = colors_of(img, [_det((0, 0, 100, 40), (100, 40))], cfg)
    assert obj.basic_names == ("red", "green", "blue")[:n_colors]
    fractions = [c.fraction for c in obj.colors]
    assert fractions == sorted(fractions, reverse=True)


def _noisy_scene():
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)
    img[20:80, 30:90] = np.clip(rng.normal(BLUE, 12, (60, 60, 3)), 0, 255).astype(np.uint8)
    img[60:110, 80:150] = np.clip(rng.normal(RED, 12, (50, 70, 3)), 0, 255).astype(np.uint8)
    boxes = [(25, 15, 95, 85), (75, 55, 155, 115), (0, 0, 160, 120), (10.5, 3.2, 11.1, 3.9)]
    return img, [_det(b, (160, 120), n=i + 1) for i, b in enumerate(boxes)]


@pytest.mark.parametrize("method", METHODS)
def test_same_input_gives_exactly_the_same_output(method):
    img, dets = _noisy_scene()
    cfg = ColorConfig(color_method=method, n_colors=3)
    first = colors_of(img, dets, cfg)
    assert colors_of(img.copy(), list(dets), cfg) == first
    assert [o.instance_id for o in first] == [d.instance_id for d in dets]
    assert first[0].colors[0].basic == "blue" and first[1].colors[0].basic == "red"


@pytest.mark.parametrize("method", METHODS)
def test_an_objects_colors_do_not_depend_on_the_other_boxes(method):
    img, dets = _noisy_scene()
    dets = [dets[0], dets[3]]  # boxes that do not overlap (overlaps are occlusion, tested below)
    cfg = ColorConfig(color_method=method, n_colors=3)
    together = colors_of(img, dets, cfg)
    alone = tuple(colors_of(img, [d], cfg)[0] for d in dets)
    assert together == alone
    assert colors_of(img, dets[::-1], cfg) == together[::-1]


def test_palette_of_three_stripes():
    img = _canvas(90, 120, RED)
    img[30:60] = GREEN
    img[60:] = BLUE
    colors = palette(img)
    assert {c.basic for c in colors} == {"red", "green", "blue"}
    assert sum(c.fraction for c in colors) == pytest.approx(1.0, abs=0.01)


def test_palette_size_and_weighting_is_flat():
    img = _canvas(100, 100, GREEN)
    img[25:75, 25:75] = RED  # a quarter of the frame, in the middle
    colors = palette(img, ColorConfig(palette_size=1, center_weight=8.0))
    assert [c.basic for c in colors] == ["green"]
    assert colors[0].fraction == pytest.approx(0.75, abs=0.02)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("image, box, size, names", [
    # a 1x1 image
    (_canvas(1, 1, (7, 7, 7)), (0, 0, 1, 1), (1, 1), ("black",)),
    # a box smaller than a pixel is read as the pixel it falls in
    (np.pad(_canvas(1, 1, RED), ((5, 4), (5, 4), (0, 0))), (5.2, 5.3, 5.4, 5.6), (10, 10), ("red",)),
    # boxes touching the right and bottom border
    (_canvas(50, 60, GREEN), (59.9, 49.9, 60, 50), (60, 50), ("green",)),
    (_canvas(50, 60, GREEN), (0, 0, 60, 50), (60, 50), ("green",)),
    # a uniform image with more clusters asked than colors exist
    (_canvas(30, 30, BLUE), (3, 3, 27, 27), (30, 30), ("blue",)),
    # a box given for an image of twice the size is rescaled, not clipped away
    (np.hstack([_canvas(20, 20, RED), _canvas(20, 20, BLUE)]), (45, 0, 80, 40), (80, 40), ("blue",)),
    # a gray image given as a 2-D array
    (np.tile(np.array([70, 200], np.uint8).repeat(10), (20, 1)), (0, 0, 20, 20), (20, 20),
     ("dark gray", "light gray")),
])
def test_edge_cases(method, image, box, size, names):
    cfg = ColorConfig(color_method=method, n_colors=5, center_weight=1.0)
    (obj,) = colors_of(image, [_det(box, size)], cfg)
    assert set(obj.basic_names) == set(names)
    assert sum(c.fraction for c in obj.colors) == pytest.approx(1.0, abs=1e-3)
    assert palette(image, ColorConfig(palette_size=6))


def test_no_detections_gives_no_colors():
    assert colors_of(_canvas(10, 10, RED), []) == ()


@pytest.mark.parametrize("box", [(0, 0, 640, 480), (0, 0, 640, 1), (0, 0, 1, 480), (10, 10, 13, 11)])
@pytest.mark.parametrize("max_pixels", [1, 7, 100, 4096])
def test_sampling_respects_max_pixels(box, max_pixels):
    pixels, weights = _sample(_canvas(480, 640, RED), box, 2.0, max_pixels)
    assert 1 <= len(pixels) <= max_pixels
    assert weights.shape == (len(pixels),) and np.all(weights > 0)


def test_center_weight_is_the_ratio_of_center_to_border_middle():
    img = _canvas(101, 101, RED)
    _, weights = _sample(img, (0, 0, 101, 101), 3.0, 101 * 101)
    weights = weights.reshape(101, 101)
    assert weights[50, 50] / weights[50, 0] == pytest.approx(3.0, rel=0.05)
    assert weights[50, 50] / weights[0, 0] == pytest.approx(9.0, rel=0.1)


@pytest.mark.parametrize("image, settings", [
    (np.zeros((10, 10, 3), np.float32), {}),
    (np.zeros((10, 10, 4), np.uint8), {}),
    (np.zeros((0, 10, 3), np.uint8), {}),
    (np.zeros((10, 10, 3), np.uint8), {"color_method": "median-cut"}),
    (np.zeros((10, 10, 3), np.uint8), {"n_colors": -1}),
    (np.zeros((10, 10, 3), np.uint8), {"center_weight": 0.0}),
    (np.zeros((10, 10, 3), np.uint8), {"max_pixels": 0}),
])
def test_bad_image_or_config_raises_value_error(image, settings):
    with pytest.raises(ValueError):  # a bad setting: ColorConfig refuses it (a ConfigError is a ValueError)
        colors_of(image, [_det((0, 0, 5, 5), (10, 10))], ColorConfig(**settings))


def test_results_round_trip_through_dicts():
    img, dets = _noisy_scene()
    for obj in colors_of(img, dets):
        assert ObjectColor.from_dict(obj.to_dict()) == obj


@pytest.fixture(scope="module")
def bus():
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        pytest.skip("ultralytics (and its bus.jpg asset) is not installed")
    path = Path(spec.origin).parent / "assets" / "bus.jpg"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# bus.jpg (810x1080): a blue-and-white city bus with dark windows, a man in a
# cream fleece and jeans in front of it, another in a black coat.
@pytest.mark.parametrize("label, box, first, includes", [
    # the vivid body outranks the larger dark windows (chroma_boost, measured on Flickr train)
    ("bus", (0, 230, 810, 740), {"blue"}, {"black"}),
    ("person", (56, 390, 200, 900), None, {"beige"}),
    ("person", (225, 400, 350, 880), {"black"}, {"dark blue"}),
])
def test_real_photo(bus, label, box, first, includes):
    height, width = bus.shape[:2]
    assert (width, height) == (810, 1080)
    (obj,) = colors_of(bus, [_det(box, (width, height), label=label)], ColorConfig(n_colors=4))
    if first is not None:
        assert obj.colors[0].basic in first
    assert includes <= set(obj.basic_names)


@pytest.mark.parametrize("method", METHODS)
def test_a_smaller_object_in_front_does_not_color_the_larger_one(method):
    # A white wall with a blue stripe at the bottom, and a big red "person" standing
    # in the middle of it: the wall must not come out red.
    img = _canvas(100, 100, (245, 245, 245))
    img[80:] = BLUE
    img[5:98, 20:80] = RED
    wall = _det((0, 0, 100, 100), (100, 100), n=1)
    person = Detection("person", "person_1", (20, 5, 80, 98), 0.9, (100, 100))
    cfg = ColorConfig(color_method=method, n_colors=2)
    alone = colors_of(img, [wall], cfg)[0]
    assert alone.colors[0].basic == "red"  # without the person, the center wins
    with_person = colors_of(img, [wall, person], cfg)
    assert "red" not in with_person[0].basic_names
    assert with_person[1].colors[0].basic == "red"


def test_chroma_boost_ranks_a_vivid_color_above_a_larger_dull_one():
    img = _canvas(100, 100, (60, 60, 60))
    img[:, 60:] = BLUE  # 40% vivid blue beside 60% dark gray
    box = [_det((0, 0, 100, 100), (100, 100))]
    flat = ColorConfig(center_weight=1.0, n_colors=2, chroma_boost=0.0)
    assert [c.basic for c in colors_of(img, box, flat)[0].colors][0] == "dark gray"
    boosted = dataclasses.replace(flat, chroma_boost=1.0)
    assert [c.basic for c in colors_of(img, box, boosted)[0].colors][0] == "blue"

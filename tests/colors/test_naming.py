"""Color naming: CIELAB conversion, CIEDE2000, CSS3 names and caption words."""

import numpy as np
import pytest
import webcolors

from groundcap.colors import basic_name, css3_name, name_color, rgb_to_lab
from groundcap.colors.naming import BASIC_NAMES, basic_names, ciede2000, css3_names, rgb_to_oklch
from groundcap.records import NamedColor

CSS3 = sorted(webcolors.names("css3"))


def _css(name):
    return tuple(webcolors.name_to_rgb(name))


@pytest.mark.parametrize("rgb, lab", [
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 255, 255), (100.0, 0.0, 0.0)),
    ((128, 128, 128), (53.585, 0.0, 0.0)),
    ((255, 0, 0), (53.241, 80.092, 67.203)),
    ((0, 255, 0), (87.735, -86.183, 83.179)),
    ((0, 0, 255), (32.297, 79.188, -107.860)),
])
def test_rgb_to_lab_reference_values(rgb, lab):
    np.testing.assert_allclose(rgb_to_lab(rgb), lab, atol=0.01)


def test_rgb_to_lab_is_vectorised_over_leading_axes():
    img = np.array([[[255, 0, 0], [0, 0, 255]], [[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    lab = rgb_to_lab(img)
    assert lab.shape == (2, 2, 3)
    np.testing.assert_allclose(lab[1, 1], rgb_to_lab((255, 255, 255)))


# Sharma, Wu and Dalal (2005), Table 1: pairs chosen to exercise the hue
# wrap-around, the chroma-zero branch and the blue rotation term.
@pytest.mark.parametrize("lab1, lab2, expected", [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, -0.001, 2.49), (50.0, 0.0009, -2.49), 4.8045),
    ((50.0, -0.001, 2.49), (50.0, 0.0011, -2.49), 4.7461),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514), 0.9082),
])
def test_ciede2000_matches_sharma_table(lab1, lab2, expected):
    assert float(ciede2000(lab1, lab2)) == pytest.approx(expected, abs=1e-4)
    assert float(ciede2000(lab2, lab1)) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("name", CSS3)
def test_css3_name_of_an_exact_css_color_is_that_color(name):
    got = css3_name(_css(name))
    # Aliases (gray/grey, aqua/cyan, fuchsia/magenta) share one color.
    assert got == name or _css(got) == _css(name)


@pytest.mark.parametrize("name, spelling", [
    ("grey", "gray"), ("darkslategrey", "darkslategray"), ("cyan", "aqua"), ("magenta", "fuchsia"),
])
def test_css3_name_spells_aliases_one_way(name, spelling):
    assert css3_name(_css(name)) == spelling


# Colors whose nearest CSS name by RGB distance is visibly wrong. The third
# column is what plain RGB distance picks, checked below so the claim stays honest.
@pytest.mark.parametrize("rgb, lab_nearest, rgb_nearest", [
    ((255, 225, 75), "gold", "sandybrown"),      # a bright yellow named after an orange-brown
    ((0, 90, 180), "royalblue", "darkcyan"),     # a mid blue named after a teal
    ((120, 60, 120), "purple", "dimgray"),       # a plum purple named after a gray
    ((90, 135, 90), "seagreen", "dimgray"),      # a leaf green named after a gray
])
def test_css3_name_uses_perceptual_distance_not_rgb(rgb, lab_nearest, rgb_nearest):
    table = {name: np.array(_css(name), dtype=float) for name in CSS3}
    by_rgb = min(table, key=lambda n: float(np.sum((table[n] - rgb) ** 2)))
    assert by_rgb == rgb_nearest
    assert css3_name(rgb) == lab_nearest
    assert basic_name(_css(lab_nearest)) == basic_name(rgb) != basic_name(_css(rgb_nearest))


@pytest.mark.parametrize("rgb, expected", [
    # primaries and pure colors
    ((255, 0, 0), "red"),
    ((0, 128, 0), "green"),
    ((0, 255, 0), "green"),
    ((0, 0, 255), "blue"),
    ((255, 255, 0), "yellow"),
    ((255, 165, 0), "orange"),
    ((128, 0, 128), "purple"),
    ((255, 192, 203), "pink"),
    ((255, 0, 255), "pink"),            # fuchsia: captions say pink more than magenta
    ((0, 128, 128), "teal"),
    ((64, 224, 208), "turquoise"),
    # achromatic, near-black and near-white
    ((0, 0, 0), "black"),
    ((20, 20, 20), "black"),
    ((35, 30, 28), "black"),
    ((0, 0, 60), "black"),              # too dark for its hue to show
    ((60, 60, 60), "dark gray"),
    ((128, 128, 128), "gray"),
    ((112, 128, 144), "gray"),          # slategray: the blue tint is too faint to name
    ((192, 192, 192), "light gray"),
    ((230, 230, 230), "white"),
    ((245, 245, 245), "white"),
    ((255, 255, 255), "white"),
    # CSS named colors a caption says differently
    ((0, 0, 128), "dark blue"),         # navy
    ((25, 25, 112), "dark blue"),       # midnightblue
    ((135, 206, 235), "light blue"),    # skyblue
    ((173, 216, 230), "light blue"),    # lightblue
    ((128, 0, 0), "dark red"),          # maroon
    ((255, 215, 0), "yellow"),          # gold
    ((240, 230, 140), "light yellow"),  # khaki
    ((210, 105, 30), "brown"),          # chocolate
    ((139, 69, 19), "brown"),           # saddlebrown
    ((210, 180, 140), "tan"),           # tan
    ((245, 245, 220), "beige"),         # beige
    ((128, 128, 0), "olive"),           # olive
    ((0, 100, 0), "dark green"),        # darkgreen
    ((144, 238, 144), "light green"),   # lightgreen
    ((147, 112, 219), "purple"),        # mediumpurple: CIELAB hue would call it blue
    ((75, 0, 130), "dark purple"),      # indigo
    ((216, 191, 216), "light purple"),  # thistle
    # photo colors
    ((255, 219, 172), "beige"),         # light skin
    ((224, 172, 105), "tan"),           # medium skin
    ((141, 85, 36), "brown"),           # dark skin
    ((90, 56, 37), "dark brown"),       # very dark skin, dark wood
    ((234, 218, 204), "beige"),         # a cream fleece in sunlight
    ((86, 125, 70), "green"),           # grass
    ((135, 180, 230), "light blue"),    # clear sky
    ((40, 60, 100), "blue"),            # denim
    ((20, 30, 60), "dark blue"),        # dark denim
    ((100, 0, 40), "dark red"),         # burgundy
    ((230, 100, 0), "orange"),          # a vivid orange stays orange at mid lightness
])
def test_basic_name(rgb, expected):
    assert basic_name(rgb) == expected


def test_every_basic_name_comes_from_the_vocabulary():
    grid = np.stack(np.meshgrid(*[np.arange(0, 256, 17)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    names = basic_names(grid)
    assert set(names) <= set(BASIC_NAMES)
    assert set(names) == set(BASIC_NAMES)  # and every word is reachable
    assert names[::97] == [basic_name(c) for c in grid[::97]]


def test_css3_names_agrees_with_css3_name():
    colors = np.random.default_rng(0).integers(0, 256, (50, 3))
    assert css3_names(colors) == [css3_name(c) for c in colors]


def test_oklch_hue_separates_blue_from_purple():
    # The reason caption words are decided in OKLCh rather than CIELAB.
    lab = rgb_to_lab([[0, 0, 255], [147, 112, 219]])
    cie_hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360
    assert abs(cie_hue[0] - cie_hue[1]) < 1.0
    ok_hue = rgb_to_oklch([[0, 0, 255], [147, 112, 219]])[:, 2]
    assert ok_hue[1] - ok_hue[0] > 30.0


@pytest.mark.parametrize("rgb, fraction, expected", [
    ((0, 0, 130), 0.5, NamedColor((0, 0, 130), "navy", "dark blue", 0.5)),
    (np.array([254.6, 0.2, -3.0]), 1.0, NamedColor((255, 0, 0), "red", "red", 1.0)),
    ([245, 245, 245], 0.0, NamedColor((245, 245, 245), "whitesmoke", "white", 0.0)),
])
def test_name_color(rgb, fraction, expected):
    assert name_color(rgb, fraction) == expected


@pytest.mark.parametrize("call", [
    lambda: name_color((1, 2, 3), 1.5),
    lambda: css3_name((1, 2)),
    lambda: basic_name((1, 2, 3, 4)),
    lambda: rgb_to_lab(np.zeros((4, 2))),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()

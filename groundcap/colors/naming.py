"""Names for measured colors: the nearest CSS3 name and a caption word.

Two spaces are used, each for what it is good at. CSS3 names are matched by
CIEDE2000 distance in CIELAB (D65), the standard "how different do these look"
metric; plain RGB distance picks visibly wrong names for dark and saturated
colors. Caption words ("dark blue", "brown") are decided in OKLCh, the polar
form of OKLab: CIELAB's hue angle bends in the blues, so that CSS
``mediumpurple`` and ``blue`` share a CIELAB hue of 306 degrees and no hue
boundary could tell them apart, while OKLab puts them 33 degrees apart.

>>> css3_name((0, 0, 130))
'navy'
>>> basic_name((0, 0, 130))
'dark blue'
>>> name_color((250, 250, 250), 0.5).basic
'white'
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from groundcap.records import NamedColor

__all__ = ["rgb_to_lab", "rgb_to_oklch", "ciede2000", "css3_name", "css3_names", "basic_name",
           "basic_names", "name_color", "BASIC_NAMES"]

#: Every word :func:`basic_name` can return.
BASIC_NAMES = (
    "black", "dark gray", "gray", "light gray", "white",
    "dark red", "red", "pink", "orange", "dark brown", "brown", "tan", "beige",
    "yellow", "light yellow", "olive", "dark green", "green", "light green",
    "teal", "turquoise", "dark blue", "blue", "light blue",
    "dark purple", "purple", "light purple",
)

# D65 white point and the sRGB -> XYZ matrix (IEC 61966-2-1).
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
# Björn Ottosson's OKLab matrices (linear sRGB -> LMS -> Lab).
_SRGB_TO_LMS = np.array([
    [0.4122214708, 0.5363325363, 0.0514459929],
    [0.2119034982, 0.6806995451, 0.1073969566],
    [0.0883024619, 0.2817188376, 0.6299787005],
])
_LMS_TO_OKLAB = np.array([
    [0.2104542553, 0.7936177850, -0.0040720468],
    [1.9779984951, -2.4285922050, 0.4505937099],
    [0.0259040371, 0.7827717662, -0.8086757660],
])


def _linear_rgb(rgb: np.ndarray | Sequence[int]) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    if c.shape[-1:] != (3,):
        raise ValueError(f"expected RGB values with a last axis of 3, got shape {c.shape}")
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def rgb_to_lab(rgb: np.ndarray | Sequence[int]) -> np.ndarray:
    """Converts sRGB to CIELAB under the D65 white point.

    Args:
        rgb: Values in 0..255 (uint8 or float), shape ``(..., 3)``.

    Returns:
        Float array of the same shape holding ``L*`` (0..100), ``a*`` and ``b*``.

    >>> np.round(rgb_to_lab([255, 0, 0]), 1).tolist()
    [53.2, 80.1, 67.2]
    """
    xyz = _linear_rgb(rgb) @ _SRGB_TO_XYZ.T / _WHITE_D65
    eps = (6.0 / 29.0) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3.0 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def rgb_to_oklch(rgb: np.ndarray | Sequence[int]) -> np.ndarray:
    """Converts sRGB to OKLCh: lightness and chroma scaled by 100, hue in degrees.

    On this scale mid gray (128) has lightness 60, pure blue has chroma 31
    and black and white have chroma 0.
    """
    lms = np.cbrt(_linear_rgb(rgb) @ _SRGB_TO_LMS.T)
    lab = lms @ _LMS_TO_OKLAB.T
    out = np.empty_like(lab)
    out[..., 0] = 100.0 * lab[..., 0]
    out[..., 1] = 100.0 * np.hypot(lab[..., 1], lab[..., 2])
    out[..., 2] = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360.0
    return out


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 color difference between CIELAB colors, broadcasting over leading axes.

    Follows Sharma, Wu and Dalal (2005), whose test pairs the tests check.
    Angles stay in radians and the four cosines of the hue weighting come
    from powers of one complex exponential: trigonometry is most of the cost.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0) ** 7
    g = 1.5 - 0.5 * np.sqrt(c_bar7 / (c_bar7 + _POW25_7))
    a1p, a2p = g * a1, g * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.arctan2(b1, a1p) % _TAU
    h2p = np.arctan2(b2, a2p) % _TAU
    c_prod = c1p * c2p
    chroma_zero = c_prod == 0

    dh = h2p - h1p
    dh = np.where(dh > np.pi, dh - _TAU, np.where(dh < -np.pi, dh + _TAU, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    d_l = L2 - L1
    d_c = c2p - c1p
    d_h = 2.0 * np.sqrt(c_prod) * np.sin(dh / 2.0)

    l_bar = (L1 + L2) / 2.0
    c_bar_p = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_bar = np.where(np.abs(h1p - h2p) <= np.pi, h_sum / 2.0,
                     np.where(h_sum < _TAU, h_sum / 2.0 + np.pi, h_sum / 2.0 - np.pi))
    h_bar = np.where(chroma_zero, h_sum, h_bar)
    z = np.exp(1j * h_bar)
    z2 = z * z
    t = (1.0 - 0.17 * (z * _ROT_M30).real + 0.24 * z2.real
         + 0.32 * (z2 * z * _ROT_P6).real - 0.20 * (z2 * z2 * _ROT_M63).real)
    d_theta = _RAD30 * np.exp(-(((h_bar - _RAD275) / _RAD25) ** 2))
    c_bar_p7 = c_bar_p ** 7
    r_c = 2.0 * np.sqrt(c_bar_p7 / (c_bar_p7 + _POW25_7))
    l_off = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l_off / np.sqrt(20.0 + l_off)
    s_c = 1.0 + 0.045 * c_bar_p
    s_h = 1.0 + 0.015 * c_bar_p * t
    r_t = -np.sin(2.0 * d_theta) * r_c
    dc_s, dh_s = d_c / s_c, d_h / s_h
    return np.sqrt((d_l / s_l) ** 2 + dc_s ** 2 + dh_s ** 2 + r_t * dc_s * dh_s)


_TAU = 2.0 * np.pi
_POW25_7 = 25.0 ** 7
_RAD25, _RAD30, _RAD275 = np.radians(25.0), np.radians(30.0), np.radians(275.0)
# Unit rotations for cos(h - 30deg), cos(3h + 6deg) and cos(4h - 63deg).
_ROT_M30, _ROT_P6, _ROT_M63 = (np.exp(1j * np.radians(d)) for d in (-30.0, 6.0, -63.0))


@functools.lru_cache(maxsize=1)
def _css3_table() -> tuple[tuple[str, ...], np.ndarray]:
    """CSS3 names and their CIELAB values, one name per distinct color."""
    import webcolors

    by_rgb: dict[tuple[int, int, int], str] = {}
    # Sorted, so the spelling kept for a shared color is the first alphabetically:
    # "gray" over "grey", "aqua" over "cyan", "fuchsia" over "magenta".
    for name in sorted(webcolors.names("css3")):
        by_rgb.setdefault(tuple(webcolors.name_to_rgb(name)), name)
    names = tuple(by_rgb.values())
    return names, rgb_to_lab(np.array(list(by_rgb.keys()), dtype=np.float64))


def _rgb_tuple(rgb: Sequence[int] | np.ndarray) -> tuple[int, int, int]:
    values = rgb.reshape(-1).tolist() if isinstance(rgb, np.ndarray) else list(rgb)
    if len(values) != 3:
        raise ValueError(f"expected one RGB color, got {rgb!r}")
    # Plain Python: this runs for every named color, where numpy's per-call cost dominates.
    return tuple(min(255, max(0, int(round(float(v))))) for v in values)  # type: ignore[return-value]


@functools.lru_cache(maxsize=4096)
def _css3_cached(rgb: tuple[int, int, int]) -> str:
    return css3_names([rgb])[0]


def css3_name(rgb: Sequence[int] | np.ndarray) -> str:
    """Nearest CSS3 color name by CIEDE2000 distance in CIELAB.

    Args:
        rgb: One sRGB color, three values in 0..255.

    >>> css3_name((255, 215, 0))
    'gold'
    """
    return _css3_cached(_rgb_tuple(rgb))


def css3_names(rgbs: np.ndarray | Sequence[Sequence[int]]) -> list[str]:
    """:func:`css3_name` of each row of an ``(n, 3)`` array, in one vectorised pass."""
    names, table = _css3_table()
    lab = rgb_to_lab(_rounded(rgbs))
    return [names[i] for i in np.argmin(ciede2000(lab[:, None, :], table[None, :, :]), axis=1)]


def _rounded(rgbs: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    return np.clip(np.rint(np.asarray(rgbs, dtype=np.float64)), 0, 255).reshape(-1, 3)


# OKLCh thresholds (lightness and chroma x100). Colors below _GRAY_CHROMA are
# named by lightness alone: slate gray (chroma 3.1) is "gray" in a caption,
# light blue (4.9) is already "light blue".
_GRAY_CHROMA = 4.0
_BLACK_L = 18.0          # darker than this is "black" whatever the hue
_DARK_L, _DARK_CHROMA = 30.0, 5.0  # dark and barely tinted is black too (shadows carry chroma noise)
# Cream and ivory are told from white by a smaller tint than blue is from gray
# (a cream fleece in sunlight measures chroma 2.6); whites under warm light stay
# under 2.5 and are still white.
_WARM_GRAY_CHROMA, _WARM_HUES = 2.5, (40.0, 115.0)
# The same holds for mid-light warm tints: a tan coat in shade (chroma 3.5) is
# "tan" to a captioner, not "gray". Measured on the Flickr train split.
_WARM_MIN_L = 45.0
_GRAY_STEPS = ((30.0, "black"), (55.0, "dark gray"), (72.0, "gray"), (90.0, "light gray"))
# Hue sectors in OKLCh degrees, each up to (not including) its bound.
_PINK_END, _RED_END, _ORANGE_END, _YELLOW_END, _GREEN_END, _CYAN_END, _BLUE_END, _PURPLE_END = (
    15.0, 38.0, 78.0, 118.0, 170.0, 205.0, 290.0, 345.0)


def _warm_name(light: float, chroma: float, hue: float) -> str:
    """Names the orange-to-yellow sector, where lightness decides brown vs orange."""
    if light >= 88.0 and chroma < 8.0:
        return "beige"
    if hue < _ORANGE_END:
        if light >= 70.0:
            # Pale low-chroma orange is skin, sand and cardboard: "tan". Below
            # hue 50 a moderate tint is salmon-like and stays orange.
            return "tan" if chroma < 6.0 or (chroma < 11.0 and hue >= 50.0) else "orange"
        # Brown is dark orange; a vivid one stays orange even at mid lightness.
        if chroma < 16.0:
            return "dark brown" if light < 40.0 else "brown"
        return "orange"
    if light < 70.0:
        # Dark yellow is not a caption word: gold-brown (dark goldenrod) reads
        # as brown, the greener half (CSS olive) as "olive".
        if hue < 95.0:
            return "dark brown" if light < 40.0 else "brown"
        return "olive"
    if light < 88.0:
        return "tan" if chroma < 10.0 else "yellow"
    return "yellow" if chroma >= 15.0 else "light yellow"


def _hue_name(light: float, chroma: float, hue: float) -> str:
    if hue >= _PURPLE_END or hue < _PINK_END:
        return "dark red" if light < 45.0 else "pink"
    if hue < _RED_END:
        if chroma < 9.0:  # dusty reds: rosy brown, reddish wood
            return "brown" if light < 72.0 else "pink"
        if light >= 72.0:
            return "pink"
        return "dark red" if light < 45.0 else "red"
    if hue < _YELLOW_END:
        return _warm_name(light, chroma, hue)
    if hue < _GREEN_END:
        if light < 50.0:
            return "dark green"
        return "light green" if light >= 80.0 and chroma < 20.0 else "green"
    if hue < _CYAN_END:
        if light >= 80.0 and chroma < 10.0:
            return "light blue"
        return "teal" if light < 62.0 else "turquoise"
    if hue < _BLUE_END:
        if light < 36.0:
            return "dark blue"
        return "light blue" if light >= 72.0 else "blue"
    if light < 38.0:
        return "dark purple"
    if hue >= 320.0 and light >= 65.0 and chroma >= 15.0:
        return "pink"  # fuchsia, violet, orchid
    return "light purple" if light >= 75.0 else "purple"


def basic_name(rgb: Sequence[int] | np.ndarray) -> str:
    """The coarse color word a caption would use, one of :data:`BASIC_NAMES`.

    Decided in OKLCh: low chroma gives black, gray or white by lightness;
    otherwise the hue sector gives the word and lightness adds ``dark``/``light``.
    Brown is dark orange, tan and beige are pale low-chroma oranges and
    yellows, and dark yellow-green (CSS ``olive``) is ``"olive"``.

    Args:
        rgb: One sRGB color, three values in 0..255.

    >>> [basic_name(c) for c in [(128, 0, 0), (135, 206, 235), (210, 105, 30)]]
    ['dark red', 'light blue', 'brown']
    """
    return _basic_cached(_rgb_tuple(rgb))


@functools.lru_cache(maxsize=4096)
def _basic_cached(rgb: tuple[int, int, int]) -> str:
    return _name_lch(*(float(v) for v in rgb_to_oklch(rgb)))


def basic_names(rgbs: np.ndarray | Sequence[Sequence[int]]) -> list[str]:
    """:func:`basic_name` of each row of an ``(n, 3)`` array, converted in one pass."""
    return [_name_lch(*row) for row in rgb_to_oklch(_rounded(rgbs)).tolist()]


def _name_lch(light: float, chroma: float, hue: float) -> str:
    if light < _BLACK_L or (light < _DARK_L and chroma < _DARK_CHROMA):
        return "black"
    warm_and_pale = light >= _WARM_MIN_L and _WARM_HUES[0] <= hue < _WARM_HUES[1]
    if chroma < (_WARM_GRAY_CHROMA if warm_and_pale else _GRAY_CHROMA):
        return next((name for bound, name in _GRAY_STEPS if light < bound), "white")
    return _hue_name(light, chroma, hue)


def name_color(rgb: Sequence[int] | np.ndarray, fraction: float) -> NamedColor:
    """A measured color with both its names.

    Args:
        rgb: One sRGB color, three values in 0..255 (floats are rounded).
        fraction: Share of the object or image the color covers, in [0, 1].
    """
    rgb_t = _rgb_tuple(rgb)
    return NamedColor(rgb=rgb_t, css3=css3_name(rgb_t), basic=basic_name(rgb_t),
                      fraction=float(fraction))

"""Pixel conversions: whatever mode or dtype PIL or numpy decoded, as RGB uint8.

16-bit and 32-bit grayscale are scaled by their full range (PIL's own convert
clips to 255), float images are read as [0, 1] or 0..255 or stretched,
transparency is composited over white, and arrays of uint8, bool, uint16 or
float in [0, 1] become uint8. :mod:`groundcap.data.images` decodes the image
and calls these; a bad pixel value is an :class:`~groundcap.errors.ImageError`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from groundcap.errors import ImageError

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def to_rgb(img: Image.Image, name: str) -> np.ndarray:
    mode = img.mode
    if mode == "RGB" and "transparency" not in img.info:
        # np.asarray would be read-only (it wraps PIL's bytes); callers draw on it.
        return np.array(img)
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        return gray_to_rgb(_sixteen_bit_to_uint8(np.asarray(img)))
    if mode == "F":
        values = np.asarray(img)
        if not np.isfinite(values).all():
            raise ImageError(name, "unsupported", "float image with NaN or infinite pixels")
        return gray_to_rgb(_float_to_uint8(values))
    if mode in _ALPHA_MODES or "transparency" in img.info:
        if mode == "La":
            img = img.convert("LA")  # PIL has no direct La -> RGBA
        return over_white(np.asarray(img.convert("RGBA")))
    return np.array(img.convert("RGB"))


def _sixteen_bit_to_uint8(values: np.ndarray) -> np.ndarray:
    """Scales by the full 0..65535 range; PIL's own convert clips to 255 instead.

    32-bit ``"I"`` images outside 0..65535 are stretched from their minimum
    to their maximum.
    """
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and hi <= 65535:
        # (v + 128) // 257 is round(v / 257) and 65535 / 257 == 255 exactly.
        return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return _stretch(values, lo, hi)


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0.0 and hi <= 1.0:
        return np.rint(values.astype(np.float64) * 255.0).astype(np.uint8)
    if lo >= 0.0 and hi <= 255.0:
        return np.rint(values).astype(np.uint8)
    return _stretch(values, lo, hi)


def _stretch(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Maps lo..hi onto 0..255; a flat image lands at whichever end it is past."""
    if hi == lo:
        return np.full(values.shape, 0 if hi < 0 else 255, dtype=np.uint8)
    return np.rint((values.astype(np.float64) - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def over_white(rgba: np.ndarray) -> np.ndarray:
    """Composites RGBA over white in integers; the result is a new array."""
    alpha = rgba[:, :, 3:4]
    if alpha.min() == 255:
        return np.array(rgba[:, :, :3], order="C")
    a = alpha.astype(np.uint16)
    # rgb * a + 255 * (255 - a) <= 65025, so uint16 cannot overflow; + 127 rounds.
    out = (rgba[:, :, :3].astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def array_to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "u" and size == 1:
        return arr
    if kind == "b":
        return np.where(arr, np.uint8(255), np.uint8(0))
    if kind == "u" and size == 2:
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if kind == "f":
        values = arr.astype(np.float64)
        if not np.isfinite(values).all():
            raise ImageError(name, "bad_array", "float array has NaN or infinite values")
        lo, hi = float(values.min()), float(values.max())
        # A little slack for resampling overshoot; anything more is likely 0..255 data.
        if lo < -1e-3 or hi > 1.0 + 1e-3:
            raise ImageError(name, "bad_array",
                             f"float values must lie in [0, 1], got {lo:g}..{hi:g}; divide 0..255 by 255")
        return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ImageError(name, "bad_array",
                     f"dtype {arr.dtype} is not uint8, uint16, bool or float; convert to uint8 0..255")

"""The seed project's rules, kept as the naive baseline that groundcap must beat.

- detection: the detector's raw output at a 0.25 threshold (ultralytics'
  default), with no class-agnostic duplicate suppression and no cap;
- colors: the two most populated bins of an 8-bins-per-channel RGB histogram
  over the whole box, each named by the RGB-nearest CSS3 color;
- relations: left/right from the box centers' x, "next to" within 50 pixels;
- time of day: night when the mean of the HSV value channel is under 100.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from groundcap.config import DetectConfig
from groundcap.records import Detection

__all__ = ["SEED_DETECT", "seed_colors", "seed_relations", "seed_time_of_day", "rgb_nearest_css3"]

SEED_DETECT = DetectConfig(conf=0.25, agnostic_iou=1.0, max_objects=100)
NEAR_PX = 50


@functools.lru_cache(maxsize=1)
def _css3_rgb() -> tuple[tuple[str, ...], np.ndarray]:
    import webcolors

    names = tuple(webcolors.names("css3"))
    return names, np.array([tuple(webcolors.name_to_rgb(n)) for n in names], dtype=np.float64)


def rgb_nearest_css3(rgb: Sequence[int]) -> tuple[str, tuple[int, int, int]]:
    """The CSS3 name nearest in plain RGB distance (the seed's naming), with its RGB."""
    names, table = _css3_rgb()
    i = int(np.argmin(((table - np.asarray(rgb, dtype=np.float64)) ** 2).sum(axis=1)))
    return names[i], tuple(int(v) for v in table[i])  # type: ignore[return-value]


def seed_colors(image: np.ndarray, det: Detection, top: int = 2) -> list[tuple[str, tuple[int, int, int]]]:
    """Top histogram bins of the box, as (CSS3 name, CSS3 rgb)."""
    x1, y1, x2, y2 = (int(round(v)) for v in det.box)
    crop = image[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)].reshape(-1, 3)
    bins = (crop // 32).astype(np.int64)
    flat = bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2]
    counts = np.bincount(flat, minlength=512)
    out = []
    for b in np.argsort(-counts, kind="stable")[:top]:
        if counts[b] == 0:
            break
        center = (np.array([b // 64, (b // 8) % 8, b % 8]) * 32 + 16).tolist()
        out.append(rgb_nearest_css3(center))
    return out


def seed_relations(detections: Sequence[Detection]) -> set[tuple[str, str, str]]:
    """Left/right/next-to triples with the seed's fixed 50-pixel "near"."""
    out = set()
    for i, a in enumerate(detections):
        for b in detections[i + 1:]:
            dx = b.center[0] - a.center[0]
            if abs(dx) < NEAR_PX:
                out.add((a.instance_id, "next to", b.instance_id))
            elif dx > 0:
                out.add((a.instance_id, "left of", b.instance_id))
            else:
                out.add((b.instance_id, "left of", a.instance_id))
    return out


def seed_time_of_day(image: np.ndarray) -> str:
    value = image.max(axis=2)  # HSV's V channel
    return "night" if float(value.mean()) < 100 else "day"

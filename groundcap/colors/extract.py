"""Dominant colors of detected objects and of the whole image.

Each object's box is sampled on a strided grid (at most ``max_pixels``
pixels), each sample weighted by a separable Gaussian window centred on the
box, so the background that fills a box's corners counts less than the
object in its middle. The weighted samples are binned into a coarse RGB
histogram, and either the heaviest bins are named directly (``histogram``) or
the bins are clustered by weighted k-means in CIELAB (``kmeans``). Clusters
that share a caption word are merged, so an object is never "white and white".

Speed shapes the code: colors get a millisecond or two per image. So every
object of an image is binned, clustered and named in the same numpy calls
(objects are told apart by a group index) rather than one object at a time,
and k-means runs on bin means, a few hundred points whatever the box size;
with 16 levels per channel a bin spans less than the step between two
caption words.

>>> img = np.zeros((40, 40, 3), np.uint8); img[:] = (200, 30, 30)
>>> box = Detection("car", "car_1", (5, 5, 35, 35), 0.9, (40, 40))
>>> [c.basic for c in colors_of(img, [box])[0].colors]
['red']
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from groundcap.colors.naming import basic_names, css3_names, rgb_to_lab, rgb_to_oklch
from groundcap.config import COLOR_METHODS, ColorConfig
from groundcap.records import Detection, NamedColor, ObjectColor

__all__ = ["colors_of", "palette", "METHODS"]

#: Values accepted for ``ColorConfig.color_method``.
METHODS = COLOR_METHODS

# k-means finds this many more clusters than colors are reported, so shading and
# leftover background get clusters of their own instead of being averaged into
# the object's colors.
_EXTRA_CLUSTERS = 2
_KMEANS_BITS = 4      # 16 levels per channel before clustering
_HISTOGRAM_BITS = 3   # 8 levels per channel: the coarse histogram of the seed method
# One color spreads over several histogram bins (shading), so this many of the
# heaviest bins are named and merged, not just the n reported.
_HISTOGRAM_TOP = 16
_MAX_ITER = 8         # real boxes settle in 3-6 Lloyd steps
_TOLERANCE = 1.0      # CIELAB units a center may still move at convergence: barely visible
_FAR = 1e4            # parks unused centers where no point is nearest to them
_OCCLUDED_WEIGHT = 0.05  # weight left to pixels of a smaller object in front


def colors_of(image: np.ndarray, detections: Sequence[Detection],
              config: ColorConfig = ColorConfig()) -> tuple[ObjectColor, ...]:
    """The dominant colors of each detected object.

    Args:
        image: RGB ``uint8`` array of shape ``(H, W, 3)``; ``(H, W)`` gray is accepted.
        detections: Objects whose boxes are read. A box is rescaled when the
            detection's ``image_size`` differs from the image, and clipped to it
            (at least one pixel).
        config: Method, colors per object, center weighting, sampling.

    Returns:
        One :class:`ObjectColor` per detection, in the same order, each with
        up to ``config.n_colors`` colors, most dominant first. Colors under
        ``config.min_fraction`` are dropped, except that the most dominant is
        always kept so every object has a color. Fractions are shares of the
        center-weighted pixels of the whole box.

    Raises:
        ValueError: on an image that is not ``uint8`` RGB, or a bad config.

    The same image, boxes and config give exactly the same result: sampling
    is a fixed grid and the clustering draws no random numbers.
    """
    rgb = _as_rgb(image)
    if not detections:
        return ()
    height, width = rgb.shape[:2]
    boxes = []
    for det in detections:
        sx, sy = width / det.image_size[0], height / det.image_size[1]
        x1, y1, x2, y2 = det.box
        boxes.append((x1 * sx, y1 * sy, x2 * sx, y2 * sy))
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    samples = []
    for i, box in enumerate(boxes):
        # A smaller object overlapping this box usually stands in front of it
        # (people before a bus, a dog on a couch): its pixels are not ours.
        occluders = [b for j, b in enumerate(boxes) if j != i and areas[j] < areas[i] and _overlaps(b, box)]
        samples.append(_sample(rgb, box, config.center_weight, config.max_pixels, occluders))
    named = _dominant(samples, config.n_colors, config.min_fraction, config.color_method, config.chroma_boost)
    return tuple(ObjectColor(det.instance_id, colors, config.color_method)
                 for det, colors in zip(detections, named))


def palette(image: np.ndarray, config: ColorConfig = ColorConfig()) -> tuple[NamedColor, ...]:
    """The dominant colors of the whole image, by k-means whatever ``color_method`` says.

    Pixels are weighted flat: with no object to favour, a palette should say
    what covers the frame, sky and floor included.

    Args:
        image: RGB ``uint8`` array of shape ``(H, W, 3)``; ``(H, W)`` gray is accepted.
        config: ``palette_size``, ``min_fraction`` and ``max_pixels`` are used.

    Returns:
        Up to ``config.palette_size`` colors, most dominant first.
    """
    rgb = _as_rgb(image)
    height, width = rgb.shape[:2]
    sample = _sample(rgb, (0.0, 0.0, float(width), float(height)), 1.0, config.max_pixels)
    return _dominant([sample], config.palette_size, config.min_fraction, "kmeans", config.chroma_boost)[0]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got {arr.shape}")
    return arr


def _axis(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Pixel range ``[start, stop)`` covering ``lo..hi``, clipped to the image, never empty."""
    start = min(max(int(math.floor(lo)), 0), size - 1)
    stop = max(min(int(math.ceil(hi)), size), start + 1)
    return start, stop


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _sample(image: np.ndarray, box: tuple[float, float, float, float], center_weight: float,
            max_pixels: int, occluders: Sequence[tuple[float, float, float, float]] = ()
            ) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of a box on a strided grid and their center weights.

    Pixels inside ``occluders`` keep only :data:`_OCCLUDED_WEIGHT` of their
    weight (not zero, so a fully covered box still gets a color).

    Returns:
        ``(n, 3)`` uint8 pixels and ``(n,)`` positive float weights, 1 <= n <= ``max_pixels``.
    """
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    xa, xb = _axis(x1, x2, width)
    ya, yb = _axis(y1, y2, height)
    step = max(1, math.ceil(math.sqrt((xb - xa) * (yb - ya) / max_pixels)))
    # The area bound can still overshoot on very thin boxes.
    while -(-(xb - xa) // step) * -(-(yb - ya) // step) > max_pixels:
        step += 1
    # Centre the grid so both borders of the box are sampled alike.
    xs = np.arange(xa + ((xb - xa - 1) % step) // 2, xb, step)
    ys = np.arange(ya + ((yb - ya - 1) % step) // 2, yb, step)
    pixels = image[ys[0]:yb:step, xs[0]:xb:step].reshape(-1, 3)
    if center_weight == 1.0 and not occluders:
        return pixels, np.ones(len(pixels))
    # weight = center_weight ** -(u^2 + v^2), u and v running -1..1 across the
    # box: the middle of each border counts 1/center_weight of the center and
    # the corners, where background sits, 1/center_weight^2.
    decay = math.log(center_weight)
    u = np.clip((xs + 0.5 - (x1 + x2) / 2.0) / max((x2 - x1) / 2.0, 0.5), -1.0, 1.0)
    v = np.clip((ys + 0.5 - (y1 + y2) / 2.0) / max((y2 - y1) / 2.0, 0.5), -1.0, 1.0)
    weights = np.outer(np.exp(-decay * v * v), np.exp(-decay * u * u))
    for ox1, oy1, ox2, oy2 in occluders:
        inside_y = (ys + 0.5 >= oy1) & (ys + 0.5 <= oy2)
        inside_x = (xs + 0.5 >= ox1) & (xs + 0.5 <= ox2)
        weights[np.ix_(inside_y, inside_x)] *= _OCCLUDED_WEIGHT
    return pixels, weights.reshape(-1)


def _dominant(samples: list[tuple[np.ndarray, np.ndarray]], n: int, min_fraction: float,
              method: str, chroma_boost: float = 0.0) -> list[tuple[NamedColor, ...]]:
    """Named dominant colors of each sample (one sample per object)."""
    if n <= 0:
        return [() for _ in samples]
    pixels = np.concatenate([p for p, _ in samples])
    weights = np.concatenate([w for _, w in samples])
    owner = np.repeat(np.arange(len(samples)), [len(p) for p, _ in samples])
    totals = np.array([w.sum() for _, w in samples])
    if method == "kmeans":
        means, mass, group = _bin(pixels, weights, owner, len(samples), _KMEANS_BITS)
        colors, mass, group = _kmeans(means, mass, group, len(samples), n + _EXTRA_CLUSTERS)
    else:
        colors, mass, group = _bin(pixels, weights, owner, len(samples), _HISTOGRAM_BITS)
        order = np.lexsort((-mass, group))
        rank = np.arange(len(order)) - np.searchsorted(group[order], group[order])
        top = order[rank < max(_HISTOGRAM_TOP, n + _EXTRA_CLUSTERS)]
        colors, mass, group = colors[top], mass[top], group[top]
    return _merge_by_name(colors, mass, group, totals, n, min_fraction, chroma_boost)


def _bin(pixels: np.ndarray, weights: np.ndarray, owner: np.ndarray, groups: int,
         bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted RGB histogram per group.

    Returns:
        For each occupied bin: its weighted mean color, its weight and its
        group, sorted by group.
    """
    q = (pixels >> (8 - bits)).astype(np.intp)
    size = 1 << (3 * bits)
    index = owner * size + ((q[:, 0] << (2 * bits)) | (q[:, 1] << bits) | q[:, 2])
    mass = np.bincount(index, weights=weights, minlength=groups * size)
    occupied = np.flatnonzero(mass)
    sums = np.stack([np.bincount(index, weights=weights * pixels[:, c], minlength=groups * size)[occupied]
                     for c in range(3)], axis=1)
    return sums / mass[occupied, None], mass[occupied], occupied // size


def _squared(x: np.ndarray) -> np.ndarray:
    """Squared length of each row of an ``(n, 3)`` array (``np.sum`` over 3 is slow)."""
    return x[:, 0] * x[:, 0] + x[:, 1] * x[:, 1] + x[:, 2] * x[:, 2]


def _segment_argmax(score: np.ndarray, group: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Index of the largest score within each group (first on ties); ``group`` is sorted."""
    best = np.maximum.reduceat(score, starts)
    hits = np.flatnonzero(score == best[group])
    return hits[np.searchsorted(group[hits], np.arange(len(starts)))]


def _kmeans(points: np.ndarray, weights: np.ndarray, group: np.ndarray, groups: int,
            k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted k-means of RGB points in CIELAB, run for every group at once.

    Written in numpy rather than with scikit-learn: on the 2-core target CPU
    ``KMeans`` costs about 1.5 ms a call and even ``kmeans_plusplus`` about
    0.6 ms of input checking, per object, against a budget of 1-2 ms for all
    the objects of an image.
    Seeding is k-means++'s rule made deterministic: start at the heaviest
    point, then take the point with the largest weight x squared distance to
    the centers chosen so far.

    Args:
        points: ``(m, 3)`` RGB colors, sorted by ``group``.
        weights: ``(m,)`` positive weights.
        group: ``(m,)`` sorted group of each point; every group in ``range(groups)`` occurs.
        groups: Number of groups.
        k: Clusters per group; a group with fewer distinct points gets fewer.

    Returns:
        Non-empty clusters as RGB means of their members, their weights and
        their groups, sorted by group.
    """
    lab = rgb_to_lab(points)
    m = len(lab)
    starts = np.searchsorted(group, np.arange(groups))
    centers = np.full((groups, k, 3), _FAR)
    pick = _segment_argmax(weights, group, starts)
    centers[:, 0] = lab[pick]
    d2 = _squared((lab - lab[pick][group]))
    for j in range(1, k):
        score = weights * d2
        pick = _segment_argmax(score, group, starts)
        # A group whose points are all chosen already keeps its spare centers parked.
        fresh = score[pick] > 0
        centers[fresh, j] = lab[pick[fresh]]
        d2 = np.minimum(d2, _squared(lab - centers[group, j]))

    rows = np.arange(m)
    channel = np.arange(3)
    weighted = (weights[:, None] * lab).reshape(-1)
    flat = centers.reshape(-1, 3)
    labels = np.zeros(m, dtype=np.intp)
    # A group stops once its centers settle, so an object's colors do not
    # depend on which other objects share the image.
    moving = np.ones(groups, dtype=bool)
    for _ in range(_MAX_ITER):
        # Distances to every group's centers by one matrix product, less |x|^2
        # (the same for all of a point's centers), then each point's own group.
        dist = (_squared(flat) - 2.0 * (lab @ flat.T)).reshape(m, groups, k)[rows, group]
        labels = np.where(moving[group], group * k + np.argmin(dist, axis=1), labels)
        mass = np.bincount(labels, weights=weights, minlength=groups * k)
        sums = np.bincount((labels[:, None] * 3 + channel).reshape(-1), weights=weighted,
                           minlength=3 * groups * k).reshape(groups * k, 3)
        # An emptied cluster keeps its old center; it is dropped below.
        update = (mass > 0) & np.repeat(moving, k)
        new = sums[update] / mass[update, None]
        shift = np.zeros(groups * k)
        shift[update] = np.max(np.abs(new - flat[update]), axis=1)
        flat[update] = new
        moving &= shift.reshape(groups, k).max(axis=1) >= _TOLERANCE
        if not moving.any():
            break
    rgb = np.bincount((labels[:, None] * 3 + channel).reshape(-1),
                      weights=(weights[:, None] * points).reshape(-1),
                      minlength=3 * groups * k).reshape(groups * k, 3)
    keep = np.flatnonzero(mass > 0)
    return rgb[keep] / mass[keep, None], mass[keep], keep // k


def _merge_by_name(colors: np.ndarray, mass: np.ndarray, group: np.ndarray, totals: np.ndarray,
                   n: int, min_fraction: float, chroma_boost: float = 0.0) -> list[tuple[NamedColor, ...]]:
    """Sums each group's clusters that share a caption word, then ranks and names them.

    The heaviest member, not the mean, stands for a merged color, so the
    color reported always carries the basic name reported. Colors rank by
    their share times ``1 + chroma_boost * chroma / 10`` (OKLCh chroma x 100),
    so a vivid color can outrank a larger dull one (windows, shadows).
    """
    order = np.lexsort((-mass, group))
    rgbs = np.clip(np.rint(colors[order]), 0, 255).astype(int).tolist()
    merged: list[dict[str, list]] = [{} for _ in totals]
    for rgb, name, m, g in zip(rgbs, basic_names(colors[order]), mass[order].tolist(),
                               group[order].tolist()):
        entry = merged[g].setdefault(name, [rgb, 0.0])
        entry[1] += m
    chosen = []
    for g, by_name in enumerate(merged):
        # sorted() is stable: equal weights keep heaviest-member order.
        items = [(name, rgb, m / totals[g]) for name, (rgb, m) in by_name.items()]
        if chroma_boost and items:
            chroma = rgb_to_oklch(np.array([rgb for _, rgb, _ in items], dtype=np.uint8))[:, 1]
            boost = {item[0]: 1.0 + chroma_boost * c / 10.0 for item, c in zip(items, chroma.tolist())}
        else:
            boost = {item[0]: 1.0 for item in items}
        ranked = sorted(items, key=lambda item: -item[2] * boost[item[0]])
        kept = [item for item in ranked if item[2] >= min_fraction] or ranked[:1]
        chosen.append(kept[:n])
    flat = [item for kept in chosen for item in kept]
    css3 = iter(css3_names([rgb for _, rgb, _ in flat])) if flat else iter(())
    return [tuple(NamedColor(tuple(rgb), next(css3), name, min(1.0, round(float(share), 4)))
                  for name, rgb, share in kept) for kept in chosen]

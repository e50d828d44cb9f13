"""Spatial relations between detected objects, read from their boxes alone.

Every pair of objects gets at most one relation: the most informative
predicate that holds for it, tried in this fixed priority order.

==========  ==============  ================================================
priority    predicate       why it ranks there
==========  ==============  ================================================
1           inside          containment explains every other cue (a cup in
                            a microwave also "overlaps" it and is "next to"
                            its edges), so nothing else should be said.
2           on top of       support is what captions most want to say ("a
                            person on a horse"); it needs contact, so it is
                            rarer and more specific than mere overlap.
3           in front of     a depth order among overlapping boxes says more
                            than the overlap itself.
4           overlapping     contact without a readable support or depth cue.
5           next to         closeness without contact.
6           far from        only said when nothing closer holds.
7           left of /       some axis always separates two boxes, so the
            right of /      directions carry the least information and are
            above / below   the fallback.
==========  ==============  ================================================

Definitions (``s`` subject, ``o`` object; constants below):

- inside: at least 90% of s's box lies in o's box, and s is the smaller box.
- on top of: s's top edge is above o's, its center is above o's center, its
  bottom edge lies between 10% of s's height above o's top edge and 50% of
  o's height below it, and the boxes overlap horizontally by half the
  narrower width.
- in front of: s's box is larger, its bottom edge is lower by 10% of o's
  height, and 10% to 50% of o's box lies within s's.
- overlapping: IoU at least 0.3, or half of the smaller box covered.
- next to: a horizontal gap under ``near`` x diagonal, a shared vertical band
  of half the shorter height, and horizontal overlap under half the narrower
  width (side by side, not stacked).
- far from: centers more than ``far`` x diagonal apart.
- directions: along the axis on which the centers differ most.

Every threshold is a share of the image diagonal (``SpatialConfig.near`` and
``.far``) or of the boxes' own sizes; none is in pixels, so the same layout
gives the same relations at any resolution.

Orientation. ``inside``, ``on top of`` and ``in front of`` are asymmetric and
keep the subject the geometry names (the contained, the supported, the nearer
object). For the symmetric predicates and the four directions the smaller box
is the subject and the larger one the reference, as people describe scenes
("the cup is to the right of the laptop", not "the laptop is to the left of
the cup"); equal areas fall back to instance-id order. Because each unordered
pair yields one relation, "A left of B" can never appear beside "B right of A".

Salience, used to keep the ``max_relations`` most worth saying::

    sqrt(area_fraction_s * area_fraction_o) * score_s * score_o
        * 1.15 per person or animal in the pair * predicate weight

The geometric mean of the area fractions ranks pairs of large, sure objects
first without letting one huge box (a dining table) pair up with everything;
people and animals are what captions are about; the predicate weight prefers
contact relations over bare directions. Salience is rounded to 6 places so
that near-equal floats from rescaled boxes do not reorder relations; ties go
by subject then object instance id.

>>> from groundcap.records import Detection
>>> horse = Detection("horse", "horse_1", (300, 400, 700, 700), 0.9, (1000, 800))
>>> rider = Detection("person", "person_1", (420, 200, 560, 520), 0.9, (1000, 800))
>>> [r.triple for r in relations_between([horse, rider])]
[('person_1', 'on top of', 'horse_1')]
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np

from groundcap.config import SpatialConfig
from groundcap.records import PREDICATES, Detection, Relation

__all__ = ["relations_between", "PRIORITY", "ANIMATE"]

#: Labels whose pairs weigh more in salience: captions are about them.
ANIMATE = frozenset(
    {"person", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}
)
_ANIMATE_WEIGHT = 1.15

# "mostly within": the share of the subject's box inside the object's box.
INSIDE_SHARE = 0.9
# On top of: the subject's bottom edge may float above the object's top edge by
# this share of the subject's height (detector slack) ...
ON_TOP_GAP = 0.1
# ... or sink below it by this share of the object's height (a rider's legs
# hang down a horse's flank, a cat sinks into a cushion).
ON_TOP_SINK = 0.5
# On top of: horizontal overlap as a share of the narrower box's width.
ON_TOP_X_OVERLAP = 0.5
# In front of: how much lower the subject's bottom edge must be, as a share of
# the object's height, so that a one-pixel difference is not read as depth.
FRONT_MARGIN = 0.1
# In front of: the boxes must overlap by this share of the object's (smaller) box ...
FRONT_OVERLAP = 0.1
# ... but less than this share of the object may lie within the subject: a small
# box mostly inside a big one is more often on it, held by it or in it (a dog on
# a bed, a cup in a hand) than behind it.
FRONT_MAX_WITHIN = 0.5
FRONT_SMALL_WITHIN = 0.3  # share of a smaller subject that must lie over the object
# Overlapping: either measure suffices, so a small box half over a big one counts.
OVERLAP_IOU = 0.3
OVERLAP_SHARE = 0.5
# Next to: the boxes share this much of the shorter box's vertical extent ...
NEXT_BAND = 0.5
# ... and are not stacked: horizontal overlap under this share of the narrower width.
NEXT_X_OVERLAP = 0.5

_WEIGHT = {
    "inside": 1.0, "on top of": 1.0, "in front of": 0.9, "overlapping": 0.8, "next to": 0.8,
    "far from": 0.5, "left of": 0.6, "right of": 0.6, "above": 0.6, "below": 0.6,
}
_PRED_WEIGHT = np.array([_WEIGHT[p] for p in PREDICATES])
_CODE = {p: i for i, p in enumerate(PREDICATES)}


class _Boxes:
    """Box measures as arrays, and pairwise overlaps as matrices, computed once per call."""

    def __init__(self, boxes: np.ndarray, image_size: tuple[int, int]) -> None:
        self.x1, self.y1, self.x2, self.y2 = boxes.T
        self.w, self.h = self.x2 - self.x1, self.y2 - self.y1
        self.area = self.w * self.h
        self.cx, self.cy = (self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0
        self.diag = math.hypot(*image_size)
        # Signed overlap along each axis; negative is the gap between the boxes.
        self.x_overlap = np.minimum.outer(self.x2, self.x2) - np.maximum.outer(self.x1, self.x1)
        self.y_overlap = np.minimum.outer(self.y2, self.y2) - np.maximum.outer(self.y1, self.y1)
        self.inter = np.maximum(self.x_overlap, 0.0) * np.maximum(self.y_overlap, 0.0)


# Asymmetric tests: does subject ``s`` stand in the relation to object ``o``?
def _inside(g: _Boxes, s: np.ndarray, o: np.ndarray, cfg: SpatialConfig) -> np.ndarray:
    area = g.area
    return (g.inter[s, o] >= INSIDE_SHARE * area[s]) & (area[s] < area[o])


def _on_top_of(g: _Boxes, s: np.ndarray, o: np.ndarray, cfg: SpatialConfig) -> np.ndarray:
    h, w, cy = g.h, g.w, g.cy
    return (
        (g.y1[s] < g.y1[o])  # the subject rises above the object's top edge
        & (cy[s] < cy[o])  # and is mostly above it
        & (g.y2[s] >= g.y1[o] - ON_TOP_GAP * h[s])
        & (g.y2[s] <= g.y1[o] + ON_TOP_SINK * h[o])
        & (g.x_overlap[s, o] >= ON_TOP_X_OVERLAP * np.minimum(w[s], w[o]))
    )


def _in_front_of(g: _Boxes, s: np.ndarray, o: np.ndarray, cfg: SpatialConfig) -> np.ndarray:
    # Nearer things stand lower in the frame (their base is closer to the
    # camera on the ground plane): the usual depth cue. A larger subject must
    # cover part of the object; a smaller one (a person before a bus) must
    # stand mostly over it, so a cup held up by a person doesn't qualify.
    area = g.area
    inter = g.inter[s, o]
    lower = g.y2[s] >= g.y2[o] + FRONT_MARGIN * g.h[o]
    larger = (area[s] > area[o]) & (inter >= FRONT_OVERLAP * area[o]) & (inter < FRONT_MAX_WITHIN * area[o])
    smaller = (area[s] < area[o]) & (inter >= FRONT_SMALL_WITHIN * area[s])
    return lower & (larger | smaller)


# Symmetric tests on the pair (a, b).
def _overlapping(g: _Boxes, a: np.ndarray, b: np.ndarray, cfg: SpatialConfig) -> np.ndarray:
    area = g.area
    inter = g.inter[a, b]
    union = area[a] + area[b] - inter
    return (inter >= OVERLAP_IOU * union) | (inter >= OVERLAP_SHARE * np.minimum(area[a], area[b]))


def _next_to(g: _Boxes, a: np.ndarray, b: np.ndarray, cfg: SpatialConfig) -> np.ndarray:
    h, w = g.h, g.w
    x_overlap = g.x_overlap[a, b]
    return (
        (-x_overlap <= cfg.near * g.diag)
        & (g.y_overlap[a, b] >= NEXT_BAND * np.minimum(h[a], h[b]))
        & (x_overlap <= NEXT_X_OVERLAP * np.minimum(w[a], w[b]))
    )


def _far_from(g: _Boxes, a: np.ndarray, b: np.ndarray, cfg: SpatialConfig) -> np.ndarray:
    cx, cy = g.cx, g.cy
    return np.hypot(cx[a] - cx[b], cy[a] - cy[b]) > cfg.far * g.diag


_Test = Callable[[_Boxes, np.ndarray, np.ndarray, SpatialConfig], np.ndarray]
_ASYMMETRIC: tuple[tuple[str, _Test], ...] = (
    ("inside", _inside), ("on top of", _on_top_of), ("in front of", _in_front_of),
)
_SYMMETRIC: tuple[tuple[str, _Test], ...] = (
    ("overlapping", _overlapping), ("next to", _next_to), ("far from", _far_from),
)
#: Predicates in the order they are tried, most specific first.
PRIORITY = tuple(name for name, _ in _ASYMMETRIC + _SYMMETRIC) + ("left of", "right of", "above", "below")


def _id_key(instance_id: str) -> tuple[str, int]:
    """Sorts ``dog_2`` before ``dog_10``."""
    label, _, number = instance_id.rpartition("_")
    return (label, int(number))


def _eligible(detections: Iterable[Detection], config: SpatialConfig) -> list[Detection]:
    """Detections large enough to take part, in instance-id order so input order never matters."""
    detections = list(detections)
    ids = [d.instance_id for d in detections]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"instance ids must be unique, got duplicates {dupes}")
    sizes = {d.image_size for d in detections}
    if len(sizes) > 1:
        raise ValueError(f"detections come from images of different sizes {sorted(sizes)}")
    kept = [d for d in detections if d.area_fraction >= config.min_area]
    return sorted(kept, key=lambda d: _id_key(d.instance_id))


def _classify(
    g: _Boxes, i: np.ndarray, j: np.ndarray, config: SpatialConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subject, predicate code and object for the pairs ``(i[k], j[k])`` that have a relation."""
    # Figure and ground: the smaller box is located relative to the larger one.
    j_smaller = g.area[j] < g.area[i]
    figure, ground = np.where(j_smaller, j, i), np.where(j_smaller, i, j)
    dx = g.cx[ground] - g.cx[figure]
    dy = g.cy[ground] - g.cy[figure]
    direction = np.where(
        np.abs(dx) >= np.abs(dy),
        np.where(dx > 0, _CODE["left of"], _CODE["right of"]),
        np.where(dy > 0, _CODE["above"], _CODE["below"]),
    )

    # Start from the direction, the lowest priority, and let each predicate that
    # holds overwrite it, from the lowest priority up, so the highest one wins.
    # Concentric boxes that pass no test have no direction: code -1, dropped below.
    code = np.where((dx != 0) | (dy != 0), direction, -1)
    subject, obj = figure, ground
    candidates = [
        (test(g, s, o, config), s, o, _CODE[name])
        for name, test in _ASYMMETRIC
        for s, o in ((i, j), (j, i))
    ]
    candidates += [(test(g, i, j, config), figure, ground, _CODE[name]) for name, test in _SYMMETRIC]
    for holds, s, o, c in reversed(candidates):
        subject, obj, code = np.where(holds, s, subject), np.where(holds, o, obj), np.where(holds, c, code)
    found = code >= 0
    return subject[found], code[found], obj[found]


def relations_between(
    detections: Iterable[Detection], config: SpatialConfig = SpatialConfig()
) -> tuple[Relation, ...]:
    """The most salient spatial relations among detected objects.

    Args:
        detections: Objects from one image (their ``image_size`` must agree).
            Order does not matter.
        config: ``near``/``far`` thresholds, ``min_area`` and ``max_relations``.

    Returns:
        At most ``config.max_relations`` relations, at most one per pair of
        objects, most salient first. Objects smaller than ``config.min_area``
        of the image take part in none; fewer than two objects give ``()``.

    Raises:
        ValueError: If two detections share an instance id or the detections
            come from images of different sizes.

    >>> from groundcap.records import Detection
    >>> cup = Detection("cup", "cup_1", (100, 400, 160, 480), 0.8, (1000, 800))
    >>> laptop = Detection("laptop", "laptop_1", (200, 300, 500, 500), 0.9, (1000, 800))
    >>> relations_between([laptop, cup])[0].triple
    ('cup_1', 'next to', 'laptop_1')
    """
    dets = _eligible(detections, config)
    if len(dets) < 2 or config.max_relations <= 0:
        return ()
    g = _Boxes(np.array([d.box for d in dets], dtype=float), dets[0].image_size)

    i, j = np.triu_indices(len(dets), k=1)
    subject, code, obj = _classify(g, i, j, config)

    width, height = dets[0].image_size
    area_fraction = g.area / float(width * height)
    score = np.array([d.score for d in dets])
    animate = np.array([_ANIMATE_WEIGHT if d.label in ANIMATE else 1.0 for d in dets])
    salience = (
        np.sqrt(area_fraction[subject] * area_fraction[obj])
        * score[subject] * score[obj] * animate[subject] * animate[obj] * _PRED_WEIGHT[code]
    ).round(6)

    # Indices follow instance-id order, so they break salience ties deterministically.
    order = np.lexsort((obj, subject, -salience))[: config.max_relations]
    return tuple(
        Relation(dets[subject[k]].instance_id, PREDICATES[code[k]], dets[obj[k]].instance_id,
                 float(salience[k]))
        for k in order
    )

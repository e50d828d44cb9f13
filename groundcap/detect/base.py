"""The detector interface and the post-processing every backend shares.

A backend only turns an RGB array into raw boxes, scores and labels
(:class:`RawBoxes`). Everything after that — clipping, score and class filters,
per-class and class-agnostic suppression, the ``max_objects`` cap and the
instance numbering — happens once, here, in :func:`to_detections`, so two backends
can never disagree on what ``conf`` or ``dog_2`` means.
"""

from __future__ import annotations

import abc
from typing import NamedTuple, Sequence

import numpy as np

from groundcap.config import DetectConfig
from groundcap.records import Detection

__all__ = ["RawBoxes", "Detector", "to_detections", "iou_matrix", "nms"]


class RawBoxes(NamedTuple):
    """A backend's output before filtering.

    Attributes:
        boxes: ``(N, 4)`` float pixel xyxy, possibly spilling outside the image.
        scores: ``(N,)`` confidences in [0, 1].
        labels: ``N`` label strings; ``None`` for ids with no COCO name.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: tuple[str | None, ...]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of xyxy boxes, shape ``(len(a), len(b))``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, groups: Sequence[str] | None = None) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.

    Args:
        boxes: ``(N, 4)`` xyxy.
        scores: ``(N,)``.
        iou: A box is dropped when its IoU with a kept box exceeds this.
        groups: When given, only boxes of the same group suppress each other
            (per-class NMS); ``None`` suppresses across classes.
    """
    # Ties are broken by index so the result never depends on sort stability.
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    if len(order) == 0 or iou >= 1.0:
        return order
    overlaps = iou_matrix(boxes, boxes)
    same = np.ones_like(overlaps, dtype=bool) if groups is None else (
        np.asarray(groups, dtype=object)[:, None] == np.asarray(groups, dtype=object)[None, :])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= (overlaps[i] > iou) & same[i]
    return np.asarray(keep, dtype=np.int64)


def to_detections(raw: RawBoxes, image_size: tuple[int, int], config: DetectConfig, source: str) -> tuple[Detection, ...]:
    """Turns a backend's raw boxes into the final, numbered :class:`Detection` records.

    Boxes are clipped to the image; boxes under one pixel, unnamed classes,
    scores under ``config.conf`` and labels outside ``config.classes`` are
    dropped; duplicates are suppressed per class (``config.iou``) and across
    classes (``config.agnostic_iou``); the best ``config.max_objects`` remain.
    Instances of a label are numbered left to right (then top to bottom).

    Returns:
        Detections sorted by score, highest first.
    """
    w, h = int(image_size[0]), int(image_size[1])
    boxes = np.asarray(raw.boxes, dtype=np.float64).reshape(-1, 4).copy()
    scores = np.clip(np.nan_to_num(np.asarray(raw.scores, dtype=np.float64).reshape(-1)), 0.0, 1.0)
    if len(boxes) != len(scores) or len(scores) != len(raw.labels):
        raise ValueError(f"backend returned {len(boxes)} boxes, {len(scores)} scores, {len(raw.labels)} labels")
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
    wanted = set(config.classes) if config.classes else None
    ok = np.array([
        lab is not None and (wanted is None or lab in wanted) and s >= config.conf and bw >= 1 and bh >= 1
        for lab, s, bw, bh in zip(raw.labels, scores, boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    ], dtype=bool)
    idx = np.flatnonzero(ok)
    boxes, scores = boxes[idx], scores[idx]
    labels = [raw.labels[i] for i in idx]

    keep = nms(boxes, scores, config.iou, groups=labels)
    keep = keep[nms(boxes[keep], scores[keep], config.agnostic_iou)]
    keep = keep[: max(0, config.max_objects)]

    by_label: dict[str, list[int]] = {}
    for i in keep:
        by_label.setdefault(labels[i], []).append(int(i))
    instance: dict[int, str] = {}
    for label, members in by_label.items():
        members.sort(key=lambda i: ((boxes[i, 0] + boxes[i, 2]) / 2, (boxes[i, 1] + boxes[i, 3]) / 2, -scores[i]))
        for n, i in enumerate(members, start=1):
            instance[i] = f"{label}_{n}"
    return tuple(
        Detection(labels[i], instance[i], tuple(boxes[i]), float(scores[i]), (w, h), source)
        for i in keep
    )


class Detector(abc.ABC):
    """A swappable object detector.

    Subclasses load their model once in ``__init__`` and implement
    :meth:`predict_raw`; :meth:`detect` adds the shared post-processing.

    Args:
        config: Filters and model choice.
    """

    #: Registry name, also written into ``Facts.models``.
    name: str = ""

    def __init__(self, config: DetectConfig | None = None) -> None:
        self.config = config or DetectConfig()

    @property
    def model_id(self) -> str:
        """What ran, precisely enough to reproduce it (name plus weights)."""
        return self.name

    @abc.abstractmethod
    def predict_raw(self, image: np.ndarray) -> RawBoxes:
        """Runs the model on one RGB uint8 ``HxWx3`` array."""

    def predict_raw_batch(self, images: Sequence[np.ndarray]) -> list[RawBoxes]:
        """Runs the model on several images; backends that batch override this."""
        return [self.predict_raw(im) for im in images]

    def detect(self, image: np.ndarray) -> tuple[Detection, ...]:
        """Detects objects in one RGB uint8 ``HxWx3`` array."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[tuple[Detection, ...]]:
        """Detects objects in several RGB arrays, one tuple of detections each."""
        for im in images:
            if not (isinstance(im, np.ndarray) and im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8):
                raise TypeError("detectors take RGB uint8 HxWx3 arrays; decode with groundcap.data.load_image")
        raws = self.predict_raw_batch(images)
        return [to_detections(raw, (im.shape[1], im.shape[0]), self.config, self.name) for raw, im in zip(raws, images)]

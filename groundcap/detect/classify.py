"""Whole-image context labels from the shipped EfficientNet-Lite3 (ImageNet).

COCO's 80 classes name no places. ImageNet's 1000 do (seashore, alp, cliff,
lakeside) and also name finer things (dog breeds, swimming trunks, mountain
bike). The labels feed the scene cues and, when confident, the facts.
"""

from __future__ import annotations

import functools

import numpy as np

from groundcap.assets import shipped_model
from groundcap.detect.litert import TfliteModel
from groundcap.records import ContextLabel

__all__ = ["ContextClassifier", "imagenet_labels"]

MODEL = "efficientnet_lite3.tflite"
LABELS = "efficientnet_labels.txt"
FEATURES = "efficientnet-lite3/model/head/Squeeze1"


@functools.lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names, each shortened to its first synonym."""
    lines = shipped_model(LABELS).read_text(encoding="utf-8").splitlines()
    return tuple(line.split(",")[0].strip() for line in lines if line.strip())


class ContextClassifier:
    """EfficientNet-Lite3 (uint8, 280×280) as a source of context labels.

    Args:
        top_k: Labels returned per image.
        min_score: Labels under this softmax score are dropped.
        keep_features: Also make :meth:`features` available (costs memory).

    Example:
        >>> clf = ContextClassifier()  # doctest: +SKIP
        >>> clf.classify(rgb)[0]  # doctest: +SKIP
        ContextLabel(label='minibus', score=0.81, source='efficientnet-lite3')
    """

    name = "efficientnet-lite3"

    def __init__(self, top_k: int = 5, min_score: float = 0.0, *, keep_features: bool = False) -> None:
        self.top_k = top_k
        self.min_score = min_score
        self._model = TfliteModel(MODEL, keep_tensors=keep_features)
        self._labels = imagenet_labels()

    def _run(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = self._model.input_shape
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return self._model.run(x[None])[0][0]

    def classify(self, image: np.ndarray) -> tuple[ContextLabel, ...]:
        """Top labels of one RGB uint8 array, best first."""
        return self.top_labels(self._run(image))

    def top_labels(self, probs: np.ndarray) -> tuple[ContextLabel, ...]:
        order = np.lexsort((np.arange(len(probs)), -probs))[: self.top_k]
        return tuple(
            ContextLabel(self._labels[i], round(float(min(max(probs[i], 0.0), 1.0)), 4), self.name)
            for i in order if probs[i] >= self.min_score and probs[i] > 0
        )

    def features(self, image: np.ndarray) -> np.ndarray:
        """The 1280-d pooled image features (needs ``keep_features=True``)."""
        self._run(image)
        return self._model.tensor(FEATURES).reshape(-1)

"""From an image to :class:`~groundcap.records.Facts`: detect, then colors, relations and scene.

>>> from groundcap import FactsExtractor
>>> from groundcap.describe import describe_facts
>>> extractor = FactsExtractor()          # doctest: +SKIP
>>> facts = extractor.extract("bus.jpg")  # doctest: +SKIP
>>> print(describe_facts(facts))          # doctest: +SKIP
"""

from __future__ import annotations

import functools
import time
from typing import Any, Sequence

import numpy as np

from groundcap.colors import colors_of, palette
from groundcap.config import FactsConfig
from groundcap.data import load_image
from groundcap.detect import create_detector
from groundcap.records import Detection, Facts, ImageInfo, OcrResult
from groundcap.spatial import relations_between
from groundcap.spatial.scene import scene_of
from groundcap.timing import StageTimer

__all__ = ["FactsExtractor", "extract_facts"]


class FactsExtractor:
    """Loads the fact models once and turns images into :class:`Facts`.

    Args:
        config: Every stage's settings; defaults run fully offline on the
            embedded SSD-MobileNet-v2 and EfficientNet-Lite3.

    Attributes:
        timer: Seconds spent per stage over this extractor's life.
    """

    def __init__(self, config: FactsConfig | None = None) -> None:
        self.config = config or FactsConfig()
        sc = self.config.scene
        self.detector = create_detector(self.config.detect)
        self.classifier = None
        if sc.classifier != "none":
            from groundcap.detect.classify import ContextClassifier

            self.classifier = ContextClassifier(top_k=max(sc.context_top_k, 5))
        self.pose = None
        if sc.pose:
            from groundcap.detect.pose import PoseEstimator

            self.pose = PoseEstimator()
        from groundcap.detect.ocr import tesseract_available

        self.ocr = sc.ocr == "on" or (sc.ocr == "auto" and tesseract_available())
        self.timer = StageTimer()

    @property
    def models(self) -> tuple[tuple[str, str], ...]:
        """Which models produced the facts, for provenance."""
        out = [("detector", self.detector.model_id)]
        if self.classifier is not None:
            out.append(("classifier", self.classifier.name))
        if self.pose is not None:
            out.append(("pose", self.pose.name))
        return tuple(out)

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per stage over this extractor's life (the timer's totals)."""
        return self.timer.totals

    def _tick(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.timer.add(stage, now - start)
        return now

    def extract(self, source: Any) -> Facts:
        """Facts for one image: a path, a PIL image or an RGB numpy array.

        Raises:
            groundcap.ImageError: when the input is not a usable image.
        """
        t = time.perf_counter()
        array, info = load_image(source)
        self._tick("decode", t)
        return self.from_arrays([array], [info])[0]

    def from_arrays(self, arrays: Sequence[np.ndarray], infos: Sequence[ImageInfo]) -> list[Facts]:
        """Facts for already-decoded RGB arrays (the batch engine's entry point)."""
        t = time.perf_counter()
        all_dets = self.detector.detect_batch(list(arrays))
        t = self._tick("detect", t)
        return [self.facts_for(a, i, d) for a, i, d in zip(arrays, infos, all_dets)]

    def facts_for(self, array: np.ndarray, info: ImageInfo, detections: tuple[Detection, ...]) -> Facts:
        """Everything after detection, for detections made elsewhere (the eval reuses one SSD pass)."""
        sc = self.config.scene
        t = time.perf_counter()
        labels = self.classifier.classify(array) if self.classifier is not None else ()
        t = self._tick("classify", t)
        postures = self.pose.postures(array, detections) if self.pose is not None else ()
        t = self._tick("pose", t)
        colors = colors_of(array, detections, self.config.colors)
        pal = palette(array, self.config.colors) if not detections else ()
        t = self._tick("colors", t)
        relations = relations_between(detections, self.config.spatial)
        scene = scene_of(array, detections, labels)
        t = self._tick("spatial", t)
        ocr = OcrResult("skipped", (), "disabled (--ocr auto to enable)" if sc.ocr == "off" else "tesseract is not installed")
        if self.ocr:
            from groundcap.detect.ocr import read_text

            ocr = read_text(array)
        self._tick("ocr", t)
        context = tuple(c for c in labels[: sc.context_top_k] if c.score >= sc.context_min_score)
        return Facts(info, detections, colors, pal, relations, scene, context, postures, ocr, self.models)


@functools.lru_cache(maxsize=4)
def _cached_extractor(config: FactsConfig) -> FactsExtractor:
    return FactsExtractor(config)


def extract_facts(source: Any, config: FactsConfig | None = None) -> Facts:
    """Facts for one image, reusing the models across calls with the same config.

    >>> from groundcap import extract_facts
    >>> extract_facts("bus.jpg").counts()  # doctest: +SKIP
    {'person': 3, 'bus': 1}
    """
    return _cached_extractor(config or FactsConfig()).extract(source)

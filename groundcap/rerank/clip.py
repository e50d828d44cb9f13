"""CLIPScore: how well each candidate caption matches the pixels, by an image-text model.

``CLIPScore(c, v) = w * max(cos(c, v), 0)`` with ``w = 2.5`` (Hessel et al.
2021, "CLIPScore: A Reference-free Evaluation Metric for Image Captioning").
The image is embedded once per image and kept in a small LRU cache keyed by
the image's sha256, so a batch run that scores an image again (or the
pipeline's retries) skips the image tower; all candidates of an image go
through the text tower in one batch.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np

from groundcap.records import Candidate, Facts
from groundcap.rerank.base import Scorer
from groundcap.rerank.models import ImageTextModel, create_image_text_model

__all__ = ["ClipScorer", "CLIPSCORE_WEIGHT", "clipscore"]

#: The ``w`` of CLIPScore, which stretches cosines of about 0..0.4 towards 0..1.
CLIPSCORE_WEIGHT = 2.5


def clipscore(cos: np.ndarray | float, weight: float = CLIPSCORE_WEIGHT) -> np.ndarray:
    """``weight * max(cos, 0)``.

    >>> clipscore(np.array([0.3, -0.1])).round(3).tolist()
    [0.75, 0.0]
    """
    return weight * np.maximum(np.asarray(cos, dtype=np.float64), 0.0)


class ClipScorer(Scorer):
    """Scores candidates by CLIPScore under an image-text model, loaded on first use.

    Args:
        model: An image-text model name (``"embedded"``, ``"ViT-B-32"``,
            ``"open_clip:ViT-B-32"``), or a ready :class:`ImageTextModel`.
        pretrained: open_clip weights: a pretrained tag or a file.
        checkpoint: A ``train-clip`` output folder.
        device: ``cpu``, ``cuda`` or ``auto``.
        cache_size: Image embeddings kept (least recently used dropped first).

    Example:
        >>> scorer = ClipScorer()  # doctest: +SKIP
        >>> scorer.score(rgb, facts, candidates)  # doctest: +SKIP
        [0.71, 0.52, None]
    """

    name = "clip"

    def __init__(self, model: str | ImageTextModel = "embedded", pretrained: str | None = None,
                 checkpoint: str | None = None, device: str = "auto", cache_size: int = 256) -> None:
        self._spec = (model, pretrained or None, checkpoint or None, device)
        self._model: ImageTextModel | None = model if isinstance(model, ImageTextModel) else None
        self.cache_size = cache_size
        self._images: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def model(self) -> ImageTextModel:
        """The image-text model, loaded on first use."""
        if self._model is None:
            name, pretrained, checkpoint, device = self._spec
            self._model = create_image_text_model(str(name), pretrained=pretrained, checkpoint=checkpoint,
                                                  device=device)
        return self._model

    def image_embedding(self, image: np.ndarray, key: str | None = None) -> np.ndarray:
        """The image's embedding, from the cache when ``key`` (its sha256) was seen."""
        if key is not None and key in self._images:
            self._images.move_to_end(key)
            self.cache_hits += 1
            return self._images[key]
        self.cache_misses += 1
        emb = self.model.embed_images([image])[0]
        if key is not None and self.cache_size > 0:
            self._images[key] = emb
            while len(self._images) > self.cache_size:
                self._images.popitem(last=False)
        return emb

    def score(self, image: np.ndarray | None, facts: Facts, candidates: Sequence[Candidate]) -> list[float | None]:
        scores: list[float | None] = [None] * len(candidates)
        todo = [i for i, c in enumerate(candidates) if c.usable and c.text.strip()]
        if image is None or not todo:
            return scores
        image_emb = self.image_embedding(image, facts.image.sha256 if facts is not None else None)
        text_emb = self.model.embed_texts([candidates[i].text for i in todo])
        for i, value in zip(todo, clipscore(text_emb @ image_emb)):
            scores[i] = float(value)
        return scores

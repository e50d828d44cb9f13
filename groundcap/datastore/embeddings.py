"""Image embeddings a caption datastore can be built with: a registry and :func:`create_embedding`.

Every backend starts from EfficientNet-Lite3's 1280-d pooled features
(:class:`~groundcap.rerank.lit.ImageFeatures`), so the per-image feature cache
under ``$GROUNDCAP_CACHE/features`` serves them all:

- ``embedded``: the shipped image-text model's image embedding (its trained
  image head over those features, 256-d), see :mod:`groundcap.rerank.lit`;
- ``efficientnet-lite3``: the raw features themselves (1280-d).

Query photos must be prepared as the datastore's photos were
(:func:`prepare_image`): Flickr8k-224's photos were squashed to 224x224, so a
full-resolution query is squashed the same way before it is embedded.

>>> list_embeddings()
['efficientnet-lite3', 'embedded']
>>> prepare_image(np.zeros((300, 500, 3), np.uint8), "squash-224").shape
(224, 224, 3)
"""

from __future__ import annotations

import abc
from typing import Callable

import numpy as np

from groundcap.errors import ConfigError
from groundcap.registry import Registry

__all__ = ["ImageEmbedding", "PREPROCESSING", "create_embedding", "list_embeddings", "register_embedding",
           "prepare_image"]

#: Query preprocessing names → the square side the photo is resized to (None: as it is).
PREPROCESSING: dict[str, int | None] = {"squash-224": 224, "none": None}


def prepare_image(rgb: np.ndarray, preprocess: str) -> np.ndarray:
    """The photo as the embedding should see it: ``squash-224`` resizes to 224x224 ignoring aspect.

    Raises:
        ConfigError: for an unknown preprocessing name.
    """
    if preprocess not in PREPROCESSING:
        raise ConfigError(f"unknown preprocessing {preprocess!r}; choose one of {sorted(PREPROCESSING)}")
    side = PREPROCESSING[preprocess]
    if side is None or rgb.shape[:2] == (side, side):
        return rgb
    import cv2

    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)


class ImageEmbedding(abc.ABC):
    """Turns EfficientNet-Lite3 features into the vectors a datastore compares.

    Attributes:
        name: The registry name, recorded in the datastore's manifest.
        dim: Width of :meth:`embed_features`' rows.
    """

    name: str = ""
    dim: int = 0

    @abc.abstractmethod
    def embed_features(self, features: np.ndarray) -> np.ndarray:
        """``(n, 1280)`` features in, ``(n, dim)`` float32 out (not yet normalised)."""

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        """EfficientNet-Lite3 features of prepared RGB arrays; the encoder loads on first use."""
        if getattr(self, "_encoder", None) is None:
            from groundcap.rerank.lit import ImageFeatures

            self._encoder = ImageFeatures()
        return self._encoder(images)


class RawFeatures(ImageEmbedding):
    """The frozen features as they are."""

    name = "efficientnet-lite3"
    dim = 1280

    def embed_features(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float32)


class EmbeddedImages(ImageEmbedding):
    """The shipped image-text model's image side (:func:`~groundcap.rerank.lit.load_embedded`)."""

    name = "embedded"

    def __init__(self) -> None:
        from groundcap.rerank.lit import load_embedded

        self._model = load_embedded(device="cpu")
        self.dim = self._model.dim

    def embed_features(self, features: np.ndarray) -> np.ndarray:
        return self._model.embed_image_features(np.asarray(features, dtype=np.float32))


_EMBEDDINGS: Registry[Callable[[], ImageEmbedding]] = Registry(
    "datastore embedding", {"embedded": EmbeddedImages, "efficientnet-lite3": RawFeatures})


def register_embedding(name: str, factory: Callable[[], ImageEmbedding]) -> None:
    """Adds a backend; a name registers once."""
    _EMBEDDINGS.register(name, factory)


def list_embeddings() -> list[str]:
    """The registered embedding names."""
    return _EMBEDDINGS.names()


def create_embedding(name: str) -> ImageEmbedding:
    """Builds a registered embedding.

    Raises:
        ConfigError: for an unknown name.
        ModelLoadError: when its model files are missing.
    """
    return _EMBEDDINGS.get(name)()

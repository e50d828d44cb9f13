"""The retrieval stage: the captions of the photos most like each image, for the prompt and the ranking.

>>> Retriever(None).neighbours([None])
[()]
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from groundcap.config import RetrieveConfig
from groundcap.records import Neighbour

__all__ = ["Retriever", "NeighbourSource"]


class NeighbourSource(Protocol):
    """What the retriever asks of a datastore (:class:`~groundcap.datastore.Datastore` is one)."""

    def neighbours(self, image_or_embedding: Any, k: int = 5) -> tuple[Neighbour, ...]: ...


class Retriever:
    """Finds each image's nearest datastore photos; without a datastore it finds none.

    Args:
        datastore: Where to look, or ``None`` for no retrieval.
        k: Photos per image.
    """

    def __init__(self, datastore: NeighbourSource | None, k: int = 5) -> None:
        self.datastore = datastore
        self.k = k

    @classmethod
    def from_config(cls, config: RetrieveConfig | None = None) -> Retriever:
        """The retriever a :class:`~groundcap.config.RetrieveConfig` names (``datastore="none"``: none)."""
        config = config or RetrieveConfig()
        if config.datastore == "none":
            return cls(None, config.retrieved)
        from groundcap.datastore import open_datastore, resolve_datastore

        return cls(open_datastore(resolve_datastore(config.datastore)), config.retrieved)

    @property
    def corpus(self) -> Sequence[tuple[str, ...]]:
        """The datastore's captions, one tuple per photo (the cider scorer's idf); empty without a datastore."""
        return getattr(self.datastore, "captions", ())

    @property
    def enabled(self) -> bool:
        """Whether there is a datastore to retrieve from (retrieval then needs each image's pixels)."""
        return self.datastore is not None

    def neighbours(self, arrays: Sequence[np.ndarray | None]) -> list[tuple[Neighbour, ...]]:
        """One tuple per image, nearest first; empty for an image without pixels or without a datastore."""
        if self.datastore is None:
            return [() for _ in arrays]
        return [tuple(self.datastore.neighbours(a, self.k)) if a is not None else () for a in arrays]

"""The neighbour record: a captioned photo that looks like the one being captioned."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["Neighbour"]


@dataclass(frozen=True)
class Neighbour:
    """One photo of a caption datastore, found near a query photo, with its human captions.

    Attributes:
        key: The datastore photo's key (its file name or run key).
        captions: What people wrote about it, in the datastore's order.
        similarity: Cosine similarity of its embedding to the query's, in [-1, 1].

    >>> n = Neighbour("1000268201_693b08cb0e.jpg", ("A child in a pink dress .",), 0.81)
    >>> Neighbour.from_dict(n.to_dict()) == n
    True
    """

    key: str
    captions: tuple[str, ...]
    similarity: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "captions", tuple(self.captions))
        if not self.key:
            raise ValueError("a neighbour needs a key")
        if not self.captions or not all(isinstance(c, str) and c.strip() for c in self.captions):
            raise ValueError(f"neighbour {self.key!r} needs at least one non-empty caption")
        if not (math.isfinite(self.similarity) and -1.0001 <= self.similarity <= 1.0001):
            raise ValueError(f"similarity must be a cosine in [-1, 1], got {self.similarity}")

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "captions": list(self.captions), "similarity": self.similarity}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Neighbour:
        return cls(d["key"], tuple(d["captions"]), float(d["similarity"]))

"""The image index's records and its LanceDB table: rows in, hits out, and the model it was built with.

:class:`IndexRow` is what :func:`~groundcap.rerank.index_build.build_index`
writes, :class:`IndexSummary` what it did, :class:`ImageIndex` an opened table
and :class:`Hit` a search result. The model that embedded the images is kept in
the table's schema metadata (:func:`meta_of`) and checked before a search or
an append (:func:`check_model`); both sides embed images through
:func:`embed_image_batch`, which checks the vectors' shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from groundcap.errors import ConfigError, GroundcapError

__all__ = ["ANN_MIN_ROWS", "TABLE", "IndexRow", "IndexSummary", "ImageIndex", "Hit"]

#: Row count from which an approximate (IVF-PQ) index pays off; below it LanceDB's exact scan is fast.
ANN_MIN_ROWS = 10_000
#: The LanceDB table inside an index folder.
TABLE = "images"
META_KEY = b"groundcap"
INDEX_FORMAT = 1


@dataclass(frozen=True)
class IndexRow:
    """One image to index. ``path`` is absolute; ``objects`` are the detected labels."""

    key: str
    path: Path
    caption: str = ""
    status: str = "ok"
    objects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    """One search result; ``score`` is the cosine similarity to the query (1 = same direction)."""

    path: str
    caption: str
    score: float
    key: str
    objects: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "caption": self.caption, "score": self.score, "key": self.key,
                "objects": list(self.objects)}


@dataclass(frozen=True)
class IndexSummary:
    """What :func:`build_index` did; ``skipped`` counts rows left out by reason (``not_ok``,
    ``duplicate_key`` or the image's ``ImageError.reason``), ``errors`` holds the first messages."""

    out: Path
    model: str
    dim: int
    indexed: int
    rows: int
    skipped: dict[str, int] = field(default_factory=dict)
    ann: bool = False
    seconds: float = 0.0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageIndex:
    """An opened index: the LanceDB table and the metadata it was built with."""

    path: Path
    table: Any
    meta: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.meta.get("model", ""))

    @property
    def dim(self) -> int:
        return int(self.meta.get("dim", 0))

    def __len__(self) -> int:
        return self.table.count_rows()


def import_lancedb():
    try:
        import lancedb
    except ImportError as e:
        raise GroundcapError("the image index needs LanceDB: pip install 'groundcap[index]'") from e
    return lancedb


def embed_image_batch(model: Any, images: list[np.ndarray]) -> np.ndarray:
    vectors = np.asarray(model.embed_images(images), dtype=np.float32)
    if vectors.shape != (len(images), model.dim):
        raise GroundcapError(f"model {model.name!r} returned embeddings of shape {vectors.shape}, "
                             f"expected {(len(images), model.dim)}")
    return vectors


def meta_of(table: Any) -> dict[str, Any]:
    raw = (table.schema.metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}


def check_model(meta: Mapping[str, Any], model: Any, where: Path) -> None:
    if meta.get("model") != model.name or int(meta.get("dim", -1)) != int(model.dim):
        raise ConfigError(f"{where}: the index was built with model {meta.get('model')!r} "
                          f"(dim {meta.get('dim')}), not {model.name!r} (dim {model.dim}); "
                          f"use --model {meta.get('model')} or rebuild the index")

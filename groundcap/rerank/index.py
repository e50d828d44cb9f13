"""An on-disk vector index of image embeddings with their captions and metadata.

Built on LanceDB (``pip install 'groundcap[index]'``): one embedded table holds
the vectors beside ``key``, ``path``, ``caption``, ``status``, ``objects``
(detected labels), ``width`` and ``height``, so a search can prefilter on
metadata in SQL (``array_has(objects, 'dog')``) without a second store. Small
tables are searched exactly; from :data:`ANN_MIN_ROWS` rows an IVF-PQ index is
built and its candidates are re-scored exactly (``refine_factor``).

The model that embedded the images is recorded in the table's schema metadata;
searching with a different one is refused, since its vectors live in another
space.

This module opens and searches an index; building it is
:mod:`groundcap.rerank.index_build`, the records are
:mod:`groundcap.rerank.index_table`, and their public names are kept here.

>>> where_clause(objects=["dog", "frisbee"], status="ok")
"array_has(objects, 'dog') AND array_has(objects, 'frisbee') AND status = 'ok'"
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from groundcap.errors import ConfigError
from groundcap.rerank.heatmap import similarity_heatmap
from groundcap.rerank.index_build import build_index, read_index_rows
from groundcap.rerank.index_table import (
    ANN_MIN_ROWS, TABLE, Hit, ImageIndex, IndexRow, IndexSummary, check_model, embed_image_batch, import_lancedb, meta_of,
)

__all__ = ["ANN_MIN_ROWS", "TABLE", "IndexRow", "IndexSummary", "ImageIndex", "Hit", "read_index_rows",
           "build_index", "open_index", "search", "where_clause", "is_image_query", "index_vectors",
           "similarity_heatmap"]


def open_index(path: str | Path) -> ImageIndex:
    """Opens an index folder (or a run folder holding ``index/``).

    Raises:
        ConfigError: no groundcap index there.
    """
    path = Path(path).expanduser()
    for candidate in (path, path / "index"):
        if (candidate / f"{TABLE}.lance").is_dir():
            table = import_lancedb().connect(str(candidate)).open_table(TABLE)
            meta = meta_of(table)
            if "model" not in meta:
                raise ConfigError(f"{candidate}: a LanceDB table without groundcap metadata")
            return ImageIndex(candidate, table, meta)
    raise ConfigError(f"{path}: no image index here; build one with `groundcap index RUN_DIR`")


def is_image_query(query: Any) -> bool:
    """True for an array, a PIL image or an existing file with an image suffix; text otherwise."""
    from groundcap.data.caption_sources import IMAGE_SUFFIXES

    if not isinstance(query, (str, os.PathLike)):
        return True
    path = Path(query).expanduser()
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def where_clause(objects: Sequence[str] = (), status: str | None = None, where: str | None = None) -> str | None:
    """One SQL filter from the convenience flags and a raw ``where``, joined with AND."""
    parts = [f"array_has(objects, {_sql_str(o)})" for o in objects]
    if status:
        parts.append(f"status = {_sql_str(status)}")
    if where and where.strip():
        parts.append(f"({where.strip()})" if parts else where.strip())
    return " AND ".join(parts) or None


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def search(index: ImageIndex, query: Any, model: Any, k: int = 5, where: str | None = None) -> list[Hit]:
    """The ``k`` images nearest to a text or image query, best first.

    Args:
        index: From :func:`open_index`.
        query: Text, or an image (see :func:`is_image_query`).
        model: The model the index was built with.
        k: How many hits.
        where: A SQL filter on the metadata columns, applied before the
            vector search (so ``k`` hits come back whenever ``k`` match).

    Raises:
        ConfigError: another model, a bad ``k`` or an invalid filter.
        ImageError: an image query that cannot be decoded.
    """
    check_model(index.meta, model, index.path)
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if is_image_query(query):
        from groundcap.data.images import load_image

        vector = embed_image_batch(model, [load_image(query)[0]])[0]
    else:
        if not str(query).strip():
            raise ConfigError("empty query")
        vector = np.asarray(model.embed_texts([str(query)]), dtype=np.float32).reshape(-1)
    q = (index.table.search(vector, vector_column_name="vector").distance_type("cosine")
         .select(["key", "path", "caption", "objects", "_distance"]).limit(k))
    if index.table.list_indices():
        q = q.refine_factor(10)  # re-score the approximate candidates with the stored vectors
    if where:
        q = q.where(where, prefilter=True)
    try:
        rows = q.to_list()
    except ValueError as e:
        raise ConfigError(f"invalid filter {where!r}: {e}") from None
    return [Hit(r["path"], r["caption"], 1.0 - float(r["_distance"]), r["key"], tuple(r["objects"] or ()))
            for r in rows]


def index_vectors(index: ImageIndex, keys: Sequence[str] | None = None,
                  limit: int = 50) -> tuple[np.ndarray, list[str]]:
    """Stored vectors and paths of the given keys (in that order), or of the first ``limit`` rows."""
    q = index.table.search().select(["key", "path", "vector"])
    if keys is not None:
        if not keys:
            return np.zeros((0, index.dim), np.float32), []
        q = q.where(f"key IN ({', '.join(_sql_str(k) for k in keys)})").limit(len(keys))
    else:
        q = q.limit(limit)
    table = q.to_arrow()
    found = {k: i for i, k in enumerate(table.column("key").to_pylist())}
    order = [found[k] for k in keys if k in found] if keys is not None else list(range(table.num_rows))
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    vectors = np.asarray(flat, dtype=np.float32).reshape(-1, index.dim)
    paths = table.column("path").to_pylist()
    return vectors[order], [paths[i] for i in order]

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

>>> where_clause(objects=["dog", "frisbee"], status="ok")
"array_has(objects, 'dog') AND array_has(objects, 'frisbee') AND status = 'ok'"
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from groundcap.errors import ConfigError
from groundcap.records import ImageInfo
from groundcap.rerank.heatmap import similarity_heatmap
from groundcap.rerank.index_table import (
    ANN_MIN_ROWS, TABLE, _FORMAT, _META_KEY, Hit, ImageIndex, IndexRow, IndexSummary, _check_model, _embed_images,
    _lancedb, _meta_of,
)

__all__ = ["ANN_MIN_ROWS", "TABLE", "IndexRow", "IndexSummary", "ImageIndex", "Hit", "read_index_rows",
           "build_index", "open_index", "search", "where_clause", "is_image_query", "index_vectors",
           "similarity_heatmap"]

log = logging.getLogger("groundcap.rerank")

_WRITE_EVERY = 4096


# -- reading what to index -------------------------------------------------


def read_index_rows(source: str | Path) -> Iterator[IndexRow]:
    """The images of a ``groundcap run`` folder or of any captions source, in a stable order.

    A folder with Parquet shards (``**/*.parquet``, columns ``key``, ``path``,
    ``status``, ``caption``, ``facts``) is read as a run: relative paths are
    relative to that folder, ``objects`` come from the facts' detections.
    Anything else goes to :func:`~groundcap.data.caption_sources.read_captioned`,
    taking each image's first caption, keyed by its path relative to the source.

    Raises:
        ValueError: the source is missing or of no known layout.
    """
    from groundcap.data.run_shards import run_shards

    path = Path(source).expanduser()
    shards = run_shards(path)
    if shards:
        yield from _run_rows(path.resolve() if path.is_dir() else path.resolve().parent, shards)
        return
    from groundcap.data.caption_sources import read_captioned, source_root

    root = source_root(path)
    for item in read_captioned(path):
        p = Path(os.path.abspath(item.path))
        key = p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
        yield IndexRow(key, p, item.captions[0] if item.captions else "")


def _run_rows(root: Path, shards: list[Path]) -> Iterator[IndexRow]:
    from groundcap.data.run_shards import read_run_rows

    bad_facts = 0
    for row in read_run_rows(root, shards):
        objects = _objects(row.facts)
        bad_facts += objects is None
        yield IndexRow(row.key, Path(os.path.abspath(row.path)), row.caption, row.status or "ok", objects or ())
    if bad_facts:
        log.warning("%s: %d row(s) have unreadable facts; indexed without objects", root, bad_facts)


def _objects(facts: Any) -> tuple[str, ...] | None:
    """Sorted distinct detected labels of a ``Facts.to_dict()`` (JSON or dict); None when unreadable."""
    if facts is None or facts == "" or facts == {}:
        return ()
    from groundcap.records import Facts

    try:
        parsed = Facts.from_dict(json.loads(facts) if isinstance(facts, (str, bytes)) else facts)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return tuple(sorted({d.label for d in parsed.detections}))


# -- building ----------------------------------------------------------------


def _schema(dim: int, meta: Mapping[str, Any]):
    import pyarrow as pa

    return pa.schema([
        pa.field("vector", pa.list_(pa.float32(), dim)),
        pa.field("key", pa.string()), pa.field("path", pa.string()), pa.field("caption", pa.string()),
        pa.field("status", pa.string()), pa.field("objects", pa.list_(pa.string())),
        pa.field("width", pa.int32()), pa.field("height", pa.int32()),
    ], metadata={_META_KEY: json.dumps(dict(meta)).encode()})



def _embedded(rows: Iterable[IndexRow], model: Any, batch_size: int, skipped: Counter,
              errors: list[str]) -> Iterator[tuple[IndexRow, np.ndarray, int, int]]:
    """``(row, vector, width, height)`` of each usable row; the others are counted in ``skipped``."""
    from groundcap.data.walk import load_counted

    seen: set[str] = set()
    pending: list[tuple[IndexRow, np.ndarray, ImageInfo]] = []

    def flush() -> list[tuple[IndexRow, np.ndarray, int, int]]:
        vectors = _embed_images(model, [img for _, img, _ in pending])
        done = [(row, vec, info.width, info.height) for (row, _, info), vec in zip(pending, vectors)]
        pending.clear()
        return done

    for row in rows:
        if row.status != "ok" or row.key in seen:
            skipped["not_ok" if row.status != "ok" else "duplicate_key"] += 1
            continue
        decoded = load_counted(row.path, skipped, errors)
        if decoded is None:
            continue
        rgb, info = decoded
        seen.add(row.key)
        pending.append((row, rgb, info))
        if len(pending) >= batch_size:
            yield from flush()
    if pending:
        yield from flush()


def build_index(rows_or_source: str | Path | Iterable[IndexRow], model: Any, out: str | Path, *,
                append: bool = False, batch_size: int = 32, ann_min_rows: int = ANN_MIN_ROWS,
                model_spec: Mapping[str, Any] | None = None) -> IndexSummary:
    """Embeds images with ``model`` and writes them, with their metadata, to a LanceDB index.

    Rows whose status is not ``ok``, repeated keys and images that fail to
    load are skipped and counted, never fatal. Without ``append`` an existing
    index at ``out`` is replaced.

    Args:
        rows_or_source: A run folder or captions source (see :func:`read_index_rows`), or rows.
        model: An ``ImageTextModel`` (``name``, ``dim``, ``embed_images``).
        out: The index folder.
        append: Add to an existing index built with the same model instead of replacing it.
        batch_size: Images decoded and embedded at a time.
        ann_min_rows: Build an IVF-PQ index once the table has this many rows.
        model_spec: How to recreate ``model`` (e.g. ``{"name": ..., "checkpoint": ...}``),
            stored so a search can load the same one.

    Raises:
        ConfigError: ``append`` to an index built with another model.
    """
    start = time.perf_counter()
    rows = read_index_rows(rows_or_source) if isinstance(rows_or_source, (str, os.PathLike)) else rows_or_source
    out = Path(out)
    meta = {"format": _FORMAT, "model": model.name, "dim": int(model.dim), "model_spec": dict(model_spec or {}),
            "source": str(rows_or_source) if isinstance(rows_or_source, (str, os.PathLike)) else None}
    schema = _schema(model.dim, meta)
    db = _lancedb().connect(str(out))
    table = None
    if append and TABLE in db.list_tables().tables:
        table = db.open_table(TABLE)
        _check_model(_meta_of(table), model, out)
    skipped: Counter = Counter()
    errors: list[str] = []
    indexed, buffer = 0, []
    for record in _embedded(rows, model, max(1, batch_size), skipped, errors):
        buffer.append(record)
        indexed += 1
        if len(buffer) >= _WRITE_EVERY:
            table = _write(db, table, schema, buffer)
    if buffer or table is None:
        table = _write(db, table, schema, buffer)
    total = table.count_rows()
    ann = _ensure_ann(table, total, ann_min_rows)
    summary = IndexSummary(out, model.name, int(model.dim), indexed, total, dict(sorted(skipped.items())), ann,
                           time.perf_counter() - start, tuple(errors))
    log.info("indexed %d images into %s (%d rows, skipped %s)", indexed, out, total, summary.skipped)
    return summary


def _write(db: Any, table: Any, schema: Any, records: list[tuple[IndexRow, np.ndarray, int, int]]) -> Any:
    """Writes and clears ``records``: creates (replacing) the table when there is none yet, else appends."""
    import pyarrow as pa

    rows = [r for r, *_ in records]
    flat = np.asarray([vec for _, vec, *_ in records], dtype=np.float32).reshape(-1)
    data = pa.table({
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), schema.field("vector").type.list_size),
        "key": [r.key for r in rows], "path": [str(r.path) for r in rows], "caption": [r.caption for r in rows],
        "status": [r.status for r in rows], "objects": [list(r.objects) for r in rows],
        "width": [w for *_, w, _ in records], "height": [h for *_, h in records],
    }, schema=schema)
    records.clear()
    if table is None:
        return db.create_table(TABLE, data, schema=schema, mode="overwrite")
    table.add(data)
    return table


def _ensure_ann(table: Any, rows: int, min_rows: int) -> bool:
    """Builds (or rebuilds, after an append) the IVF-PQ index once the table is large enough."""
    if rows < min_rows:
        return False
    from lancedb.index import IvfPq

    table.create_index("vector", config=IvfPq(distance_type="cosine"), replace=True)
    return True


# -- opening and searching ---------------------------------------------------


def open_index(path: str | Path) -> ImageIndex:
    """Opens an index folder (or a run folder holding ``index/``).

    Raises:
        ConfigError: no groundcap index there.
    """
    path = Path(path).expanduser()
    for candidate in (path, path / "index"):
        if (candidate / f"{TABLE}.lance").is_dir():
            table = _lancedb().connect(str(candidate)).open_table(TABLE)
            meta = _meta_of(table)
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
    _check_model(index.meta, model, index.path)
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if is_image_query(query):
        from groundcap.data.images import load_image

        vector = _embed_images(model, [load_image(query)[0]])[0]
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

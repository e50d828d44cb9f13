"""Building the image index: the rows of a run or captions source, embedded and written to LanceDB.

:func:`read_index_rows` reads what to index (a ``groundcap run`` folder's
shards, or any captions source); :func:`build_index` embeds the images in
batches, writes them with their metadata beside the vectors, and from
:data:`~groundcap.rerank.index_table.ANN_MIN_ROWS` rows builds an IVF-PQ index.
Bad rows and images are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from groundcap.records import ImageInfo
from groundcap.rerank.index_table import (
    ANN_MIN_ROWS, TABLE, INDEX_FORMAT, META_KEY, IndexRow, IndexSummary, check_model, embed_image_batch, import_lancedb, meta_of,
)

__all__ = ["read_index_rows", "build_index"]

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
    ], metadata={META_KEY: json.dumps(dict(meta)).encode()})



def _embedded(rows: Iterable[IndexRow], model: Any, batch_size: int, skipped: Counter,
              errors: list[str]) -> Iterator[tuple[IndexRow, np.ndarray, int, int]]:
    """``(row, vector, width, height)`` of each usable row; the others are counted in ``skipped``."""
    from groundcap.data.walk import load_counted

    seen: set[str] = set()
    pending: list[tuple[IndexRow, np.ndarray, ImageInfo]] = []

    def flush() -> list[tuple[IndexRow, np.ndarray, int, int]]:
        vectors = embed_image_batch(model, [img for _, img, _ in pending])
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
    meta = {"format": INDEX_FORMAT, "model": model.name, "dim": int(model.dim), "model_spec": dict(model_spec or {}),
            "source": str(rows_or_source) if isinstance(rows_or_source, (str, os.PathLike)) else None}
    schema = _schema(model.dim, meta)
    db = import_lancedb().connect(str(out))
    table = None
    if append and TABLE in db.list_tables().tables:
        table = db.open_table(TABLE)
        check_model(meta_of(table), model, out)
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

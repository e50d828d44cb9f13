"""The Parquet shards of a ``groundcap run`` output folder: their schema, writing and reading.

A run writes one row per input image into ``OUT/shards/NNNNN.parquet``. The
columns (:data:`RUN_COLUMNS`) follow img2dataset's habit of a status and an
error message on every row, so a failed image is a row, never a hole:

============  =======  ============================================================
column        type     meaning
============  =======  ============================================================
key           string   16 hex digits from the source path and the content hash
source        string   the image's path relative to the input root (posix), or
                       ``split/index`` for a Hugging Face dataset
path          string   the image file as read (absolute); "" when not a file
status        string   ``ok``, ``fallback`` (template caption), or the failure:
                       an image reason (``not_found``, ``truncated``, ...),
                       ``outside_root``, ``facts_error``, ``generation_error``
error         string   what went wrong, "" when nothing did
width         int32    pixels after EXIF rotation; 0 when not decoded
height        int32
sha256        string   hash of the file's bytes; "" when unreadable
prior         string   the sidecar / manifest caption given as input, "" if none
caption       string   the chosen caption; "" when the image failed
chosen        int32    index of the chosen candidate; -1 when the image failed
candidates    string   JSON list of ``Candidate.to_dict()``, ranked best first
facts         string   JSON ``Facts.to_dict()``; "" when the image failed
prompt        string   the prompt the generator saw
models        string   JSON ``{role: model id}``
time_decode   float64  seconds spent on this image per stage (the stage's batch
time_facts    float64  time divided by the batch size)
time_generate float64
time_rerank   float64
time_retrieve float64  (shards of runs before this column lack it; readers take 0)
============  =======  ============================================================

Everything that reads a run back (``train-clip``, ``index``, ``report``)
finds its shards and rows here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from groundcap.data.atomic import atomic_file

__all__ = ["storable", "RUN_COLUMNS", "OK_STATUSES", "ShardRow", "run_shards", "read_run_rows", "run_schema",
           "write_parquet_atomic"]

#: Column name → Arrow type name, in shard order.
RUN_COLUMNS: dict[str, str] = {
    "key": "string", "source": "string", "path": "string", "status": "string", "error": "string",
    "width": "int32", "height": "int32", "sha256": "string", "prior": "string", "caption": "string",
    "chosen": "int32", "candidates": "string", "facts": "string", "prompt": "string", "models": "string",
    "time_decode": "float64", "time_facts": "float64", "time_generate": "float64", "time_rerank": "float64",
    "time_retrieve": "float64",
}
#: Statuses of rows that carry a caption.
OK_STATUSES = frozenset({"ok", "fallback"})


def storable(text: str) -> str:
    """``text`` as Arrow can store it: a lone surrogate (from a non-UTF-8 file name) becomes ``\\xNN``.

    >>> storable(os.fsdecode(b"caf\\xe9.jpg"))
    'caf\\\\xe9.jpg'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def run_schema() -> Any:
    """The ``pyarrow.Schema`` of a run shard."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in RUN_COLUMNS.items()])


def write_parquet_atomic(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Writes ``rows`` as one shard: to a hidden temp name, fsynced, then renamed into place.

    A reader (or a resumed run) therefore sees either the whole shard or none
    of it. Missing columns are filled with their empty value.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    schema = run_schema()
    empty = {"string": "", "int32": 0, "float64": 0.0}
    cols = {name: [r.get(name, empty[kind]) for r in rows] for name, kind in RUN_COLUMNS.items()}
    for name, kind in RUN_COLUMNS.items():
        if kind == "string":
            cols[name] = [storable(v) for v in cols[name]]
    table = pa.Table.from_pydict(cols, schema=schema)
    with atomic_file(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return path


@dataclass(frozen=True)
class ShardRow:
    """What the index and train-clip read back of one stored run row.

    The full row is :class:`groundcap.records.RunRow`; here ``path`` is joined to
    the run folder, not resolved, and ``status`` is as stored.
    """

    key: str
    path: Path
    status: str | None
    caption: str
    facts: Any = None


def run_shards(path: str | Path) -> list[Path]:
    """The Parquet shards of a run folder (or the file itself), sorted; [] when there are none.

    Files inside a LanceDB table (``*.lance``, e.g. the run's own ``index/``)
    and hidden temp files of an unfinished shard are not shards.
    """
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix == ".parquet" else []
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*.parquet")
                  if not p.name.startswith(".") and not any(part.endswith(".lance") for part in p.parts))


def read_run_rows(root: Path, shards: list[Path]) -> Iterator[ShardRow]:
    """The rows of ``shards``, in order, with paths joined to ``root``; rows without a path are skipped.

    Raises:
        ValueError: a shard has no ``path`` column.
    """
    import pyarrow.parquet as pq

    for shard in shards:
        table = pq.read_table(shard)
        if "path" not in table.column_names:
            raise ValueError(f"{shard}: a run shard needs a 'path' column, found {table.column_names}")
        for row in table.to_pylist():
            rel = row.get("path")
            if not rel:
                continue
            yield ShardRow(str(row.get("key") or rel), root / str(rel), row.get("status"),
                         str(row.get("caption") or ""), row.get("facts"))

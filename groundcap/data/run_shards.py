"""Reading the Parquet shards of a ``groundcap run`` output folder.

A run writes one row per image: ``key``, ``path`` (relative to the run
folder, or absolute), ``status`` (``ok`` or a failure), ``caption`` and
``facts`` (``Facts.to_dict()`` as JSON). Everything that reads a run back
(``train-clip``, ``index``) finds its shards and rows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

__all__ = ["RunRow", "run_shards", "read_run_rows"]


@dataclass(frozen=True)
class RunRow:
    """One image's row of a run; ``path`` is joined to the run folder, not resolved; ``status`` as stored."""

    key: str
    path: Path
    status: str | None
    caption: str
    facts: Any = None


def run_shards(path: str | Path) -> list[Path]:
    """The Parquet shards of a run folder (or the file itself), sorted; [] when there are none.

    Files inside a LanceDB table (``*.lance``, e.g. the run's own ``index/``) are not shards.
    """
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix == ".parquet" else []
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*.parquet") if not any(part.endswith(".lance") for part in p.parts))


def read_run_rows(root: Path, shards: list[Path]) -> Iterator[RunRow]:
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
            yield RunRow(str(row.get("key") or rel), root / str(rel), row.get("status"),
                         str(row.get("caption") or ""), row.get("facts"))

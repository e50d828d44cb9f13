"""What a caption datastore is built from: a captions.jsonl, or a ``groundcap run`` folder's priors.

- A folder holding ``captions.jsonl`` (or the file itself): every image with
  its human captions, optionally of one split; the key is the file name.
- A run folder (Parquet shards, :mod:`groundcap.data.run_shards`): every row
  with a non-empty ``prior`` (the sidecar or manifest caption the run was
  given), keyed by the run's key. Generated captions are never used: a
  datastore holds what people wrote.

The source is described in the manifest by its folder name, the file that
listed the captions and its sha256 and size, never by an absolute path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundcap.errors import ConfigError

__all__ = ["SourceRow", "read_source"]


@dataclass(frozen=True)
class SourceRow:
    """One photo to put in the datastore."""

    key: str
    path: Path
    captions: tuple[str, ...]


def _describe(files: list[Path], root: Path, kind: str, split: str) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    for f in files:
        data = f.read_bytes()
        digest.update(data)
        size += len(data)
    return {"kind": kind, "name": root.name, "files": [f.relative_to(root).as_posix() for f in files],
            "sha256": digest.hexdigest(), "bytes": size, "split": split}


def read_source(source: str | Path, split: str = "all") -> tuple[list[SourceRow], dict[str, Any]]:
    """The rows of ``source`` (one split, or ``all``) and its description for the manifest.

    Raises:
        ConfigError: no captions.jsonl or run shards at ``source``, a split
            asked of a run folder, or no rows (naming the splits there are).
        ValueError: a malformed captions.jsonl line (from the reader).
    """
    from groundcap.data.run_shards import run_shards

    path = Path(source).expanduser()
    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder")
    shards = run_shards(path) if path.is_dir() else []
    if shards:
        if split != "all":
            raise ConfigError(f"{path} is a run folder; its rows have no split (leave --split at 'all')")
        return _run_rows(path.resolve(), shards), _describe(shards, path.resolve(), "run", split)
    jsonl = path / "captions.jsonl" if path.is_dir() else path
    if not jsonl.is_file() or jsonl.suffix != ".jsonl":
        raise ConfigError(f"{path}: found no captions.jsonl and no run shards to build a datastore from")
    return _jsonl_rows(jsonl, split), _describe([jsonl.resolve()], jsonl.resolve().parent, "captions.jsonl", split)


def _jsonl_rows(jsonl: Path, split: str) -> list[SourceRow]:
    from groundcap.data.captioned import read_captions_jsonl, select

    items = read_captions_jsonl(jsonl)
    chosen = select(items, split)
    if not chosen:
        there = sorted({it.split for it in items})
        raise ConfigError(f"{jsonl}: no images of split {split!r} (splits there: {', '.join(there) or 'none'})")
    return [SourceRow(it.path.name, it.path, tuple(c for c in it.captions if c.strip())) for it in chosen]


def _run_rows(root: Path, shards: list[Path]) -> list[SourceRow]:
    import pyarrow.parquet as pq

    rows = []
    for shard in shards:
        table = pq.read_table(shard)
        missing = {"key", "path", "prior"} - set(table.column_names)
        if missing:
            raise ConfigError(f"{shard}: a run shard needs columns key, path and prior; lacks {sorted(missing)}")
        for row in table.select(["key", "path", "prior"]).to_pylist():
            prior = str(row["prior"] or "").strip()
            if prior and row["path"]:
                rows.append(SourceRow(str(row["key"] or row["path"]), root / str(row["path"]), (prior,)))
    if not rows:
        raise ConfigError(f"{root}: no run row has a prior caption; a datastore needs human captions")
    return rows

"""The (image, caption) pairs ``groundcap train-clip`` trains on, and the hash that names them.

Pairs come from a captions source (one per reference caption,
:func:`pairs_from_captions`) or from a ``groundcap run`` folder's shards (one
per ``ok`` caption, :func:`pairs_from_run`); :func:`read_pairs` tells the two
apart. :func:`data_hash` gives the same hash for the same pairs in any order.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterable

from groundcap.errors import ConfigError

__all__ = ["pairs_from_captions", "pairs_from_run", "read_pairs", "data_hash"]

log = logging.getLogger("groundcap.rerank")

Pair = tuple[Path, str]


def pairs_from_captions(source: str | Path, split: str = "all") -> list[Pair]:
    """One pair per reference caption of a captions source (any layout :func:`read_captioned` reads)."""
    from groundcap.data.caption_sources import read_captioned

    return [(it.path, cap) for it in read_captioned(source)
            if split == "all" or it.split == split for cap in it.captions if cap.strip()]


def pairs_from_run(run_dir: str | Path) -> list[Pair]:
    """One pair per ``ok`` caption in the Parquet shards of a ``groundcap run`` output folder.

    Paths in the shards are relative to the run folder; images that no longer
    exist are skipped with a warning.
    """
    from groundcap.data.run_shards import read_run_rows, run_shards

    run_dir = Path(run_dir)
    shards = run_shards(run_dir) if run_dir.is_dir() else []
    if not shards:
        raise ConfigError(f"{run_dir}: no Parquet shards (*.parquet)")
    pairs, missing = [], 0
    for row in read_run_rows(run_dir, shards):
        if row.status != "ok" or not row.caption.strip():
            continue
        path = row.path.resolve()
        if path.is_file():
            pairs.append((path, row.caption))
        else:
            missing += 1
    if missing:
        log.warning("%s: skipped %d captions whose image no longer exists", run_dir, missing)
    return pairs


def read_pairs(source: str | Path, split: str = "all") -> list[Pair]:
    """Pairs of a ``groundcap run`` folder (it holds ``*.parquet``), else of a captions source."""
    from groundcap.data.run_shards import run_shards

    source = Path(source)
    if source.is_dir() and run_shards(source):
        return pairs_from_run(source)
    return pairs_from_captions(source, split)


def data_hash(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 over the sorted ``(image sha256 or path, caption)`` pairs: the same data gives the same hash."""
    h = hashlib.sha256()
    for key, caption in sorted((str(k), c) for k, c in pairs):
        h.update(f"{key}\t{caption}\n".encode("utf-8"))
    return h.hexdigest()

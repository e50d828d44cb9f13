"""The bookkeeping of a run's output folder: which shards are finished, locking, starting over.

What is done is read from the committed shards themselves
(``shards/NNNNN.parquet``), never from a separate list that could disagree
with them. A shard is committed by renaming it into place, so after a crash
there are only whole shards and hidden temp files, which :meth:`RunDir.open`
removes.
"""

from __future__ import annotations

import fcntl
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

from groundcap.data.run_shards import OK_STATUSES, write_parquet_atomic
from groundcap.errors import GroundcapError

__all__ = ["RunDir", "RunLockedError", "OUTPUT_NAMES", "merge_rows"]

#: What a run writes at the top of its folder; ``--overwrite`` removes these and nothing else.
OUTPUT_NAMES = ("shards", "webdataset", "captions.csv", "hf", "images", "config.json", "stats.json", "report.html")
_SHARD = re.compile(r"^(\d{5,})\.parquet$")


class RunLockedError(GroundcapError, RuntimeError):
    """Another run is writing to the same output folder."""


class RunDir:
    """One run's output folder.

    Args:
        root: The ``--out`` folder; created if missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.shards_dir = self.root / "shards"
        self.wds_dir = self.root / "webdataset"
        self._lock_fh: Any = None

    # -- lifecycle ----------------------------------------------------------

    def open(self) -> RunDir:
        """Creates the folder, takes its lock and removes what an interrupted run left half-written.

        Raises:
            RunLockedError: another ``groundcap run`` holds the folder.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise RunLockedError(f"{self.root}: another groundcap run is writing here") from None
        self._lock_fh = fh
        self.shards_dir.mkdir(exist_ok=True)
        self._remove_temps()
        return self

    def close(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RunDir:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clear(self) -> None:
        """Removes every output of an earlier run (``--overwrite``); other files in the folder stay."""
        for name in OUTPUT_NAMES:
            path = self.root / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        self._remove_temps()
        self.shards_dir.mkdir(exist_ok=True)

    def _remove_temps(self) -> None:
        for folder in (self.root, self.shards_dir, self.wds_dir, self.root / "images"):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                if p.name.startswith(".") and p.name != ".lock" and (
                        p.name.endswith((".tmp", ".cache", ".arrow"))):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)

    # -- shards -------------------------------------------------------------

    def shard_path(self, index: int) -> Path:
        return self.shards_dir / f"{index:05d}.parquet"

    def tar_path(self, index: int) -> Path:
        return self.wds_dir / f"{index:05d}.tar"

    def committed(self) -> list[int]:
        """Numbers of the finished shards, ascending."""
        if not self.shards_dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.shards_dir.iterdir() if (m := _SHARD.match(p.name)))

    def read_rows(self, index: int) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        return pq.read_table(self.shard_path(index)).to_pylist()

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row of every finished shard, shard by shard (one shard in memory at a time)."""
        for index in self.committed():
            yield from self.read_rows(index)

    def done(self) -> dict[str, tuple[int, str]]:
        """``{source: (shard, status)}`` of every row already written."""
        import pyarrow.parquet as pq

        out: dict[str, tuple[int, str]] = {}
        for index in self.committed():
            table = pq.read_table(self.shard_path(index), columns=["source", "status"])
            for source, status in zip(table.column("source").to_pylist(), table.column("status").to_pylist()):
                out.setdefault(source, (index, status))
        return out

    def failed(self) -> dict[int, list[str]]:
        """``{shard: [source, ...]}`` of the rows without a caption (for ``--retry-failed``)."""
        out: dict[int, list[str]] = {}
        for source, (index, status) in self.done().items():
            if status not in OK_STATUSES:
                out.setdefault(index, []).append(source)
        return out

    def write_shard(self, index: int, rows: list[dict[str, Any]]) -> Path:
        """Commits one shard (the rename is the commit)."""
        return write_parquet_atomic(rows, self.shard_path(index))

    def remove_tar(self, index: int) -> None:
        self.tar_path(index).unlink(missing_ok=True)


def merge_rows(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with each row whose source is in ``new`` replaced, order kept (``--retry-failed``)."""
    by_source = {r["source"]: r for r in new}
    return [by_source.get(r["source"], r) for r in old]


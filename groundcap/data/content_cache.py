"""Files on disk keyed by a content hash: the layout, reads and atomic writes every cache shares.

Layout: ``dir/<key[:2]>/<key><suffix>``. Writes go to a unique hidden temp
name beside the file and are renamed into place (:func:`~groundcap.data.atomic.atomic_file`),
so several processes can fill one cache and readers see either no file or a
whole one. Entries can be recomputed, so they are not fsynced.

>>> import tempfile
>>> files = ContentFiles(tempfile.mkdtemp(), ".txt")
>>> files.path_for("abcd").relative_to(files.dir).as_posix()
'ab/abcd.txt'
>>> files.read("abcd") is None
True
>>> _ = files.write("abcd", b"kept")
>>> files.read("abcd")
b'kept'
"""

from __future__ import annotations

import os
from pathlib import Path

from groundcap.data.atomic import atomic_file

__all__ = ["ContentFiles"]


class ContentFiles:
    """One file per key in a folder, two hex characters of fan-out.

    Args:
        dir: The folder (one per config or encoder, chosen by the cache).
        suffix: The files' extension, e.g. ``".json"``.
    """

    def __init__(self, dir: str | os.PathLike[str], suffix: str) -> None:
        self.dir = Path(dir)
        self.suffix = suffix

    def path_for(self, key: str) -> Path:
        """Where the entry for ``key`` lives."""
        return self.dir / key[:2] / f"{key}{self.suffix}"

    def read(self, key: str) -> bytes | None:
        """The entry's bytes, or ``None`` when there is none.

        Raises:
            OSError: when the file is there but cannot be read.
        """
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> Path:
        """Stores ``data`` for ``key``, atomically; returns the file.

        Raises:
            OSError: when it cannot be written; nothing partial is left.
        """
        return write_entry(self.path_for(key), data)


def write_entry(path: Path, data: bytes) -> Path:
    """Writes one cache file atomically (a unique temp name, no fsync), making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb", unique=True, fsync=False) as fh:
        fh.write(data)
    return path

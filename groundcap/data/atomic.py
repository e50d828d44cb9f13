"""Files that appear whole or not at all: write under a hidden temp name, fsync, rename.

A crash, ``kill -9`` or full disk midway leaves only ``.NAME.tmp`` behind,
never a truncated ``NAME`` that a reader or a resumed run would take as
finished. The temp name is fixed, so the caller must be the only writer of
``NAME`` (a run holds its folder's lock).

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> with atomic_file(p, "w") as fh:
...     _ = fh.write("whole")
>>> p.read_text()
'whole'
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any, Iterator

__all__ = ["atomic_file", "temp_name"]


def temp_name(path: str | Path) -> Path:
    """The hidden temp name ``path`` is written under: ``.NAME.tmp`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb", **open_kw: Any) -> Iterator[IO[Any]]:
    """Opens ``path``'s temp name for writing; on success fsyncs and renames it to ``path``.

    On any exception the temp file is removed and the exception propagates;
    an existing ``path`` is left untouched.
    """
    path = Path(path)
    tmp = temp_name(path)
    fh = open(tmp, mode, **open_kw)
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
            fh.close()
        tmp.unlink(missing_ok=True)
        raise

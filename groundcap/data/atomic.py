"""Files and folders that appear whole or not at all: write under a hidden temp name, fsync, rename.

A crash, ``kill -9`` or full disk midway leaves only ``.NAME.tmp`` behind,
never a truncated ``NAME`` that a reader or a resumed run would take as
finished. The temp name is fixed, so the caller must be the only writer of
``NAME`` (a run holds its folder's lock); shared caches, which several
processes may fill at once, ask for a ``unique`` temp name
(``.NAME.XXXXXXXX.tmp``) instead.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> with atomic_file(p, "w") as fh:
...     _ = fh.write("whole")
>>> p.read_text()
'whole'
>>> with atomic_dir(p.parent / "folder") as tmp:
...     _ = (tmp / "b.txt").write_text("swapped in")
>>> (p.parent / "folder" / "b.txt").read_text()
'swapped in'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

__all__ = ["atomic_dir", "atomic_file", "temp_name"]


def temp_name(path: str | Path) -> Path:
    """The hidden temp name ``path`` is written under: ``.NAME.tmp`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb", *, unique: bool = False, fsync: bool = True,
                **open_kw: Any) -> Iterator[IO[Any]]:
    """Opens ``path``'s temp name for writing; on success fsyncs and renames it to ``path``.

    On any exception the temp file is removed and the exception propagates;
    an existing ``path`` is left untouched.

    Args:
        path: The file to write.
        mode: A write mode for :func:`open`.
        unique: Write under a fresh ``.NAME.XXXXXXXX.tmp`` (mode 0644), so
            that concurrent writers of one ``path`` never share a temp file.
        fsync: Whether to fsync before the rename (caches that can be
            recomputed skip it).
        **open_kw: Passed to :func:`open` (``encoding=...``).
    """
    path = Path(path)
    if unique:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        try:
            os.fchmod(fd, 0o644)  # mkstemp makes it private; what these hold is not secret
            fh = os.fdopen(fd, mode, **open_kw)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
    else:
        tmp = temp_name(path)
        fh = open(tmp, mode, **open_kw)
    try:
        yield fh
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
            fh.close()
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, unique: bool = False, replace: bool = True) -> Iterator[Path]:
    """Yields an empty temp folder beside ``path``; on success it is swapped in as ``path``.

    The temp folder is ``.NAME.tmp`` (emptied first), or a fresh
    ``.NAME.XXXXXXXX.tmp`` when ``unique``. On any exception it is removed
    and the exception propagates; an existing ``path`` is left untouched.

    Args:
        path: The folder to write.
        unique: Use a fresh temp name, for several processes racing to make one folder.
        replace: Swap out an existing ``path`` (moved aside to ``.NAME.old``,
            then removed). When false, a ``path`` that exists at the rename
            (another writer finished first) wins and the temp folder is dropped.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if unique:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    else:
        tmp = temp_name(path)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    try:
        yield tmp
        if not replace:
            try:
                os.replace(tmp, path)
            except OSError:  # another writer finished first
                shutil.rmtree(tmp, ignore_errors=True)
            return
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

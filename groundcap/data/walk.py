"""The one folder walker: every image below a folder, with the guards every caller needs.

:func:`walk_images` lists a folder's image files (by suffix) without
following linked folders, so a looping link cannot make it walk forever and
a linked folder cannot pull in files from elsewhere; hidden entries (macOS
``._photo.jpg`` forks) and ``exclude`` folders are skipped, and a linked file
that resolves outside the folder is marked ``outside``. Reading what was
walked is guarded too: :func:`read_sidecar_caption` reads only regular files,
non-blocking and up to :data:`SIDECAR_MAX_BYTES` (a FIFO would block), and
:func:`load_counted` decodes a photo through
:func:`~groundcap.data.load_image` (regular files only, ``too_large`` over
the size limit), counting a failure by its reason instead of raising.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "a.jpg").write_bytes(b"x"); _ = (root / ".hidden.jpg").write_bytes(b"x")
>>> [e.rel for e in walk_images(str(root))]
['a.jpg']
"""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from groundcap.errors import ImageError

__all__ = ["IMAGE_SUFFIXES", "WalkEntry", "walk_images", "leaves_root", "read_sidecar_caption", "sidecar_path", "load_counted",
           "SIDECAR_MAX_BYTES"]

log = logging.getLogger("groundcap.data")

#: File suffixes taken as images (lowercase).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
#: A sidecar caption is read up to this many bytes.
SIDECAR_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class WalkEntry:
    """One image file found below the walked folder.

    Attributes:
        rel: Its posix path relative to the folder.
        path: The folder joined with ``rel``.
        is_link: Whether the entry itself is a symbolic link.
        outside: Whether it is a link that resolves outside the folder (not to be read).
    """

    rel: str
    path: str
    is_link: bool
    outside: bool


def leaves_root(root: str, path: str) -> bool:
    """Whether ``path``, its links followed, lies outside the folder ``root`` (itself resolved)."""
    real = os.path.realpath(path)
    return not (real == root or real.startswith(root.rstrip("/") + "/"))


def walk_images(root: str, exclude: Sequence[str | Path] = ()) -> list[WalkEntry]:
    """The image files below ``root`` (resolved), in walk order; see the module docstring for the guards.

    Args:
        root: The folder, already resolved.
        exclude: Folders not to walk, such as a run's own output folder inside the input.
    """
    skip = {os.path.realpath(os.path.expanduser(os.fspath(e))) for e in exclude}
    found: list[WalkEntry] = []
    linked, unreadable = 0, 0
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir)) as it:
                entries = list(it)
        except OSError:
            unreadable += 1
            continue
        for entry in entries:
            # Hidden files too: macOS leaves "._photo.jpg" resource forks that are not images.
            if entry.name.startswith("."):
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            is_image = os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if os.path.realpath(entry.path) in skip:
                    continue
                pending.append(rel)
            elif not is_image and entry.is_symlink() and os.path.isdir(entry.path):
                linked += 1
            if is_image:
                is_link = entry.is_symlink()
                found.append(WalkEntry(rel, entry.path, is_link, is_link and leaves_root(root, entry.path)))
    if linked:
        log.warning("%s: did not follow %d linked folder(s)", root, linked)
    if unreadable:
        log.warning("%s: could not list %d folder(s)", root, unreadable)
    return found


def sidecar_path(image_path: str | os.PathLike[str]) -> str:
    """``photo.txt`` beside ``photo.jpg``."""
    return os.path.splitext(os.fsdecode(os.fspath(image_path)))[0] + ".txt"


def read_sidecar_caption(image_path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of ``photo.txt`` beside ``photo.jpg``, if any (at most :data:`SIDECAR_MAX_BYTES`,
    cut at a space so that no character is split).

    Only a regular file is read: a FIFO named ``photo.txt`` would block.
    """
    try:
        with open(sidecar_path(image_path), "rb", opener=_open_nonblocking) as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            data = fh.read(SIDECAR_MAX_BYTES + 1)
    except (OSError, ValueError):
        return None
    if len(data) > SIDECAR_MAX_BYTES:
        data = data[:SIDECAR_MAX_BYTES]
        space = data.rfind(b" ")
        data = data[:space] if space > 0 else data
    return data


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)


def load_counted(path: str | os.PathLike[str], skipped: Counter, errors: list[str]) -> tuple[Any, Any] | None:
    """``load_image(path)``, or ``None`` with the failure counted in ``skipped`` by reason.

    The first 10 failure messages are appended to ``errors``.
    """
    from groundcap.data.images import load_image

    try:
        return load_image(path)
    except ImageError as e:
        skipped[e.reason] += 1
        if len(errors) < 10:
            errors.append(str(e))
        return None

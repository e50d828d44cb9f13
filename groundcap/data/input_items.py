"""What every input layout makes: :class:`InputItem`, and the column and path rules they share.

:mod:`groundcap.data.inputs` (folders and manifests) and
:mod:`groundcap.data.dataset_inputs` (saved datasets) both build items here,
so neither imports the other at load time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from groundcap.data.images import read_image_file
from groundcap.data.walk import leaves_root
from groundcap.errors import ImageError, InputError
from groundcap.text.cleaning import clean_prior

__all__ = ["InputItem", "PATH_COLUMNS", "CAPTION_COLUMNS", "choose_columns", "find_column", "manifest_item",
           "prior_of", "read_file_bytes"]

#: Columns taken as the image path, in order of preference (case, spaces and dashes aside).
PATH_COLUMNS = ("path", "image", "filepath", "file_name", "file", "image_path", "img")
#: Columns taken as the prior caption, in order of preference.
CAPTION_COLUMNS = ("caption", "text", "title", "prior")


@dataclass(frozen=True)
class InputItem:
    """One image a run will caption, or a row that already failed.

    Attributes:
        source: The posix path relative to the input root; ``split/index`` for
            a Hugging Face dataset; the path itself for an absolute manifest path.
        path: The absolute path of the file to read; ``""`` for dataset rows
            and for items whose ``status`` is set.
        prior: The caption given with the input, cleaned as a prompt would
            clean it (``None`` when absent, empty or binary).
        status: ``""``, or a failure known before reading (``"outside_root"``).
        error: What that failure is.
        hf: ``(dataset folder, split, row index)`` for a ``save_to_disk`` dataset.
    """

    source: str
    path: str = ""
    prior: str | None = None
    status: str = ""
    error: str = ""
    hf: tuple[str, str, int] | None = None


def read_file_bytes(item: InputItem) -> bytes:
    """The bytes of an item's file.

    Raises:
        ImageError: ``item.status`` when it is set, else why the file could not be read.
    """
    if item.status:
        raise ImageError(item.source, item.status, item.error)
    if not item.path:
        raise ImageError(item.source, "not_found", "the item names no file")
    return read_image_file(item.path)


def prior_of(value: Any) -> str | None:
    """A prior caption from a cell: a string, bytes, or the first of a list."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value):
        value = value.encode("utf-8", "surrogateescape")  # a CSV cell that was not UTF-8: let clean_prior decode it
    return clean_prior(value) if isinstance(value, (str, bytes, bytearray)) else None


def manifest_item(root: str, value: str, prior: str | None) -> InputItem:
    """The item a listed path names: as it is when absolute, else under ``root``; ``outside_root`` if it leaves."""
    norm = os.path.normpath(value)
    if os.path.isabs(norm):
        return InputItem(norm, norm, prior)
    full = os.path.join(root, norm)
    if norm == ".." or norm.startswith("../") or leaves_root(root, full):
        return InputItem(norm, status="outside_root", error=f"{value!r} resolves outside {root}")
    return InputItem(norm, full, prior)


def choose_columns(path: Path | str, names: list[str], path_column: str | None,
                   caption_column: str | None) -> tuple[str, str | None]:
    """The path and caption columns among ``names``, given or found."""
    found = ", ".join(map(repr, names)) or "none"
    for given in (path_column, caption_column):
        if given is not None and given not in names:
            raise InputError(f"{path}: no column {given!r}; found columns: {found}")
    pcol = path_column or find_column(names, PATH_COLUMNS)
    if pcol is None:
        raise InputError(f"{path}: no image path column; expected one of {', '.join(PATH_COLUMNS)} "
                         f"(or pass path_column); found columns: {found}")
    return pcol, caption_column or find_column(names, CAPTION_COLUMNS)


def find_column(names: Sequence[str], preferred: Sequence[str]) -> str | None:
    """The first of ``preferred`` among ``names``, case, spaces and dashes aside."""
    lowered: dict[str, str] = {}
    for name in names:
        lowered.setdefault(name.strip().lower().replace(" ", "_").replace("-", "_"), name)
    return next((lowered[p] for p in preferred if p in lowered), None)

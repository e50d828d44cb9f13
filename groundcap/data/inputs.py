"""What a batch run (``groundcap run SRC``) reads: one :class:`InputItem` per image.

:func:`read_inputs` picks the layout from the path:

* a folder: every image file below it, sorted by ``source``; the prior is the
  sidecar ``photo.txt`` beside ``photo.jpg``;
* an imagefolder (a folder with ``metadata.jsonl``): the same walk; the prior is
  the metadata's ``text``/``caption``/``captions``, else the sidecar;
* a manifest (``.csv``, ``.tsv``, ``.txt``, ``.jsonl``, ``.parquet``): one item per
  row in file order, from a path column and an optional caption column;
* a ``save_to_disk`` dataset folder: one item per row of each split (``split/index``).

Failures are data, not exceptions: an entry that cannot be read (a folder named
``x.jpg``, a broken link, an empty file) is still an item, and
:func:`read_item_bytes` raises the :class:`~groundcap.errors.ImageError` whose
reason becomes its status. A path that leaves the input root (``../x.jpg`` in a
manifest, a symbolic link out of the folder) fails before anything is read: its
item has ``status="outside_root"`` and no path. Only a manifest or a
``metadata.jsonl`` that cannot be understood (no path column, a line that is not
JSON, an empty path) raises :class:`~groundcap.errors.InputError` (a ``ValueError``), naming the file and line.

File names need not be UTF-8: such names come back with surrogate escapes
(``os.fsdecode``), and :func:`item_key` hashes them as the original bytes.
Escape such a ``source`` before writing it where only UTF-8 is allowed (Arrow
strings), e.g. ``s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")``.

>>> item_key("dogs/rex.jpg", "0" * 64)
'42d9f8581c793598'
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

from groundcap.data.caption_sources import imagefolder_metadata, source_root
from groundcap.data.input_items import CAPTION_COLUMNS, PATH_COLUMNS  # noqa: F401 (named in the docs)
from groundcap.data.input_items import InputItem, choose_columns, manifest_item, prior_of, read_file_bytes
from groundcap.data.walk import leaves_root, read_sidecar_caption, sidecar_path, walk_images
from groundcap.errors import InputError
from groundcap.text.cleaning import clean_prior

__all__ = ["InputItem", "read_inputs", "read_item_bytes", "item_key", "input_root", "read_sidecar_caption"]

log = logging.getLogger("groundcap.data")

_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_METADATA_CAPTIONS = ("text", "caption", "captions")


def item_key(source: str, sha256: str) -> str:
    """16 hex digits naming an image in a run: the source and its content together.

    ``sha256(source + "\\n" + sha256)`` with the source encoded as UTF-8
    (surrogate escapes turned back into the file name's own bytes).
    """
    return hashlib.sha256((source + "\n" + sha256).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def input_root(source: str | Path) -> Path:
    """The folder items' ``source`` paths are relative to: the folder itself, or a manifest's folder."""
    return source_root(source)


def read_inputs(source: str | Path, *, path_column: str | None = None, caption_column: str | None = None,
                exclude: Sequence[str | Path] = ()) -> list[InputItem]:
    """Lists the images of a folder, an imagefolder, a manifest or a saved dataset (see the module table).

    Args:
        source: The folder, manifest file or ``save_to_disk`` folder.
        path_column: Manifests: the image path column; default the first of
            :data:`PATH_COLUMNS` present. Datasets: must be the image column if given.
        caption_column: Manifests and datasets: the prior caption column;
            default the first of :data:`CAPTION_COLUMNS` present, if any.
        exclude: Folders: directories not to walk, such as the run's own
            output folder when it lies inside the input.

    Returns:
        The items, in the same order on every machine: folders sorted by
        ``source``, manifests in row order (a repeated row kept once), datasets
        split by split in row order. An empty folder gives an empty list.

    Raises:
        InputError: (a ``ValueError``) when the source does not exist or is no supported layout, or
            a manifest has no usable path column or a malformed row (file:line).
    """
    path = Path(os.fspath(source)).expanduser()
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or folder")
    root = input_root(path)
    if path.is_dir():
        from groundcap.data.dataset_inputs import is_saved_dataset, read_dataset

        if is_saved_dataset(root):
            return read_dataset(root, path_column, caption_column)
        if path_column is not None or caption_column is not None:
            raise InputError(f"{path}: path_column and caption_column apply to manifests and datasets, not folders")
        return _read_folder(str(root), exclude)
    if path.suffix.lower() in _CSV_SUFFIXES + _JSONL_SUFFIXES + (".parquet",):
        try:
            return _read_manifest(path, str(root), path_column, caption_column)
        except InputError:
            raise
        except (OSError, ValueError, csv.Error) as e:  # unreadable, not Parquet, a broken CSV quote, ...
            raise InputError(f"{path}: cannot read the manifest: {e}") from e
    raise InputError(f"{path}: not a folder or a manifest; expected .csv, .tsv, .txt, .jsonl or .parquet")


def read_item_bytes(item: InputItem) -> bytes:
    """The bytes of an item's image file.

    Raises:
        ImageError: ``item.status`` when it is set, else why the file or row
            could not be read (``not_found``, ``is_directory``, ``broken_link``,
            ``symlink_loop``, ``permission_denied``, ``empty_file``, ...).
    """
    if item.hf is not None and not item.status:
        from groundcap.data.dataset_inputs import dataset_bytes

        return dataset_bytes(item)
    return read_file_bytes(item)


# -- folders and imagefolders ------------------------------------------------


def _read_folder(root: str, exclude: Sequence[str | Path]) -> list[InputItem]:
    """The images :func:`~groundcap.data.walk.walk_images` finds below ``root``, sorted by ``source``."""
    priors = _metadata_priors(Path(root))
    items = [_folder_item(root, e.rel, e.path, e.outside, priors) for e in walk_images(root, exclude)]
    return sorted(items, key=lambda it: it.source)


def _folder_item(root: str, rel: str, path: str, outside: bool, priors: dict[str, str]) -> InputItem:
    if outside:
        return InputItem(rel, status="outside_root",
                         error=f"a symbolic link to {os.path.realpath(path)}, outside {root}")
    prior = priors.get(rel)
    if prior is None:
        side = sidecar_path(path)
        # A linked sidecar is read only when it stays inside the folder: its text ends up in outputs.
        if not (os.path.islink(side) and leaves_root(root, side)):
            prior = clean_prior(read_sidecar_caption(path))
    return InputItem(rel, path, prior)


def _metadata_priors(root: Path) -> dict[str, str]:
    """``source → first caption`` from an imagefolder's ``metadata.jsonl`` files (none: empty)."""
    priors: dict[str, str] = {}
    for meta, _split in imagefolder_metadata(root):
        base = os.path.relpath(meta.parent, root)
        for where, row in _jsonl_rows(meta):
            name = row.get("file_name")
            if not isinstance(name, str) or not name:
                raise InputError(f"{where}: expected a 'file_name' string")
            column = next((c for c in _METADATA_CAPTIONS if c in row), None)
            prior = prior_of(row[column]) if column else None
            if prior is not None:
                priors.setdefault(os.path.normpath(os.path.join(base, name)), prior)
    return priors


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file:line, object)`` per non-blank line; bytes that are not UTF-8 become surrogate escapes."""
    text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
    # Not splitlines(): U+2028 may stand unescaped inside a JSON string.
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
        yield f"{path}:{n}", row


# -- manifests ---------------------------------------------------------------


def _read_manifest(path: Path, root: str, path_column: str | None, caption_column: str | None) -> list[InputItem]:
    items: dict[str, InputItem] = {}
    repeated = 0
    for where, value, caption in _manifest_rows(path, path_column, caption_column):
        item = manifest_item(root, _path_text(value, where), prior_of(caption))
        if item.source in items:
            repeated += 1
        else:
            items[item.source] = item
    if repeated:
        log.warning("%s: skipped %d repeated row(s) naming an image already listed", path, repeated)
    return list(items.values())


def _path_text(value: Any, where: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        value = os.fsdecode(bytes(value))
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise InputError(f"{where}: empty, missing or invalid image path {value!r}")
    return value


def _manifest_rows(path: Path, path_column: str | None,
                   caption_column: str | None) -> Iterator[tuple[str, Any, Any]]:
    """``(where, path cell, caption cell)`` per row, in file order."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        names = list(pq.read_schema(path).names)
        pcol, ccol = choose_columns(path, names, path_column, caption_column)
        table = pq.read_table(path, columns=[c for c in (pcol, ccol) if c])
        captions = table.column(ccol).to_pylist() if ccol else [None] * table.num_rows
        for n, (value, caption) in enumerate(zip(table.column(pcol).to_pylist(), captions), start=1):
            yield f"{path}: row {n}", value, caption
    elif suffix in _JSONL_SUFFIXES:
        rows = list(_jsonl_rows(path))
        names = list(dict.fromkeys(k for _, row in rows for k in row))
        pcol, ccol = choose_columns(path, names, path_column, caption_column)
        for where, row in rows:
            yield where, row.get(pcol), row.get(ccol) if ccol else None
    else:
        # Any bytes: a Linux file name need not be UTF-8, and neither need a caption.
        text = path.read_bytes().decode("utf-8-sig", "surrogateescape")
        header_line = text.split("\n", 1)[0]
        tabbed = suffix == ".tsv" or header_line.count("\t") > header_line.count(",")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tabbed else ",")
        header = next(reader, None)
        if not header:
            raise InputError(f"{path}: empty manifest; expected a header row naming the columns")
        names = [h.strip() for h in header]
        pcol, ccol = choose_columns(path, names, path_column, caption_column)
        pi, ci = names.index(pcol), names.index(ccol) if ccol else None
        for row in reader:
            if not "".join(row).strip():
                continue
            yield (f"{path}:{reader.line_num}", row[pi] if pi < len(row) else None,
                   row[ci] if ci is not None and ci < len(row) else None)

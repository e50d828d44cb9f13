"""Readers for the usual layouts of images with reference captions.

Each reader returns :class:`~groundcap.data.captioned.CaptionedImage` items in a
deterministic order, with ``split`` one of ``train``, ``dev``, ``test`` or
``none`` (``validation``/``valid``/``val`` are read as ``dev``, Flickr8k's name).
:func:`read_captioned` picks the reader from the path:

==========================  =====================================================
layout                      reader
==========================  =====================================================
``captions.jsonl``          :func:`read_captions_jsonl` (groundcap's own format)
``captions.txt`` / ``.csv`` :func:`read_captions_csv` (Flickr8k as on Kaggle)
``metadata.jsonl``          :func:`read_imagefolder` (Hugging Face imagefolder)
a folder of images          :func:`read_sidecar_folder` (``photo.jpg`` + ``photo.txt``)
==========================  =====================================================

Conventions shared by all readers:

* A malformed row raises ``ValueError`` naming the file and the line.
* An image path that leaves the source root (``../x.jpg``, an absolute path, a
  symlink pointing outside) raises ``ValueError`` naming the file and line.
* A listed image that does not exist is skipped; the number skipped is logged
  as one warning on the ``groundcap.data`` logger (nothing is returned for it).
* A source with no split information at all gets :func:`hash_split`: a
  deterministic 80/10/10 train/dev/test split by hashing the file name, so the
  same image lands in the same split whichever machine or order reads it.

>>> hash_split("1000268201_693b08cb0e.jpg") in ("train", "dev", "test")
True
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Iterable, Mapping

from groundcap.data.captioned import CaptionedImage, read_captions_jsonl
from groundcap.data.walk import IMAGE_SUFFIXES, leaves_root, read_sidecar_caption, sidecar_path, walk_images

__all__ = [
    "IMAGE_SUFFIXES",
    "hash_split",
    "imagefolder_metadata",
    "normalize_split",
    "source_root",
    "read_captioned",
    "read_captions_csv",
    "read_imagefolder",
    "read_sidecar_folder",
    "split_counts",
]

log = logging.getLogger("groundcap.data")

_SPLIT_NAMES = {"train": "train", "training": "train", "dev": "dev", "val": "dev", "valid": "dev",
                "validation": "dev", "test": "test", "testing": "test", "none": "none", "": "none"}
_FLICKR_SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "dev": "Flickr_8k.devImages.txt",
                       "test": "Flickr_8k.testImages.txt"}
_CSV_NAMES = ("captions.txt", "captions.csv")


def hash_split(name: str) -> str:
    """A deterministic 80/10/10 ``train``/``dev``/``test`` split from a file name.

    The first 8 bytes of ``sha256(name)`` taken modulo 100: below 80 is train,
    below 90 dev, the rest test. Only the base name counts, not the folder.
    """
    bucket = int.from_bytes(hashlib.sha256(Path(name).name.encode("utf-8")).digest()[:8], "big") % 100
    return "train" if bucket < 80 else "dev" if bucket < 90 else "test"


def normalize_split(value: object, where: str = "") -> str:
    """``train``, ``dev``, ``test`` or ``none`` from the names datasets use.

    Raises:
        ValueError: for any other name, prefixed with ``where``.
    """
    key = str(value).strip().lower() if value is not None else ""
    if key not in _SPLIT_NAMES:
        raise ValueError(f"{where}unknown split {value!r}; expected train, dev/validation, test or none")
    return _SPLIT_NAMES[key]


def source_root(source: str | Path) -> Path:
    """The folder a source's image paths are relative to: the source itself or the file's folder."""
    path = Path(source).expanduser().resolve()
    return path if path.is_dir() else path.parent


def read_captioned(source: str | Path, *, images_dir: str | Path | None = None,
                   split_file: str | Path | None = None) -> list[CaptionedImage]:
    """Reads any supported layout, chosen from the path (see the module table).

    Args:
        source: A ``captions.jsonl``, ``captions.txt``/``.csv`` or
            ``metadata.jsonl`` file, or a folder holding one of them (checked
            in that order), or else a folder of images with ``.txt`` sidecars.
        images_dir: CSV only: where the images are, if not ``Images/`` or
            ``images/`` beside the file.
        split_file: CSV only: see :func:`read_captions_csv`.

    Raises:
        ValueError: when the layout cannot be told, or from the reader.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    if path.is_file():
        if path.name == "metadata.jsonl":
            return read_imagefolder(path.parent)
        if path.suffix == ".jsonl":
            return _existing(read_captions_jsonl(path), path)
        if path.suffix in (".txt", ".csv"):
            return read_captions_csv(path, images_dir=images_dir, split_file=split_file)
        raise ValueError(f"{path}: not a captions file; expected .jsonl, captions.txt or .csv")
    if (path / "captions.jsonl").is_file():
        return _existing(read_captions_jsonl(path / "captions.jsonl"), path / "captions.jsonl")
    for name in _CSV_NAMES:
        if (path / name).is_file():
            return read_captions_csv(path / name, images_dir=images_dir, split_file=split_file)
    if imagefolder_metadata(path):
        return read_imagefolder(path)
    items = read_sidecar_folder(path)
    if not items:
        raise ValueError(f"{path}: found no captions.jsonl, captions.txt, metadata.jsonl "
                         "or images with .txt sidecar captions")
    return items


def _existing(items: list[CaptionedImage], where: Path) -> list[CaptionedImage]:
    """Drops items whose image is missing, logging how many."""
    kept = [it for it in items if it.path.is_file()]
    missing = [it for it in items if not it.path.is_file()]
    if missing:
        log.warning("%s: skipped %d listed image(s) that do not exist (first: %s)",
                    where, len(missing), missing[0].path)
    return kept


def _inside(root: Path, rel: str, where: str) -> Path:
    """``root / rel`` resolved, refusing anything that leaves ``root``."""
    if not rel or "\x00" in rel:
        raise ValueError(f"{where}: empty or invalid image path {rel!r}")
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{where}: image path {rel!r} leaves {root}")
    return path


# -- (b) Flickr8k captions.txt (Kaggle) -------------------------------------


def read_captions_csv(path: str | Path, *, images_dir: str | Path | None = None,
                      split_file: str | Path | None = None) -> list[CaptionedImage]:
    """Reads the Kaggle Flickr8k ``captions.txt``: an ``image,caption`` header, one row per caption.

    Commas inside an unquoted caption are kept (everything after the first
    comma is the caption). Images are listed in order of first appearance.

    Args:
        path: The CSV file.
        images_dir: The images' folder; default ``Images/`` or ``images/``
            beside the file, else the file's own folder.
        split_file: Lines of ``file_name,split`` (comma, tab or space
            separated). Without it, ``Flickr_8k.{train,dev,test}Images.txt``
            beside the CSV are used when present, and otherwise
            :func:`hash_split`. With split lists, unlisted images get ``none``.

    Raises:
        ValueError: naming the line, for a row without a caption, a bad
            header, or an image path that leaves the images folder.
    """
    path = Path(path)
    root = _csv_images_dir(path, images_dir)
    splits = _read_split_file(Path(split_file)) if split_file is not None else _flickr_split_lists(path.parent)
    captions: dict[str, list[str]] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row or not "".join(row).strip():
                continue
            if reader.line_num == 1 and Path(row[0].strip()).suffix.lower() not in IMAGE_SUFFIXES:
                if [c.strip().lower() for c in row] != ["image", "caption"]:
                    raise ValueError(f"{where}: expected the header 'image,caption', got {','.join(row)!r}")
                continue
            name, caption = row[0].strip(), ",".join(row[1:]).strip()
            if len(row) < 2 or not name or not caption:
                raise ValueError(f"{where}: expected 'image,caption' with both non-empty, got {','.join(row)!r}")
            _inside(root, name, where)
            captions.setdefault(name, []).append(caption)
    items = []
    for name, caps in captions.items():
        split = splits.get(Path(name).name, "none") if splits is not None else hash_split(name)
        items.append(CaptionedImage((root / name).resolve(), tuple(caps), split))
    return _existing(items, path)


def _csv_images_dir(path: Path, images_dir: str | Path | None) -> Path:
    if images_dir is not None:
        root = Path(images_dir).expanduser().resolve()
        if not root.is_dir():
            raise ValueError(f"{root}: images folder does not exist")
        return root
    for name in ("Images", "images"):
        if (path.parent / name).is_dir():
            return (path.parent / name).resolve()
    return path.parent.resolve()


def _read_split_file(path: Path) -> dict[str, str]:
    out = {}
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = re.split(r"[,\t ]+", line.strip(), maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'file_name,split', got {line.strip()!r}")
            if n == 1 and parts[0].lower() in ("image", "file_name", "filename"):
                continue
            out[Path(parts[0]).name] = normalize_split(parts[1], f"{path}:{n}: ")
    return out


def _flickr_split_lists(folder: Path) -> dict[str, str] | None:
    found = {s: folder / f for s, f in _FLICKR_SPLIT_FILES.items() if (folder / f).is_file()}
    if not found:
        return None
    return {name: split for split, f in found.items() for name in f.read_text(encoding="utf-8").split()}


# -- (c) Hugging Face imagefolder --------------------------------------------


def imagefolder_metadata(root: Path) -> list[tuple[Path, str | None]]:
    """``(metadata.jsonl, split of its folder)`` at the root and in split subfolders."""
    found: list[tuple[Path, str | None]] = []
    if (root / "metadata.jsonl").is_file():
        found.append((root / "metadata.jsonl", None))
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if sub.name.lower() in _SPLIT_NAMES and (sub / "metadata.jsonl").is_file():
            found.append((sub / "metadata.jsonl", normalize_split(sub.name)))
    return found


def read_imagefolder(root: str | Path) -> list[CaptionedImage]:
    """Reads a Hugging Face imagefolder whose ``metadata.jsonl`` holds the captions.

    Each line has ``file_name`` (relative to that ``metadata.jsonl``) and the
    captions in ``text``, ``caption`` or ``captions`` (a string or a list).
    Several lines for one file add up. The split is the row's ``split``
    column, else the ``train/``, ``validation/``, ``test/`` subfolder the
    metadata or image sits in, else :func:`hash_split` when the dataset has
    no split information at all.

    Raises:
        ValueError: naming the line, for malformed JSON, a missing
            ``file_name`` or caption column, or a path that leaves ``root``.
    """
    root = Path(root).expanduser().resolve()
    metas = imagefolder_metadata(root)
    if not metas:
        raise ValueError(f"{root}: no metadata.jsonl at the root or in train/validation/test subfolders")
    captions: dict[Path, list[str]] = {}
    split_of: dict[Path, str | None] = {}
    for meta, folder_split in metas:
        with meta.open(encoding="utf-8-sig") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    path, caps, split = _metadata_row(meta, n, line, root, folder_split)
                    captions.setdefault(path, []).extend(caps)
                    if split is not None or path not in split_of:
                        split_of[path] = split
    any_split = any(s is not None for s in split_of.values())
    items = [CaptionedImage(p, tuple(caps), split_of[p] or ("none" if any_split else hash_split(p.name)))
             for p, caps in captions.items()]
    return _existing(items, root / "metadata.jsonl")


def _metadata_row(meta: Path, n: int, line: str, root: Path,
                  folder_split: str | None) -> tuple[Path, list[str], str | None]:
    where = f"{meta}:{n}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(row, dict) or not isinstance(row.get("file_name"), str):
        raise ValueError(f"{where}: expected an object with a 'file_name' string")
    column = next((c for c in ("text", "caption", "captions") if c in row), None)
    if column is None:
        raise ValueError(f"{where}: expected a 'text', 'caption' or 'captions' column")
    caps = row[column]
    caps = [caps] if isinstance(caps, str) else caps
    if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps) or not any(c.strip() for c in caps):
        raise ValueError(f"{where}: {column!r} must be a non-empty string or list of strings")
    path = _inside(meta.parent.resolve(), row["file_name"], where)
    if not path.is_relative_to(root):
        raise ValueError(f"{where}: image path {row['file_name']!r} leaves {root}")
    split = folder_split
    if "split" in row:
        split = normalize_split(row["split"], f"{where}: ")
    elif split is None:
        top = path.relative_to(root).parts[0].lower()
        split = normalize_split(top) if top in _SPLIT_NAMES and len(path.relative_to(root).parts) > 1 else None
    return path, [c.strip() for c in caps if c.strip()], split


# -- (d) images with .txt sidecars -------------------------------------------


def read_sidecar_folder(root: str | Path) -> list[CaptionedImage]:
    """Reads a folder (recursively) of ``photo.jpg`` + ``photo.txt`` pairs, sorted by path.

    Each non-empty line of the sidecar is one caption; images without a
    sidecar, or with an empty one, are left out. An image under a top-level
    ``train/``, ``validation/``/``dev/`` or ``test/`` folder takes that split;
    when no image does, every image gets :func:`hash_split`. The folder is
    walked by :func:`~groundcap.data.walk.walk_images`: hidden entries and
    linked folders are not walked, symlinks that resolve outside ``root`` are
    skipped with a warning, and a sidecar is read only when it is a regular
    file, up to :data:`~groundcap.data.walk.SIDECAR_MAX_BYTES`.
    """
    root = Path(root).expanduser().resolve()
    found: list[tuple[Path, tuple[str, ...], str | None]] = []
    escaped = 0
    for entry in walk_images(str(root)):
        image, side = Path(entry.path), Path(sidecar_path(entry.path))
        if not side.is_file():
            continue
        if entry.outside or leaves_root(str(root), str(side)):
            escaped += 1
            continue
        data = read_sidecar_caption(image) if image.is_file() else None
        if data is None:
            continue
        caps = tuple(line.strip() for line in data.decode("utf-8-sig").splitlines() if line.strip())
        parts = image.relative_to(root).parts
        top = parts[0].lower() if len(parts) > 1 else ""
        if caps:
            found.append((image, caps, _SPLIT_NAMES.get(top) if top and top != "none" else None))
    found.sort(key=lambda f: f[0])
    if escaped:
        log.warning("%s: skipped %d image(s) that resolve outside the folder", root, escaped)
    any_split = any(s is not None for _, _, s in found)
    return [CaptionedImage(p, caps, s or ("none" if any_split else hash_split(p.name))) for p, caps, s in found]


def split_counts(items: Iterable[CaptionedImage]) -> Mapping[str, int]:
    """Images per split, for summaries."""
    out: dict[str, int] = {}
    for it in items:
        out[it.split] = out.get(it.split, 0) + 1
    return out

"""Inputs from a Hugging Face dataset saved with ``save_to_disk`` (a ``Dataset`` or a ``DatasetDict``).

Each row of each split is one :class:`~groundcap.data.input_items.InputItem` with
``source = f"{split}/{index}"``. The image column is the first
``datasets.Image`` feature (or a column named ``image``/``img``); its bytes
are read undecoded, and the dataset is opened once per process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from groundcap.data.input_items import InputItem, choose_columns, find_column, manifest_item, prior_of, read_file_bytes
from groundcap.errors import ImageError, InputError

__all__ = ["is_saved_dataset", "read_dataset", "dataset_bytes"]


def is_saved_dataset(root: Path) -> bool:
    return (root / "dataset_dict.json").is_file() or (
        (root / "dataset_info.json").is_file() and (root / "state.json").is_file())


def read_dataset(root: Path, path_column: str | None, caption_column: str | None) -> list[InputItem]:
    folder = str(root)
    items = []
    for split, ds in _splits(_load_dataset(folder)):
        where = f"{folder} ({split})"
        image = _image_column(ds.features, where)
        if path_column not in (None, image):
            raise InputError(f"{where}: the image column is {image!r} (the first datasets.Image feature), "
                             f"not {path_column!r}")
        _, ccol = choose_columns(where, list(ds.column_names), image, caption_column)
        captions = ds[ccol] if ccol else [None] * len(ds)
        items.extend(InputItem(f"{split}/{i}", prior=prior_of(c), hf=(folder, split, i))
                     for i, c in enumerate(captions))
    return items


def _splits(data: Any) -> list[tuple[str, Any]]:
    """``(split, Dataset)`` in the saved order; a plain Dataset is ``train``."""
    return list(data.items()) if isinstance(data, dict) else [("train", data)]


def _image_column(features: Any, where: str) -> str:
    from datasets import Image

    for name, feature in features.items():
        if isinstance(feature, Image):
            return name
    named = find_column(list(features), ("image", "img"))
    if named is None:
        raise InputError(f"{where}: no image column (a datasets.Image feature, or one named image or img); "
                         f"found columns: {', '.join(map(repr, features)) or 'none'}")
    return named


@lru_cache(maxsize=8)
def _load_dataset(folder: str) -> Any:
    import datasets

    return datasets.load_from_disk(folder)


@lru_cache(maxsize=32)
def _image_rows(folder: str, split: str) -> tuple[Any, str]:
    """The split with only its image column, undecoded, opened once per process."""
    from datasets import Image

    ds = dict(_splits(_load_dataset(folder)))[split]
    column = _image_column(ds.features, f"{folder} ({split})")
    ds = ds.select_columns([column])
    if isinstance(ds.features[column], Image):
        ds = ds.cast_column(column, Image(decode=False))
    return ds, column


def dataset_bytes(item: InputItem) -> bytes:
    folder, split, index = item.hf  # type: ignore[misc]
    try:
        ds, column = _image_rows(folder, split)
        value = ds[index][column]
    except (FileNotFoundError, KeyError, IndexError):
        raise ImageError(item.source, "not_found", f"no row {index} in split {split!r} of {folder}") from None
    data, path = None, None
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
    elif isinstance(value, (bytes, bytearray)):
        data = value
    elif isinstance(value, str):
        path = value
    if data:
        return bytes(data)
    if not path:
        raise ImageError(item.source, "not_found", f"row {index} of {folder} ({split}) holds no image")
    # A stored path is read as a manifest's would be: relative ones must stay inside the dataset folder.
    return read_file_bytes(manifest_item(folder, path, None))

"""The caption datastore: human captions of a captioned photo set with compact embeddings of its photos.

For a query photo it finds the k most similar photos and their captions
(SmallCap-style retrieval, Ramos et al. 2023), as :class:`~groundcap.records.Neighbour`
records for the prompt and the rerankers; :mod:`groundcap.datastore.consensus`
turns them into a caption on their own (Devlin et al. 2015).

>>> resolve_datastore("none") is None
True
>>> resolve_datastore("embedded") == default_datastore_path()
True

Example:
    >>> store = open_datastore(default_datastore_path())  # doctest: +SKIP
    >>> [n.key for n in store.neighbours("photo.jpg", k=3)]  # doctest: +SKIP
    ['3385593926_d3e9c21170.jpg', '2398605966_1d0c9e6a20.jpg', '3530843182_35af07c1cf.jpg']
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from groundcap.datastore.build import BuildSummary, build_datastore
from groundcap.datastore.consensus import consensus_caption, nearest_caption
from groundcap.datastore.store import Datastore, open_datastore
from groundcap.errors import ConfigError

__all__ = ["BuildSummary", "Datastore", "build_datastore", "open_datastore", "consensus_caption", "nearest_caption",
           "default_datastore_path", "resolve_datastore", "SHIPPED"]

#: The shipped datastore's folder inside ``groundcap/datastore/weights/``.
SHIPPED = "flickr8k-224-train"


def default_datastore_path() -> Path:
    """The shipped datastore (Flickr8k-224 train); the folder may be missing in a stripped install."""
    return Path(str(importlib.resources.files("groundcap.datastore").joinpath("weights", SHIPPED)))


def resolve_datastore(setting: str | Path | None) -> Path | None:
    """The datastore a setting names: ``"embedded"`` the shipped one, ``"none"`` (or empty) none, else a folder.

    Raises:
        ConfigError: a folder that does not exist.
    """
    if setting is None or str(setting).strip().lower() in ("", "none"):
        return None
    if str(setting) == "embedded":
        return default_datastore_path()
    path = Path(setting).expanduser()
    if not path.is_dir():
        raise ConfigError(f"datastore {setting!r}: no such folder; use 'embedded', 'none' or a datastore folder")
    return path

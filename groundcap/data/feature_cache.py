"""Frozen image and text features on disk, one ``.npy`` per content key, in a folder per encoder.

The features of EfficientNet-Lite3 (images, keyed by the file's sha256) and
MiniLM (captions, keyed by the text's sha256) are computed once: training the
embedded model's heads and building or querying a caption datastore read
them back. The files live in ``root/<encoder>/<key[:2]>/<key>.npy``
(:class:`~groundcap.data.content_cache.ContentFiles`); a file that does not
load (a torn write) is recomputed.

>>> import tempfile
>>> cache = FeatureCache(tempfile.mkdtemp(), "enc")
>>> cache.lookup(["k1", "k2"], lambda missing: np.ones((len(missing), 2))).shape
(2, 2)
>>> _ = cache.lookup(["k1"], lambda missing: 1 / 0)  # a hit: nothing computed
>>> cache.hits, cache.misses
(1, 2)
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from groundcap.data.content_cache import ContentFiles

__all__ = ["FeatureCache"]


class FeatureCache:
    """Frozen features on disk, one ``.npy`` per key, in a folder per encoder.

    Args:
        root: The cache folder, or ``None`` to cache nothing.
        encoder: The encoder's name (a subfolder).
    """

    def __init__(self, root: str | Path | None, encoder: str) -> None:
        self.dir = Path(root) / encoder if root is not None else None
        self._files = ContentFiles(self.dir, ".npy") if self.dir is not None else None
        self.hits = 0
        self.misses = 0

    def _load(self, key: str) -> np.ndarray | None:
        assert self._files is not None
        try:
            data = self._files.read(key)
            return None if data is None else np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError):  # a torn write: recompute it
            return None

    def lookup(self, keys: Sequence[str], compute: Callable[[list[int]], np.ndarray]) -> np.ndarray:
        """Features for ``keys``, calling ``compute(positions)`` once for all the missing ones."""
        found: dict[int, np.ndarray] = {}
        if self._files is not None:
            for i, key in enumerate(keys):
                row = self._load(key)
                if row is not None:
                    found[i] = row
        missing = [i for i in range(len(keys)) if i not in found]
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            fresh = compute(missing)
            for i, row in zip(missing, fresh):
                found[i] = row
                if self._files is not None:
                    self._save(keys[i], row)
        return np.stack([found[i] for i in range(len(keys))]) if keys else np.zeros((0, 0), np.float32)

    def _save(self, key: str, row: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, row.astype(np.float32), allow_pickle=False)
        assert self._files is not None
        self._files.write(key, buf.getvalue())

"""An opened caption datastore: exact cosine search over its photos, returning :class:`Neighbour` records.

The search is brute force in numpy (a 5k x 256 matrix product takes well
under a millisecond); the query photo goes through the same preparation,
features, embedding and projection as the datastore's photos did, as the
manifest says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from groundcap.errors import ConfigError
from groundcap.records import Neighbour

__all__ = ["Datastore", "open_datastore", "read_captions"]


class Datastore:
    """Photos' captions and embeddings, searchable by a query photo or embedding.

    Args:
        path: The datastore folder (for messages).
        manifest: Its ``datastore.json``.
        keys: Each photo's key, in row order.
        captions: Each photo's captions.
        vectors: ``(count, dim)`` float32, unit rows.
        projection: The PCA (``mean``, ``components``) queries go through, if any.
        feature_cache: Where query photos' frozen features are cached (``None``: not at all).
    """

    def __init__(self, path: Path, manifest: dict[str, Any], keys: list[str], captions: list[tuple[str, ...]],
                 vectors: np.ndarray, projection: dict[str, np.ndarray] | None = None,
                 feature_cache: str | Path | None = None) -> None:
        if len(keys) != len(captions) or len(keys) != len(vectors):
            raise ConfigError(f"{path}: {len(keys)} keys, {len(captions)} caption rows and {len(vectors)} "
                              "vectors; the datastore is damaged, rebuild it")
        self.path, self.manifest, self.keys, self.captions = path, manifest, keys, captions
        self.vectors = vectors
        self.projection = projection
        self._rows = {k: i for i, k in enumerate(keys)}
        self._embedding: Any = None
        from groundcap.data.feature_cache import FeatureCache
        from groundcap.rerank.lit import ImageFeatures

        self._cache = FeatureCache(feature_cache, ImageFeatures.name)

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"Datastore({self.path.name!r}, {len(self)} photos, {self.embedding_name}, dim {self.dim})"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def embedding_name(self) -> str:
        return str(self.manifest["embedding"])

    @property
    def preprocess(self) -> str:
        return str(self.manifest.get("query_preprocess", "none"))

    def embed(self, images: Iterable[Any]) -> np.ndarray:
        """Unit query vectors of photos (paths, PIL images or RGB arrays), prepared as the datastore's were.

        Raises:
            ImageError: for a photo that cannot be decoded.
        """
        from groundcap.data.images import load_image
        from groundcap.datastore.build import photo_features
        from groundcap.datastore.embeddings import create_embedding
        from groundcap.datastore.storage import project

        if self._embedding is None:
            self._embedding = create_embedding(self.embedding_name)
        feats = []
        for image in images:
            rgb, info = load_image(image)
            feats.append(photo_features(self._embedding, rgb, info.sha256, self.preprocess, self._cache))
        if not feats:
            return np.zeros((0, self.dim), np.float32)
        return project(self._embedding.embed_features(np.stack(feats)), self.projection)

    def neighbours(self, image_or_embedding: Any, k: int = 5, exclude_keys: Iterable[str] = ()
                   ) -> tuple[Neighbour, ...]:
        """The ``k`` datastore photos most similar to the query, most similar first.

        Args:
            image_or_embedding: A photo (path, PIL image, RGB array) or a 1-d
                query vector of width :attr:`dim` (from :meth:`embed`).
            k: How many; fewer come back when the datastore holds fewer.
            exclude_keys: Photos never returned (a training photo must not
                retrieve itself).

        Raises:
            ConfigError: ``k`` below 1, or a vector of the wrong width.
            ImageError: a photo that cannot be decoded.
        """
        query = np.asarray(image_or_embedding) if isinstance(image_or_embedding, np.ndarray) else None
        if query is None or query.ndim != 1:
            query = self.embed([image_or_embedding])[0]
        return self.neighbours_of_vectors(query[None], k, [exclude_keys])[0]

    def neighbours_of_vectors(self, queries: np.ndarray, k: int = 5,
                              exclude_keys: Sequence[Iterable[str]] | None = None) -> list[tuple[Neighbour, ...]]:
        """:meth:`neighbours` of many ``(n, dim)`` query vectors at once; ``exclude_keys`` is one set per query."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ConfigError(f"query vectors of shape {queries.shape} for a datastore of dim {self.dim} "
                              f"({self.embedding_name}); embed photos with Datastore.embed")
        norms = np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        sims = (queries / norms) @ self.vectors.T
        out = []
        for qi in range(len(queries)):
            row = sims[qi]
            banned = [self._rows[key] for key in (exclude_keys[qi] if exclude_keys else ()) if key in self._rows]
            if banned:
                row = row.copy()
                row[banned] = -np.inf
            take = min(k, len(row) - len(set(banned)))
            top = np.argpartition(-row, take - 1)[:take] if take > 0 else np.zeros(0, int)
            top = top[np.lexsort((top, -row[top]))]
            out.append(tuple(Neighbour(self.keys[i], self.captions[i], float(np.clip(row[i], -1.0, 1.0)))
                             for i in top))
        return out


def open_datastore(path: str | Path, *, feature_cache: str | Path | None = None) -> Datastore:
    """Opens a datastore folder written by :func:`~groundcap.datastore.build.build_datastore`.

    Args:
        path: The folder.
        feature_cache: Cache query photos' frozen features here (``"default"``:
            ``$GROUNDCAP_CACHE/features``); ``None`` caches nothing.

    Raises:
        ConfigError: no datastore there, or one of a newer format or damaged.
    """
    from groundcap.datastore.build import EMBEDDINGS
    from groundcap.datastore.storage import dequantise, load_tensors

    path = Path(path).expanduser()
    manifest, keys, captions = _read_manifest_and_captions(path)
    tensors = load_tensors(path / EMBEDDINGS)
    projection = {k: tensors[k].astype(np.float32) for k in ("mean", "components")} if "components" in tensors \
        else None
    if feature_cache == "default":
        from groundcap.rerank.lit import default_feature_cache

        feature_cache = default_feature_cache()
    return Datastore(path, manifest, keys, captions, dequantise(tensors), projection, feature_cache)


def read_captions(path: str | Path) -> tuple[list[str], list[tuple[str, ...]]]:
    """A datastore's keys and captions alone, without its embeddings (what the cider scorer's idf needs).

    Raises:
        ConfigError: no datastore there, or one of a newer format.
    """
    _, keys, captions = _read_manifest_and_captions(Path(path).expanduser())
    return keys, captions


def _read_manifest_and_captions(path: Path) -> tuple[dict[str, Any], list[str], list[tuple[str, ...]]]:
    from groundcap.datastore.build import CAPTIONS, FORMAT, MANIFEST

    if not (path / MANIFEST).is_file():
        raise ConfigError(f"{path}: no caption datastore here (no {MANIFEST}); build one with "
                          "`groundcap datastore build SOURCE --out DIR`")
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    if int(manifest.get("format", 0)) > FORMAT or "embedding" not in manifest:
        raise ConfigError(f"{path}: datastore format {manifest.get('format')!r} is not one this groundcap reads")
    keys, captions = [], []
    with (path / CAPTIONS).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                keys.append(str(row["key"]))
                captions.append(tuple(row["captions"]))
    return manifest, keys, captions

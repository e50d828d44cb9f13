"""Building a caption datastore folder: captions, compact embeddings and a manifest.

A datastore folder holds three files, written into a hidden temp folder that
is renamed into place only when all three are whole:

- ``captions.jsonl``: ``{"key": ..., "captions": [...]}`` per photo, in row order;
- ``embeddings.safetensors``: the L2-normalised image embeddings (int8 with a
  scale per row by default), and the PCA projection when one was fitted;
- ``datastore.json``: the manifest (:data:`MANIFEST_FIELDS`): embedding, dims,
  count, source hash and size, query preprocessing, groundcap version.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from groundcap.data.atomic import atomic_dir, atomic_file
from groundcap.data.walk import load_counted
from groundcap.errors import ConfigError

__all__ = ["BuildSummary", "build_datastore", "MANIFEST", "CAPTIONS", "EMBEDDINGS", "FORMAT", "MANIFEST_FIELDS",
           "DEFAULT_EMBEDDING", "DEFAULT_PCA",
           "photo_features"]

log = logging.getLogger("groundcap.datastore")

MANIFEST = "datastore.json"
CAPTIONS = "captions.jsonl"
EMBEDDINGS = "embeddings.safetensors"
FORMAT = 1
#: Chosen on Flickr8k-224 dev by the consensus caption's CIDEr-D (see ``weights/DATASTORE.md``).
DEFAULT_EMBEDDING = "efficientnet-lite3"
DEFAULT_PCA = 256
MANIFEST_FIELDS = ("format", "groundcap_version", "embedding", "feature_model", "embedding_dim", "dim", "pca",
                   "storage", "count", "query_preprocess", "similarity", "source", "skipped", "built")


@dataclass(frozen=True)
class BuildSummary:
    """What :func:`build_datastore` did; ``skipped`` counts photos left out by reason."""

    out: Path
    count: int
    dim: int
    skipped: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    seconds: float = 0.0


def photo_features(embedding: Any, rgb: np.ndarray, sha256: str, preprocess: str, cache: Any) -> np.ndarray:
    """EfficientNet-Lite3 features of one decoded photo, prepared, through the feature cache.

    The cache key is the file's sha256 when the preparation left the pixels
    as they were (a 224x224 photo squashed to 224x224), else the sha256 with
    the preprocessing's name, so the cache never mixes the two.
    """
    from groundcap.datastore.embeddings import prepare_image

    prepared = prepare_image(rgb, preprocess)
    key = sha256 if prepared is rgb else f"{sha256}-{preprocess}"
    return cache.lookup([key], lambda _: embedding.features([prepared]))[0]


def build_datastore(source: str | Path, out: str | Path, *, embedding: str = DEFAULT_EMBEDDING,
                    split: str = "all", preprocess: str = "squash-224", pca: int | None = DEFAULT_PCA,
                    storage: str = "int8",
                    feature_cache: str | Path | None = "default", progress: bool = False) -> BuildSummary:
    """Embeds the photos of a captioned set and writes them, with their captions, as a datastore.

    Photos that fail to load, repeated keys and photos without a caption are
    skipped and counted, never fatal.

    Args:
        source: A folder holding ``captions.jsonl``, the file itself, or a
            ``groundcap run`` folder (see :mod:`groundcap.datastore.sources`).
        out: The datastore folder; an existing datastore there is replaced.
        embedding: A name from :func:`~groundcap.datastore.embeddings.list_embeddings`.
        split: Only photos of this split (``all`` for every one).
        preprocess: How each photo, and later each query, is prepared before
            embedding (``squash-224`` or ``none``).
        pca: Project the embeddings to this many principal components of the
            datastore's own embeddings (at most as many as there are photos
            and dims); ``None`` or 0 keeps them whole.
        storage: ``int8`` (with a scale per row), ``float16`` or ``float32``.
        feature_cache: Folder of the frozen-feature cache; ``"default"`` is
            ``$GROUNDCAP_CACHE/features``, ``None`` caches nothing.
        progress: Show a progress bar over the photos.

    Raises:
        ConfigError: an unusable source, split, embedding, storage or output
            folder, or no photo that could be embedded.
    """
    from tqdm.auto import tqdm

    from groundcap.datastore.embeddings import PREPROCESSING, create_embedding
    from groundcap.datastore.sources import read_source
    from groundcap.datastore.storage import STORAGES, fit_pca, project, quantise
    from groundcap.data.feature_cache import FeatureCache
    from groundcap.rerank.lit import ImageFeatures, default_feature_cache

    start = time.perf_counter()
    if storage not in STORAGES:
        raise ConfigError(f"unknown vector storage {storage!r}; choose one of {list(STORAGES)}")
    if preprocess not in PREPROCESSING:
        raise ConfigError(f"unknown preprocessing {preprocess!r}; choose one of {sorted(PREPROCESSING)}")
    out = Path(out)
    _check_out(out)
    rows, described = read_source(source, split)
    model = create_embedding(embedding)
    cache = FeatureCache(default_feature_cache() if feature_cache == "default" else feature_cache,
                         ImageFeatures.name)
    skipped: Counter = Counter()
    errors: list[str] = []
    kept, feats, seen = [], [], set()
    for row in tqdm(rows, desc="datastore photos", unit="img", disable=not progress):
        if row.key in seen or not row.captions:
            skipped["duplicate_key" if row.key in seen else "no_captions"] += 1
            continue
        decoded = load_counted(row.path, skipped, errors)
        if decoded is not None:
            seen.add(row.key)
            kept.append(row)
            feats.append(photo_features(model, decoded[0], decoded[1].sha256, preprocess, cache))
    if not kept:
        raise ConfigError(f"{source}: no photo could be embedded (skipped: {dict(skipped)}); first error: "
                          f"{errors[0] if errors else 'none'}")
    vectors = np.asarray(model.embed_features(np.stack(feats)), dtype=np.float32)
    pca = min(pca, *vectors.shape) if pca else None
    projection = fit_pca(vectors, pca) if pca else None
    tensors = quantise(project(vectors, projection), storage)
    if projection:  # float16 halves the shipped size; queries are projected in float32 all the same
        tensors.update(mean=projection["mean"], components=projection["components"].astype(np.float16))
    manifest = _manifest(model, vectors.shape[1], pca, storage, len(kept), preprocess, described, skipped)
    _write(out, kept, tensors, manifest)
    summary = BuildSummary(out, len(kept), int(tensors["vectors"].shape[1]), dict(sorted(skipped.items())),
                           tuple(errors), time.perf_counter() - start)
    log.info("datastore %s: %d photos, skipped %s", out, summary.count, summary.skipped)
    return summary


def _manifest(model: Any, feature_dim: int, pca: int | None, storage: str, count: int, preprocess: str,
              source: dict[str, Any], skipped: Counter) -> dict[str, Any]:
    from groundcap.version import __version__

    side = {"squash-224": "squash to 224x224 (aspect ignored, cv2 INTER_AREA), then the model's own resize"}
    return {"format": FORMAT, "groundcap_version": __version__, "embedding": model.name,
            "feature_model": "efficientnet-lite3", "embedding_dim": int(feature_dim), "dim": int(pca or feature_dim),
            "pca": pca, "storage": storage, "count": count, "query_preprocess": preprocess,
            "query_preprocess_detail": side.get(preprocess, "as decoded, then the model's own resize"),
            "similarity": "cosine", "source": source, "skipped": dict(sorted(skipped.items())),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _check_out(out: Path) -> None:
    """Refuses to replace a folder that holds something other than a datastore."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).is_file())):
        raise ConfigError(f"{out} exists and is not a datastore; choose an empty or new folder")


def _write(out: Path, rows: list, tensors: dict[str, np.ndarray], manifest: dict[str, Any]) -> None:
    """Writes the three files into ``.OUT.tmp/``, then swaps that folder in for ``out``."""
    from groundcap.datastore.storage import save_tensors

    with atomic_dir(out) as tmp:
        with atomic_file(tmp / CAPTIONS, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps({"key": row.key, "captions": list(row.captions)}, ensure_ascii=False) + "\n")
        save_tensors(tensors, tmp / EMBEDDINGS, {"groundcap_datastore": str(FORMAT)})
        with atomic_file(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

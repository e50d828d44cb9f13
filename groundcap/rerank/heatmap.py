"""How alike a set of images looks to an embedding model: a cosine similarity heatmap.

Drawn on a bare :class:`matplotlib.figure.Figure`, which renders with Agg and
never touches pyplot's global state or the user's chosen backend.

>>> import numpy as np
>>> similarity_matrix(np.array([[1.0, 0.0], [1.0, 1.0]])).astype(float).round(3).tolist()
[[1.0, 0.707], [0.707, 1.0]]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["MAX_HEATMAP_IMAGES", "similarity_matrix", "similarity_heatmap"]

log = logging.getLogger("groundcap.rerank")

#: Beyond this many rows the labels overlap and the picture stops being readable.
MAX_HEATMAP_IMAGES = 50


def similarity_matrix(embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows, as an ``(n, n)`` float32 matrix.

    Rows are L2-normalised here, so unnormalised input is fine; an all-zero
    row has similarity 0 with everything.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n, dim), got shape {emb.shape}")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)
    return np.clip(unit @ unit.T, -1.0, 1.0).astype(np.float32)


def similarity_heatmap(embeddings: np.ndarray, labels: Sequence[str], png_path: str | Path, *,
                       title: str | None = None, max_images: int = MAX_HEATMAP_IMAGES) -> Path:
    """Saves the cosine similarity matrix of ``embeddings`` as a labelled PNG heatmap.

    Args:
        embeddings: ``(n, dim)`` image embeddings, one row per label.
        labels: One tick label per row, usually the image's file name.
        png_path: Where to write the PNG; missing folders are created.
        title: Figure title; default says how many images.
        max_images: Refuse more rows than this (choose the images first).

    Returns:
        The path written.

    Raises:
        ValueError: no rows, a label count that differs from the row count,
            or more than ``max_images`` rows.
    """
    from matplotlib.figure import Figure  # matplotlib is a base dependency; imported late to keep start-up fast

    sim = similarity_matrix(embeddings)
    n = len(sim)
    if n == 0:
        raise ValueError("no embeddings to draw")
    if len(labels) != n:
        raise ValueError(f"{n} embeddings but {len(labels)} labels")
    if n > max_images:
        raise ValueError(f"{n} images are too many for a readable heatmap; choose at most {max_images}")
    side = min(24.0, 3.0 + 0.32 * n)
    fig = Figure(figsize=(side + 1.5, side))
    ax = fig.add_subplot()
    # Similarities between different photos sit in a narrow band; a fixed -1..1 scale would flatten it.
    vmin = float(sim.min()) if n > 1 else 0.0
    image = ax.imshow(sim, cmap="viridis", vmin=min(vmin, 0.999), vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    fontsize = 9 if n <= 12 else 7 if n <= 25 else 6
    ax.set_xticks(range(n), [str(s) for s in labels], rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), [str(s) for s in labels], fontsize=fontsize)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if sim[i, j] > (vmin + 1.0) / 2 else "white")
    ax.set_title(title or f"Image embedding similarity ({n} images)")
    fig.tight_layout()
    out = Path(png_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)
    log.info("wrote a %dx%d similarity heatmap to %s", n, n, out)
    return out

"""Image-text retrieval: Recall@K in both directions, as reported for CLIP on Flickr and COCO.

Image → text: an image is a hit at K when ANY of its captions is among the K
texts most similar to it. Text → image: a caption is a hit when its image is
among the K images most similar to it. Ties count against the hit (a
positive only ranks above the negatives that score strictly lower), so a
model that scores everything alike gets chance, not 100 %.

>>> import numpy as np
>>> e = np.eye(3, dtype=np.float32)
>>> recall_at_k(e, e, [0, 1, 2], ks=(1,))
{'i2t_R@1': 100.0, 't2i_R@1': 100.0, 'images': 3, 'texts': 3}
"""

from __future__ import annotations

import time
from math import comb
from typing import Any, Sequence

import numpy as np

__all__ = ["recall_at_k", "chance_recall_at_k", "evaluate_retrieval", "retrieval_table"]


def _check(image_emb: np.ndarray, text_emb: np.ndarray, text_to_image: np.ndarray) -> None:
    if image_emb.ndim != 2 or text_emb.ndim != 2 or image_emb.shape[1] != text_emb.shape[1]:
        raise ValueError(f"expected (n, d) image and (m, d) text embeddings, "
                         f"got {image_emb.shape} and {text_emb.shape}")
    if text_to_image.shape != (len(text_emb),):
        raise ValueError(f"text_to_image needs one image index per text ({len(text_emb)}), got {text_to_image.shape}")
    if len(text_to_image) and (text_to_image.min() < 0 or text_to_image.max() >= len(image_emb)):
        raise ValueError(f"text_to_image holds indexes outside 0..{len(image_emb) - 1}")
    if len(image_emb) and np.bincount(text_to_image, minlength=len(image_emb)).min() == 0:
        raise ValueError("every image needs at least one caption")


def recall_at_k(image_emb: np.ndarray, text_emb: np.ndarray, text_to_image: Sequence[int],
                ks: Sequence[int] = (1, 5, 10)) -> dict[str, Any]:
    """Recall@K in percent, image→text (``i2t_R@K``) and text→image (``t2i_R@K``).

    Args:
        image_emb: ``(n, d)`` image embeddings (normalised for cosine similarity).
        text_emb: ``(m, d)`` text embeddings.
        text_to_image: For each text, the index of its image.
        ks: The K values.

    Raises:
        ValueError: for mismatched shapes, bad indexes, or an image without captions.
    """
    image_emb = np.asarray(image_emb, dtype=np.float64)
    text_emb = np.asarray(text_emb, dtype=np.float64)
    owner = np.asarray(text_to_image, dtype=np.int64)
    _check(image_emb, text_emb, owner)
    sim = image_emb @ text_emb.T  # (n images, m texts)
    positive = owner[None, :] == np.arange(len(image_emb))[:, None]
    # image -> text: negatives scoring at least as high as the best caption of the image
    best = np.where(positive, sim, -np.inf).max(axis=1)
    i2t_rank = (np.where(positive, -np.inf, sim) >= best[:, None]).sum(axis=1)
    # text -> image: other images scoring at least as high as the caption's own image
    own = sim[owner, np.arange(len(owner))]
    t2i_rank = (np.where(positive, -np.inf, sim) >= own[None, :]).sum(axis=0)
    out: dict[str, Any] = {}
    for k in ks:
        out[f"i2t_R@{k}"] = round(100.0 * float(np.mean(i2t_rank < k)), 2) if len(i2t_rank) else 0.0
    for k in ks:
        out[f"t2i_R@{k}"] = round(100.0 * float(np.mean(t2i_rank < k)), 2) if len(t2i_rank) else 0.0
    out["images"], out["texts"] = int(len(image_emb)), int(len(text_emb))
    return out


def chance_recall_at_k(text_to_image: Sequence[int], ks: Sequence[int] = (1, 5, 10)) -> dict[str, Any]:
    """Expected Recall@K of a random ranking, for the same images and captions.

    Image→text: 1 - C(m - c, K) / C(m, K) for an image with c of the m
    captions, averaged over images; text→image: K / n.

    >>> chance_recall_at_k([0, 0, 1, 1], ks=(1,))
    {'i2t_R@1': 50.0, 't2i_R@1': 50.0, 'images': 2, 'texts': 4}
    """
    owner = np.asarray(text_to_image, dtype=np.int64)
    n, m = (int(owner.max()) + 1 if len(owner) else 0), len(owner)
    counts = np.bincount(owner, minlength=n) if n else np.zeros(0, dtype=np.int64)
    out: dict[str, Any] = {}
    for k in ks:
        hit = [1.0 - comb(m - c, k) / comb(m, k) if k <= m else 1.0 for c in counts]
        out[f"i2t_R@{k}"] = round(100.0 * float(np.mean(hit)), 2) if n else 0.0
    for k in ks:
        out[f"t2i_R@{k}"] = round(100.0 * min(1.0, k / n), 2) if n else 0.0
    out["images"], out["texts"] = n, m
    return out


def evaluate_retrieval(model: Any, items: Sequence[Any], ks: Sequence[int] = (1, 5, 10),
                       batch_size: int = 32) -> dict[str, Any]:
    """Recall@K of an :class:`~groundcap.rerank.models.ImageTextModel` on captioned images.

    Args:
        model: Anything with ``embed_images`` and ``embed_texts`` (and a ``name``).
        items: :class:`~groundcap.data.captioned.CaptionedImage` items; each
            image is decoded once, with :func:`~groundcap.data.images.load_image`.
        ks: The K values.
        batch_size: Images decoded and embedded at a time.

    Returns:
        :func:`recall_at_k`'s dict plus ``model``, ``seconds`` and ``chance``.
    """
    from groundcap.data.images import load_image

    start = time.perf_counter()
    items = [it for it in items if it.captions]
    chunks = []
    for i in range(0, len(items), batch_size):
        chunks.append(model.embed_images([load_image(it.path)[0] for it in items[i:i + batch_size]]))
    texts = [cap for it in items for cap in it.captions]
    owner = [i for i, it in enumerate(items) for _ in it.captions]
    image_emb = np.concatenate(chunks) if chunks else np.zeros((0, getattr(model, "dim", 1)), np.float32)
    text_emb = model.embed_texts(texts) if texts else np.zeros((0, image_emb.shape[1]), np.float32)
    out = recall_at_k(image_emb, text_emb, owner, ks)
    out["model"] = getattr(model, "name", type(model).__name__)
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["chance"] = chance_recall_at_k(owner, ks)
    return out


def retrieval_table(rows: dict[str, dict[str, Any]], ks: Sequence[int] = (1, 5, 10)) -> str:
    """A Markdown table of Recall@K rows (name → :func:`recall_at_k` dict).

    >>> print(retrieval_table({"chance": {"i2t_R@1": 10.0, "t2i_R@1": 2.0}}, ks=(1,)))
    | model | i2t R@1 | t2i R@1 |
    |---|---|---|
    | chance | 10.0 | 2.0 |
    """
    cols = [f"i2t_R@{k}" for k in ks] + [f"t2i_R@{k}" for k in ks]
    lines = ["| model | " + " | ".join(c.replace("_", " ") for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.1f}" for c in cols) + " |")
    return "\n".join(lines)

"""Retrieval-only captions, the baselines a retrieval-augmented captioner has to beat.

- ``nearest``: the first caption of the most similar datastore photo;
- ``consensus``: the caption the k nearest photos agree on (Devlin et al. 2015),
  agreement being mean n-gram F1;
- ``cider``: the same consensus with CIDEr-D under the datastore's idf as the
  agreement (the utility the ranking's cider scorer uses).

Both copy a human caption of another photo, so they are fluent by
construction; what they measure is how much of a photo an embedding's
neighbourhood already says.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from groundcap.data.captioned import CaptionedImage
from groundcap.datastore.consensus import consensus_caption, nearest_caption
from groundcap.datastore.store import Datastore
from groundcap.errors import ConfigError, ImageError
from groundcap.records import Neighbour

__all__ = ["BASELINES", "DEFAULT_K", "retrieval_predictions", "memoised_agreement"]

#: Neighbours the consensus is taken over; chosen on Flickr8k-224 dev (see DATASTORE.md).
DEFAULT_K = 10
BASELINES: dict[str, Callable[..., str]] = {"nearest": nearest_caption, "consensus": consensus_caption,
                                            "cider": consensus_caption}


def memoised_agreement(corpus: Any = None) -> Callable[[str, str], float]:
    """An agreement of two captions remembering each pair (queries share neighbours).

    Without ``corpus``, :func:`~groundcap.rerank.consensus.ngram_agreement`;
    with a :class:`~groundcap.text.cider.CiderCorpus`, the mean of the two
    directions' CIDEr-D (the metric clips counts, so it is not symmetric).
    """
    from groundcap.rerank.consensus import ngram_agreement

    def cider(a: str, b: str) -> float:
        return (corpus.score(a, [b]) + corpus.score(b, [a])) / 2

    measure = ngram_agreement if corpus is None else cider
    seen: dict[tuple[str, str], float] = {}

    def agreement(a: str, b: str) -> float:
        pair = (a, b) if a <= b else (b, a)
        if pair not in seen:
            seen[pair] = measure(a, b)
        return seen[pair]

    return agreement


def retrieval_predictions(items: Sequence[CaptionedImage], datastore: Datastore, *, baseline: str = "consensus",
                          k: int = DEFAULT_K, exclude_self: bool = True, progress: bool = False
                          ) -> tuple[dict[str, str], dict[str, tuple[Neighbour, ...]], dict[str, str], float]:
    """One retrieved caption per item.

    Args:
        items: The photos to caption (ids are their file names, as in
            :func:`~groundcap.eval.caption_eval.score_items`).
        datastore: Where the captions come from.
        baseline: ``nearest``, ``consensus`` or ``cider``.
        k: Neighbours retrieved (``nearest`` uses the first).
        exclude_self: Never retrieve a photo whose key is the item's own file
            name (when the items are in the datastore).
        progress: Show a tqdm bar over the photos.

    Returns:
        ``(predictions, neighbours, errors, seconds_per_image)``: id → caption,
        id → the neighbours used, id → error for photos that failed to decode,
        and the mean wall time of embedding, search and choice per photo.

    Raises:
        ConfigError: an unknown baseline.
    """
    from tqdm.auto import tqdm

    if baseline not in BASELINES:
        raise ConfigError(f"unknown retrieval baseline {baseline!r}; choose one of {sorted(BASELINES)}")
    choose = BASELINES[baseline]
    extra: dict[str, Any] = {}
    if baseline == "consensus":
        extra["agreement"] = memoised_agreement()
    elif baseline == "cider":
        from groundcap.text.cider import CiderCorpus

        extra["agreement"] = memoised_agreement(CiderCorpus(datastore.captions))
    predictions: dict[str, str] = {}
    found: dict[str, tuple[Neighbour, ...]] = {}
    errors: dict[str, str] = {}
    start = time.perf_counter()
    for it in tqdm(items, desc=f"{baseline} captions", unit="img", disable=not progress):
        name = Path(it.path).name
        try:
            near = datastore.neighbours(it.path, k, exclude_keys=(name,) if exclude_self else ())
        except ImageError as e:
            errors[name] = str(e)
            continue
        found[name] = near
        predictions[name] = choose(near, **extra)
    return predictions, found, errors, (time.perf_counter() - start) / max(1, len(items))

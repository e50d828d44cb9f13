"""Captions straight from the neighbours: the nearest one's, or the one they agree on.

Devlin et al. (2015, "Language Models for Image Captioning: The Quirks and What
Works") found that copying a caption of the nearest training photos is a strong
baseline when the pick is the *consensus* caption: among all captions of the
k nearest photos, the one with the highest mean n-gram agreement with the
captions of the other photos. The agreement is
:func:`~groundcap.rerank.consensus.ngram_agreement` (mean n-gram F1).

>>> from groundcap.records import Neighbour
>>> near = [Neighbour("a.jpg", ("a red car in snow .", "a dog runs on grass ."), 0.9),
...         Neighbour("b.jpg", ("a dog runs on the grass .",), 0.8),
...         Neighbour("c.jpg", ("two dogs run on grass .",), 0.7)]
>>> nearest_caption(near)
'a red car in snow .'
>>> consensus_caption(near)
'a dog runs on grass .'
"""

from __future__ import annotations

from typing import Callable, Sequence

from groundcap.records import Neighbour
from groundcap.rerank.consensus import ngram_agreement

__all__ = ["nearest_caption", "consensus_caption", "consensus_scores"]

Agreement = Callable[[str, str], float]


def nearest_caption(neighbours: Sequence[Neighbour]) -> str:
    """The first caption of the most similar neighbour.

    Raises:
        ValueError: when there are no neighbours.
    """
    if not neighbours:
        raise ValueError("no neighbours to take a caption from")
    return max(neighbours, key=lambda n: n.similarity).captions[0]


def consensus_scores(neighbours: Sequence[Neighbour], agreement: Agreement = ngram_agreement
                     ) -> list[tuple[str, float]]:
    """Every caption of the neighbours with its mean agreement with the other photos' captions.

    A caption is not compared with its own photo's captions (they would vote
    for their photo, not for what the neighbourhood shows). With a single
    neighbour its captions are compared with each other instead.

    Args:
        neighbours: The retrieved photos, nearest first.
        agreement: A symmetric similarity of two captions; the default is
            mean n-gram F1, n = 1..4. Each pair is scored once.

    Returns:
        ``(caption, score)`` in the neighbours' order.
    """
    owners = [i for i, n in enumerate(neighbours) for _ in n.captions]
    texts = [c for n in neighbours for c in n.captions]
    alone = len(neighbours) == 1
    totals = [0.0] * len(texts)
    counts = [0] * len(texts)
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if owners[i] == owners[j] and not alone:
                continue
            a = agreement(texts[i], texts[j])
            totals[i] += a
            totals[j] += a
            counts[i] += 1
            counts[j] += 1
    return [(t, s / c if c else 0.0) for t, s, c in zip(texts, totals, counts)]


def consensus_caption(neighbours: Sequence[Neighbour], agreement: Agreement = ngram_agreement) -> str:
    """The neighbours' caption that agrees most with the other photos' captions (ties: the nearer one).

    Raises:
        ValueError: when there are no neighbours.
    """
    if not neighbours:
        raise ValueError("no neighbours to take a caption from")
    ordered = sorted(neighbours, key=lambda n: -n.similarity)
    scored = consensus_scores(ordered, agreement)
    best = max(range(len(scored)), key=lambda i: (scored[i][1], -i))
    return scored[best][0]

"""Consensus (minimum Bayes risk) choice among an image's own candidates.

Sampled captions scatter around what the model believes; the candidate that
agrees most with the others is the one least likely to carry a one-off
invention. This is minimum Bayes risk decoding with an n-gram agreement as the
utility, as used for caption metrics (Kumar & Byrne 2004; Freitag et al. 2022).
It needs no model and no reference, only N ≥ 3 usable candidates.

>>> from groundcap.records import Candidate
>>> cands = [Candidate("a dog runs on the grass"), Candidate("a dog runs through grass"),
...          Candidate("a red car parked in snow")]
>>> [round(s, 2) for s in ConsensusScorer().score(None, None, cands)]
[0.2, 0.2, 0.04]
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from groundcap.records import Candidate
from groundcap.rerank.base import Scorer

__all__ = ["ConsensusScorer", "ngram_agreement"]

_WORD = re.compile(r"[a-z0-9']+")


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def ngram_agreement(a: str, b: str, max_n: int = 4) -> float:
    """Mean over n = 1..max_n of the n-gram F1 between two captions, in [0, 1].

    >>> ngram_agreement("a dog on grass", "a dog on grass")
    1.0
    >>> ngram_agreement("a dog", "two cats")
    0.0
    """
    wa, wb = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    scores = []
    for n in range(1, max_n + 1):
        ga, gb = _ngrams(wa, n), _ngrams(wb, n)
        total_a, total_b = sum(ga.values()), sum(gb.values())
        if not total_a or not total_b:
            continue
        overlap = sum((ga & gb).values())
        scores.append(2 * overlap / (total_a + total_b))
    return sum(scores) / max_n if scores else 0.0


class ConsensusScorer(Scorer):
    """Each usable candidate's mean n-gram agreement with the other usable ones, and with retrieved captions.

    Without neighbours this is MBR over the image's own candidates. Given the
    photos a caption datastore found near this one (:meth:`score_in_context`),
    the captions people wrote for them join as references: the score is
    ``(1 - r) * agreement with the other candidates + r * agreement with the
    retrieved captions``, the consensus idea of Devlin et al. (2015) applied to
    the LLM's candidates.

    Args:
        max_n: Longest n-gram compared.
        min_candidates: Below this many usable candidates there is no
            consensus among them; without neighbours every score is then ``None``,
            with neighbours only the retrieved captions are compared.
        retrieved_weight: ``r`` above, in [0, 1].

    >>> from groundcap.records import Neighbour
    >>> snow = [Neighbour("a.jpg", ("a dog runs through the snow .", "a dog in snow ."), 0.8)]
    >>> cands = [Candidate("a dog runs on the grass"), Candidate("a dog runs through the snow")]
    >>> [round(s, 2) for s in ConsensusScorer().score_in_context(None, None, cands, snow)[0]]
    [0.25, 0.61]
    """

    name = "consensus"

    def __init__(self, max_n: int = 4, min_candidates: int = 3, retrieved_weight: float = 0.5) -> None:
        if not 0.0 <= retrieved_weight <= 1.0:
            raise ValueError(f"retrieved_weight must be in [0, 1], got {retrieved_weight}")
        self.max_n = max_n
        self.min_candidates = min_candidates
        self.retrieved_weight = retrieved_weight

    def _agreement(self, text: str, others: Sequence[str]) -> float:
        return sum(ngram_agreement(text, o, self.max_n) for o in others) / len(others)

    def score(self, image, facts, candidates: Sequence[Candidate]) -> list[float | None]:
        return self.score_in_context(image, facts, candidates, ())[0]

    def score_in_context(self, image, facts, candidates: Sequence[Candidate], neighbours=()):
        usable = [i for i, c in enumerate(candidates) if c.usable]
        references = [c for n in neighbours for c in n.captions]
        among = len(usable) >= self.min_candidates
        out: list[float | None] = [None] * len(candidates)
        if not among and not references:
            return out, None
        r = self.retrieved_weight
        for i in usable:
            text = candidates[i].text
            own = self._agreement(text, [candidates[j].text for j in usable if j != i]) if among else None
            retrieved = self._agreement(text, references) if references else None
            out[i] = retrieved if own is None else own if retrieved is None else (1 - r) * own + r * retrieved
        return out, None

"""Consensus reranking with CIDEr-D: the candidate people's captions of similar photos would score best.

Devlin et al. (2015) caption a photo with the neighbour caption that agrees
most with the other neighbours' captions. Here the LLM's candidates are the
choices and the retrieved photos' human captions the references: each
candidate scores its CIDEr-D against them, with the idf of the datastore's
whole caption corpus. Without neighbours the other candidates are the
references (minimum Bayes risk with CIDEr-D as the utility).

On Flickr8k-224 dev, choosing among the 16 candidates of the shipped writer by
this score against the 15 nearest photos' captions (with grounding 0.3 and
clip 0.1) gave CIDEr-D 50.8 where the n-gram consensus gave 43.9 on the same
candidates (see docs/quality.md).

>>> from groundcap.records import Candidate, Neighbour
>>> snow = [Neighbour("a.jpg", ("a dog runs through the snow .", "a dog in the snow ."), 0.8)]
>>> cands = [Candidate("a dog runs on the grass"), Candidate("a dog runs through the snow")]
>>> scores, _ = CiderScorer().score_in_context(None, None, cands, snow)
>>> scores[1] > scores[0]
True
"""

from __future__ import annotations

from typing import Sequence

from groundcap.records import Candidate
from groundcap.rerank.base import Scorer
from groundcap.text.cider import CiderCorpus

__all__ = ["CiderScorer"]


class CiderScorer(Scorer):
    """Each usable candidate's CIDEr-D against the retrieved captions (or, without them, the other candidates).

    Args:
        corpus: The caption corpus whose idf weighs the n-grams: one group of
            captions per photo (a datastore's ``captions``), or a built
            :class:`~groundcap.text.cider.CiderCorpus`. Empty: every n-gram
            weighs the same.
        min_candidates: Without neighbours, below this many usable
            candidates there is no consensus to measure and every score is ``None``.
    """

    name = "cider"

    def __init__(self, corpus: Sequence[Sequence[str]] | CiderCorpus = (), min_candidates: int = 3) -> None:
        self._source = corpus
        self._corpus: CiderCorpus | None = corpus if isinstance(corpus, CiderCorpus) else None
        self.min_candidates = min_candidates

    @property
    def corpus(self) -> CiderCorpus:
        """The idf, counted on first use (about a second for 5,000 photos of 5 captions)."""
        if self._corpus is None:
            self._corpus = CiderCorpus(self._source)
        return self._corpus

    def score(self, image, facts, candidates: Sequence[Candidate]) -> list[float | None]:
        return self.score_in_context(image, facts, candidates, ())[0]

    def score_in_context(self, image, facts, candidates: Sequence[Candidate], neighbours=()):
        usable = [i for i, c in enumerate(candidates) if c.usable]
        references = [c for n in neighbours for c in n.captions]
        out: list[float | None] = [None] * len(candidates)
        if not references and len(usable) < self.min_candidates:
            return out, None
        corpus = self.corpus
        for i in usable:
            refs = references or [candidates[j].text for j in usable if j != i]
            out[i] = corpus.score(candidates[i].text, refs)
        return out, None

"""The scorer interface and the ranking that combines scorers.

A scorer gives each candidate a number (higher is better) or ``None`` when it
cannot judge it. :func:`rank` combines them with the configured weights and
orders the candidates: usable ones first, by combined score, ties kept in
generation order (so the greedy decode wins a tie). A scorer that judges
claims (``grounding``) also returns them, and :func:`rank` puts them on the
candidates it returns.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Sequence

import numpy as np

from groundcap.records import Candidate, Claim, Facts, Neighbour

__all__ = ["Scorer", "LogprobScorer", "rank"]


class Scorer(abc.ABC):
    """Judges candidate captions of one image."""

    name: str = ""

    @abc.abstractmethod
    def score(self, image: np.ndarray | None, facts: Facts, candidates: Sequence[Candidate]) -> list[float | None]:
        """One score per candidate, higher is better; ``None`` for "cannot judge"."""

    def score_with_claims(self, image: np.ndarray | None, facts: Facts, candidates: Sequence[Candidate]
                          ) -> tuple[list[float | None], list[tuple[Claim, ...]] | None]:
        """The scores, and the claims each candidate was judged on (``None`` when the scorer reads none).

        Scorers that check claims override this so :func:`rank` gets scores
        and claims from one pass.
        """
        return self.score(image, facts, candidates), None

    def score_in_context(self, image: np.ndarray | None, facts: Facts, candidates: Sequence[Candidate],
                         neighbours: Sequence[Neighbour] = ()
                         ) -> tuple[list[float | None], list[tuple[Claim, ...]] | None]:
        """:meth:`score_with_claims`, given also the photos a caption datastore found near this one.

        Only scorers that compare with the neighbours' captions override it;
        the others ignore ``neighbours``.
        """
        return self.score_with_claims(image, facts, candidates)


class LogprobScorer(Scorer):
    """The generator's own mean token log-probability: how sure the LLM was."""

    name = "logprob"

    def score(self, image, facts, candidates):
        return [c.logprob if c.usable else None for c in candidates]


def rank(candidates: Sequence[Candidate], scorers: Sequence[Scorer], weights: Sequence[float],
         image: np.ndarray | None, facts: Facts, neighbours: Sequence[Neighbour] = ()) -> list[Candidate]:
    """Scores and orders candidates.

    ``neighbours`` are the datastore photos retrieved for this image, for
    the scorers that compare candidates with their captions.

    Each comes back with ``scores`` and ``total`` set, and with ``claims``
    set when a scorer judged claims (those of every such scorer, in scorer
    order; otherwise the candidate keeps the claims it had).
    """
    if len(weights) != len(scorers):
        raise ValueError(f"{len(scorers)} scorers but {len(weights)} weights")
    judged = [s.score_in_context(image, facts, candidates, neighbours) for s in scorers]
    per_scorer = [vals for vals, _ in judged]
    per_claims = [claims for _, claims in judged if claims is not None]
    scored = []
    for i, cand in enumerate(candidates):
        scores = {s.name: v for s, vals in zip(scorers, per_scorer) if (v := vals[i]) is not None}
        parts = [w * vals[i] for w, vals in zip(weights, per_scorer) if vals[i] is not None]
        total = float(sum(parts)) if parts and cand.usable else None
        claims = tuple(c for found in per_claims for c in found[i]) if per_claims else cand.claims
        scored.append(dataclasses.replace(cand, scores={**cand.scores, **scores}, total=total, claims=claims))
    order = sorted(range(len(scored)), key=lambda i: (
        not scored[i].usable, scored[i].total is None, -(scored[i].total or 0.0), i))
    return [scored[i] for i in order]

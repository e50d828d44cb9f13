"""The scorer interface and the ranking that combines scorers.

A scorer gives each candidate a number (higher is better) or ``None`` when it
cannot judge it. :func:`rank` combines them with the configured weights and
orders the candidates: usable ones first, by combined score, ties kept in
generation order (so the greedy decode wins a tie).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Sequence

import numpy as np

from groundcap.records import Candidate, Facts

__all__ = ["Scorer", "LogprobScorer", "rank"]


class Scorer(abc.ABC):
    """Judges candidate captions of one image."""

    name: str = ""

    @abc.abstractmethod
    def score(self, image: np.ndarray | None, facts: Facts, candidates: Sequence[Candidate]) -> list[float | None]:
        """One score per candidate, higher is better; ``None`` for "cannot judge"."""


class LogprobScorer(Scorer):
    """The generator's own mean token log-probability: how sure the LLM was."""

    name = "logprob"

    def score(self, image, facts, candidates):
        return [c.logprob if c.usable else None for c in candidates]


def rank(candidates: Sequence[Candidate], scorers: Sequence[Scorer], weights: Sequence[float],
         image: np.ndarray | None, facts: Facts) -> list[Candidate]:
    """Scores and orders candidates; each comes back with ``scores`` and ``total`` set."""
    if len(weights) != len(scorers):
        raise ValueError(f"{len(scorers)} scorers but {len(weights)} weights")
    per_scorer = [s.score(image, facts, candidates) for s in scorers]
    scored = []
    for i, cand in enumerate(candidates):
        scores = {s.name: v for s, vals in zip(scorers, per_scorer) if (v := vals[i]) is not None}
        parts = [w * vals[i] for w, vals in zip(weights, per_scorer) if vals[i] is not None]
        total = float(sum(parts)) if parts and cand.usable else None
        scored.append(dataclasses.replace(cand, scores={**cand.scores, **scores}, total=total))
    order = sorted(range(len(scored)), key=lambda i: (
        not scored[i].usable, scored[i].total is None, -(scored[i].total or 0.0), i))
    return [scored[i] for i in order]

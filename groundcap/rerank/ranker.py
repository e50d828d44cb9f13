"""The ranking stage: score an image's candidates and choose its caption.

>>> from groundcap.config import RerankConfig
>>> from groundcap.records import Candidate, Facts, ImageInfo
>>> ranker = Ranker(RerankConfig(scorers=("logprob",), weights=(1.0,)))
>>> facts = Facts(ImageInfo(640, 480, "0"))
>>> ranker.choose([Candidate("A dog.", "ok", logprob=-2.0), Candidate("A cat.", "ok", logprob=-0.5)],
...               None, facts).caption
'A cat.'
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from groundcap.config import RerankConfig, SpatialConfig
from groundcap.describe import template_caption
from groundcap.records import Candidate, CaptionResult, Facts, Neighbour, Proposal
from groundcap.rerank import create_scorers, rank
from groundcap.rerank.base import Scorer
from groundcap.timing import StageTimer

__all__ = ["Ranker", "choose"]


class Ranker:
    """Scores candidates with the configured scorers and weights, and picks the best.

    Args:
        config: Which scorers, their weights, and the image-text model of the clip scorer.
        spatial: The facts' spatial thresholds, which the grounding check judges relations by.
        scorers: Already built scorers to use instead of ``config.scorers`` (weights still from ``config``).
        corpus: The caption datastore's captions, one group per photo (the cider scorer's idf).
    """

    def __init__(self, config: RerankConfig | None = None, spatial: SpatialConfig | None = None, *,
                 scorers: Sequence[Scorer] | None = None, corpus: Sequence[Sequence[str]] = ()) -> None:
        self.config = config or RerankConfig()
        self.scorers = list(scorers) if scorers is not None else create_scorers(self.config, spatial, corpus)
        self.weights = tuple(self.config.weights)

    def choose(self, candidates: Sequence[Candidate], image: np.ndarray | None, facts: Facts,
               neighbours: Sequence[Neighbour] = ()) -> CaptionResult:
        """One image's ranked candidates and chosen caption (see :func:`choose`)."""
        return choose(candidates, self.scorers, self.weights, image, facts, neighbours)

    def decide(self, proposals: Sequence[Proposal], arrays: Sequence[np.ndarray | None], facts: Sequence[Facts],
               *, timer: StageTimer | None = None, models: Sequence[tuple[str, str]] | None = None,
               also: Sequence[StageTimer] = ()) -> list[CaptionResult]:
        """Each image's caption from its proposal: its candidates ranked, with the proposal's prompt and neighbours.

        Args:
            proposals: One per image, from the generation step.
            arrays: The images (``None`` where there is no image for the clip scorer).
            facts: The images' facts, which the grounding check judges claims against.
            timer: The batch's stage timer: the ranking is timed into it as ``rerank`` (and into each of
                ``also``), and each result's ``timings`` become its seconds per image of the batch.
            models: ``(role, model id)`` pairs stamped on each result.
        """
        with (timer or StageTimer()).stage("rerank", *also):
            ranked = [dataclasses.replace(self.choose(p.candidates, array, f, p.neighbours), prompt=p.prompt,
                                          neighbours=p.neighbours)
                      for p, array, f in zip(proposals, arrays, facts)]
        stamp: dict = {}
        if timer is not None:
            stamp["timings"] = timer.per_image(len(ranked))
        if models is not None:
            stamp["models"] = tuple(models)
        return [dataclasses.replace(r, **stamp) for r in ranked] if stamp else ranked

    def rerank(self, result: CaptionResult, image: np.ndarray | None) -> CaptionResult:
        """Ranks a result's candidates again; a template fallback an earlier ranking added is dropped first.

        The prompt, models, timings and neighbours of ``result`` are kept, so
        the same generations can be compared under different scorers.
        """
        cands = [dataclasses.replace(c, scores={}, total=None, claims=())
                 for c in result.candidates if c.status != "fallback"]
        chosen = self.choose(cands, image, result.facts, result.neighbours)
        return dataclasses.replace(chosen, prompt=result.prompt, models=result.models, timings=result.timings,
                                   neighbours=result.neighbours)


def choose(candidates: Sequence[Candidate], scorers: Sequence[Scorer], weights: Sequence[float],
           image: np.ndarray | None, facts: Facts, neighbours: Sequence[Neighbour] = ()) -> CaptionResult:
    """Ranks one image's candidates and picks the best; the template sentence when none is usable.

    The status is ``fallback`` when the model answered but nothing was usable,
    and ``error`` when every candidate is a generator failure (an endpoint
    that never answered): that image failed and is worth retrying.
    """
    ranked = rank(candidates, scorers, weights, image, facts, neighbours)
    status, detail = "ok", ""
    if not ranked or not ranked[0].usable:
        why = "; ".join(sorted({f"{c.status}: {c.detail}" for c in ranked})) or "no candidates"
        failures = list(dict.fromkeys(c.detail for c in ranked if c.status == "error"))
        answered = any(c.status != "error" for c in ranked)
        ranked = [Candidate(template_caption(facts), "fallback", source="template",
                            detail="no usable LLM candidate")] + ranked
        if failures and not answered:
            status, detail = "error", f"generation failed: {'; '.join(failures)}"
        else:
            status, detail = "fallback", f"every candidate was unusable ({why})"
    return CaptionResult(ranked[0].text, 0, tuple(ranked), facts, status=status, detail=detail)

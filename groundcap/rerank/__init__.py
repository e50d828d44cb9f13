"""Choosing the best candidate: scorers behind :func:`create_scorer`, combined by :func:`rank`.

>>> from groundcap.rerank import list_scorers
>>> list_scorers()
['cider', 'clip', 'consensus', 'grounding', 'logprob']
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from groundcap.config import RerankConfig, SpatialConfig
from groundcap.registry import Registry
from groundcap.rerank.base import LogprobScorer, Scorer, rank

__all__ = ["Scorer", "LogprobScorer", "rank", "create_scorer", "create_scorers", "register_scorer", "list_scorers"]

_REGISTRY: Registry[Callable[..., Scorer]] = Registry("scorer", {
    "cider": "groundcap.rerank.cider:CiderScorer",
    "clip": "groundcap.rerank.clip:ClipScorer",
    "consensus": "groundcap.rerank.consensus:ConsensusScorer",
    "grounding": "groundcap.rerank.grounding:GroundingScorer",
    "logprob": "groundcap.rerank.base:LogprobScorer",
})


def register_scorer(name: str, factory: Callable[..., Scorer]) -> None:
    """Adds a scorer; a name can be registered once."""
    _REGISTRY.register(name, factory)


def list_scorers() -> list[str]:
    return _REGISTRY.names()


def create_scorer(name: str, **options: Any) -> Scorer:
    """Builds a registered scorer; ``options`` go to its factory (``model=...`` for ``clip``)."""
    return _REGISTRY.get(name)(**options)


def create_scorers(config: RerankConfig, spatial: SpatialConfig | None = None,
                   corpus: Sequence[Sequence[str]] = ()) -> list[Scorer]:
    """The scorers a :class:`~groundcap.config.RerankConfig` names, in order, with their options.

    Args:
        config: Which scorers, their weights, and the clip scorer's model.
        spatial: The facts' spatial thresholds, which the grounding scorer
            judges relations by (the defaults when ``None``).
        corpus: The caption datastore's captions, one group per photo, whose
            idf the cider scorer weighs n-grams by (empty: all alike).

    >>> [s.name for s in create_scorers(RerankConfig(scorers=("grounding", "logprob"), weights=(1.0, 0.5)))]
    ['grounding', 'logprob']
    """
    clip = {"model": config.clip_model, "pretrained": config.clip_pretrained or None,
            "checkpoint": config.clip_checkpoint or None}
    options = {"clip": clip, "grounding": {"spatial": spatial}, "cider": {"corpus": corpus}}
    return [create_scorer(name, **options.get(name, {})) for name in config.scorers]

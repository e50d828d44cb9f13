"""Choosing the best candidate: scorers behind :func:`create_scorer`, combined by :func:`rank`.

>>> from groundcap.rerank import list_scorers
>>> list_scorers()
['logprob']
"""

from __future__ import annotations

import importlib
from typing import Callable

from groundcap.errors import ConfigError
from groundcap.rerank.base import LogprobScorer, Scorer, rank

__all__ = ["Scorer", "LogprobScorer", "rank", "create_scorer", "register_scorer", "list_scorers"]

_REGISTRY: dict[str, Callable[[], Scorer] | str] = {
    "logprob": "groundcap.rerank.base:LogprobScorer",
}


def register_scorer(name: str, factory: Callable[[], Scorer]) -> None:
    """Adds a scorer; a name can be registered once."""
    if name in _REGISTRY:
        raise ValueError(f"a scorer named {name!r} is already registered")
    _REGISTRY[name] = factory


def list_scorers() -> list[str]:
    return sorted(_REGISTRY)


def create_scorer(name: str) -> Scorer:
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(f"unknown scorer {name!r}; choose one of {list_scorers()}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry()

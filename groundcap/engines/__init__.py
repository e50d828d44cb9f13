"""Batch engines: where the steps of :mod:`groundcap.engines.stages` run.

=========  ==========================================================  ===========
name       what                                                        needs
=========  ==========================================================  ===========
``local``  threads on this machine (:class:`~.local.LocalEngine`)      nothing
``ray``    Ray Data ``map_batches`` with actor pools per stage          ``[scale]``
=========  ==========================================================  ===========

Every engine takes the same :class:`~.stages.ShardJob` list and yields
``(job, rows)`` shard by shard, in job order; the runner
(:func:`groundcap.batch.run`) writes them. Adding one is a registry entry.
"""

from __future__ import annotations

from typing import Any, Callable

from groundcap.config import RunConfig
from groundcap.errors import ConfigError

__all__ = ["ENGINES", "create_engine", "register_engine"]

ENGINES: dict[str, Callable[..., Any]] = {}


def register_engine(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        ENGINES[name] = factory
        return factory
    return deco


@register_engine("local")
def _local(config: RunConfig, **kw: Any) -> Any:
    from groundcap.engines.local import LocalEngine

    return LocalEngine(config, **kw)


@register_engine("ray")
def _ray(config: RunConfig, **kw: Any) -> Any:
    from groundcap.engines.ray_data import RayEngine

    return RayEngine(config, **kw)


def create_engine(config: RunConfig, **kw: Any) -> Any:
    """The engine named by ``config.output.engine``.

    Raises:
        ConfigError: for an unknown name.
    """
    name = config.output.engine
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; expected one of {sorted(ENGINES)}")
    return ENGINES[name](config, **kw)

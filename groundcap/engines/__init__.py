"""Batch engines: where the steps of :mod:`groundcap.engines.stages` run.

=========  ==========================================================  ===========
name       what                                                        needs
=========  ==========================================================  ===========
``local``  threads on this machine (:class:`~.local.LocalEngine`)      nothing
``ray``    Ray Data ``map_batches`` with actor pools per stage          ``[scale]``
=========  ==========================================================  ===========

Every engine takes the same :class:`~.stages.ShardJob` list and yields
``(job, rows)`` shard by shard, in job order, the rows typed
(:class:`~groundcap.records.RunRow`, one per input); the runner
(:func:`groundcap.batch.run`) writes them. Adding one is a registry entry.
"""

from __future__ import annotations

from typing import Any, Callable

from groundcap.config import RunConfig
from groundcap.registry import Registry

__all__ = ["ENGINES", "create_engine", "register_engine"]

ENGINES: Registry[Callable[..., Any]] = Registry("engine")


def register_engine(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator that registers an engine factory ``factory(config, **kw)`` under ``name``."""
    return ENGINES.register(name)


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
    return ENGINES.get(config.output.engine)(config, **kw)

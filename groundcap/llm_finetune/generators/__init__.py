"""Caption generators behind :func:`create_generator`.

>>> from groundcap.llm_finetune.generators import list_generators
>>> list_generators()
['hf', 'openai', 'template', 'vllm']
"""

from __future__ import annotations

import importlib
from typing import Callable

from groundcap.config import GenerateConfig
from groundcap.errors import ConfigError
from groundcap.llm_finetune.generators.base import Completion, Generator

__all__ = ["Completion", "Generator", "create_generator", "register_generator", "list_generators"]

# "module:class", so listing imports nothing heavy.
_REGISTRY: dict[str, Callable[[GenerateConfig], Generator] | str] = {
    "hf": "groundcap.llm_finetune.generators.hf:HFGenerator",
    "openai": "groundcap.llm_finetune.generators.openai:OpenAIGenerator",
    "vllm": "groundcap.llm_finetune.generators.vllm:VLLMGenerator",
    "template": "groundcap.llm_finetune.generators.template:TemplateGenerator",
}


def register_generator(name: str, factory: Callable[[GenerateConfig], Generator]) -> None:
    """Adds a backend; a name can be registered once."""
    if name in _REGISTRY:
        raise ValueError(f"a generator named {name!r} is already registered")
    _REGISTRY[name] = factory


def list_generators() -> list[str]:
    return sorted(_REGISTRY)


def create_generator(name_or_config: str | GenerateConfig | None = None) -> Generator:
    """Builds a generator by name or from a config; the model loads here, once.

    Raises:
        ConfigError: for an unknown name.
        groundcap.errors.ModelLoadError: when the backend cannot load.
    """
    config = (GenerateConfig() if name_or_config is None else
              GenerateConfig(generator=name_or_config) if isinstance(name_or_config, str) else name_or_config)
    entry = _REGISTRY.get(config.generator)
    if entry is None:
        raise ConfigError(f"unknown generator {config.generator!r}; choose one of {list_generators()}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry(config)

"""Caption generators behind :func:`create_generator`.

>>> from groundcap.llm_finetune.generators import list_generators
>>> list_generators()
['hf', 'openai', 'template', 'vllm']
"""

from __future__ import annotations

from typing import Callable

from groundcap.config import GenerateConfig
from groundcap.llm_finetune.generators.base import Completion, Generator
from groundcap.registry import Registry

__all__ = ["Completion", "Generator", "create_generator", "register_generator", "list_generators"]

# "module:class", so listing imports nothing heavy.
_REGISTRY: Registry[Callable[[GenerateConfig], Generator]] = Registry("generator", {
    "hf": "groundcap.llm_finetune.generators.hf:HFGenerator",
    "openai": "groundcap.llm_finetune.generators.openai:OpenAIGenerator",
    "vllm": "groundcap.llm_finetune.generators.vllm:VLLMGenerator",
    "template": "groundcap.llm_finetune.generators.template:TemplateGenerator",
})


def register_generator(name: str, factory: Callable[[GenerateConfig], Generator]) -> None:
    """Adds a backend; a name can be registered once."""
    _REGISTRY.register(name, factory)


def list_generators() -> list[str]:
    return _REGISTRY.names()


def create_generator(name_or_config: str | GenerateConfig | None = None) -> Generator:
    """Builds a generator by name or from a config; the model loads here, once.

    Raises:
        ConfigError: for an unknown name.
        groundcap.errors.ModelLoadError: when the backend cannot load.
    """
    config = (GenerateConfig() if name_or_config is None else
              GenerateConfig(generator=name_or_config) if isinstance(name_or_config, str) else name_or_config)
    return _REGISTRY.get(config.generator)(config)

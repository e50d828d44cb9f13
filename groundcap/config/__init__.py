"""Configuration: one dataclass per stage, read from YAML and from CLI flags.

Library code takes these dataclasses, never an argparse Namespace. Each field
carries its help text in ``metadata["help"]``; :mod:`groundcap.config_cli`
turns them into flags (``--detect.conf`` and, where the field name is unique,
``--conf``). Each dataclass checks its own values in ``__post_init__`` and
raises :class:`~groundcap.errors.ConfigError`. Only the standard library and
:mod:`groundcap.errors` are imported by this package; YAML is read by
:func:`load_yaml` with PyYAML imported lazily.

>>> cfg = FactsConfig()
>>> cfg.detect.detector
'ssd-mobilenet-v2'
>>> merge(cfg, {"detect": {"conf": 0.3}}).detect.conf
0.3
"""

from groundcap.config.captioning import (
    DECODINGS,
    DTYPES,
    CaptionConfig,
    GenerateConfig,
    OutputConfig,
    PromptConfig,
    RerankConfig,
    RetrieveConfig,
    RunConfig,
)
from groundcap.config.facts import COLOR_METHODS, ColorConfig, DetectConfig, FactsConfig, SceneConfig, SpatialConfig
from groundcap.config.image_text import IMAGE_TEXT, ImageTextConfig
from groundcap.config.merging import config_hash, load_yaml, merge, to_dict
from groundcap.config.training import TrainClipConfig, TrainLLMConfig

__all__ = [
    "DetectConfig",
    "COLOR_METHODS",
    "ColorConfig",
    "SpatialConfig",
    "SceneConfig",
    "FactsConfig",
    "PromptConfig",
    "DTYPES",
    "DECODINGS",
    "GenerateConfig",
    "ImageTextConfig",
    "IMAGE_TEXT",
    "RerankConfig",
    "RetrieveConfig",
    "CaptionConfig",
    "OutputConfig",
    "RunConfig",
    "TrainLLMConfig",
    "TrainClipConfig",
    "merge",
    "to_dict",
    "config_hash",
    "load_yaml",
]


"""groundcap: image captions an auditor can trust.

>>> from groundcap import extract_facts
>>> facts = extract_facts("photo.jpg")   # doctest: +SKIP
>>> print(facts.describe())              # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from groundcap.config import CaptionConfig, ColorConfig, DetectConfig, FactsConfig, SceneConfig, SpatialConfig
from groundcap.errors import ConfigError, GroundcapError, ImageError, ModelLoadError
from groundcap.records import (
    Candidate, CaptionResult, ContextLabel, Detection, Facts, ImageInfo, NamedColor, ObjectColor, OcrResult, Posture, Relation, Scene, SceneCue,
)

if TYPE_CHECKING:
    from groundcap.facts import FactsExtractor, extract_facts
    from groundcap.pipeline import Captioner

__all__ = [
    "__version__", "extract_facts", "FactsExtractor", "Captioner", "CaptionConfig", "CaptionResult", "Candidate",
    "FactsConfig", "DetectConfig", "ColorConfig", "SpatialConfig", "SceneConfig",
    "GroundcapError", "ImageError", "ModelLoadError", "ConfigError",
    "Facts", "Detection", "ObjectColor", "NamedColor", "Relation", "Scene", "SceneCue", "ContextLabel",
    "Posture", "OcrResult", "ImageInfo",
]


def __getattr__(name: str) -> Any:
    # The extractor pulls in OpenCV and scikit-learn; load it on first use so
    # `import groundcap` (and the records) stays light.
    if name in ("extract_facts", "FactsExtractor"):
        from groundcap import facts

        return getattr(facts, name)
    if name == "Captioner":
        from groundcap.pipeline import Captioner

        return Captioner
    raise AttributeError(f"module 'groundcap' has no attribute {name!r}")

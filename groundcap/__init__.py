"""groundcap: image captions an auditor can trust.

>>> from groundcap import describe_facts, extract_facts
>>> facts = extract_facts("photo.jpg")   # doctest: +SKIP
>>> print(describe_facts(facts))         # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from groundcap.version import __version__
from groundcap.config import CaptionConfig, ColorConfig, DetectConfig, FactsConfig, SceneConfig, SpatialConfig
from groundcap.errors import ConfigError, GroundcapError, ImageError, ModelLoadError
from groundcap.records import (
    Candidate, CaptionResult, ContextLabel, Detection, Facts, ImageInfo, NamedColor, ObjectColor, OcrResult, Posture, Relation, Scene, SceneCue,
)

if TYPE_CHECKING:
    from groundcap.describe import describe_facts
    from groundcap.facts import FactsExtractor, extract_facts
    from groundcap.pipeline import Captioner

__all__ = [
    "__version__", "extract_facts", "describe_facts", "FactsExtractor", "Captioner", "CaptionConfig", "CaptionResult", "Candidate",
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
    if name == "describe_facts":
        from groundcap.describe import describe_facts

        return describe_facts
    if name == "Captioner":
        from groundcap.pipeline import Captioner

        return Captioner
    raise AttributeError(f"module 'groundcap' has no attribute {name!r}")

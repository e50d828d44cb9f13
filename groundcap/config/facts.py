"""Settings of the facts stages: detection, colors, spatial relations and the scene."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from groundcap.config.fields import setting
from groundcap.errors import ConfigError

__all__ = ["DetectConfig", "COLOR_METHODS", "ColorConfig", "SpatialConfig", "SceneConfig", "FactsConfig"]


@dataclass(frozen=True)
class DetectConfig:
    detector: str = setting("ssd-mobilenet-v2", "Detector name (see `groundcap list detectors`) or an ultralytics weights path.")
    conf: float = setting(0.4, "Minimum detection score.")
    iou: float = setting(0.5, "IoU above which boxes of the same class are merged (per-class NMS).")
    agnostic_iou: float = setting(0.8, "IoU above which boxes of different classes are merged "
                                  "(class-agnostic duplicate suppression); 1 disables it.")
    max_objects: int = setting(20, "Keep at most this many objects, highest score first.")
    classes: Optional[tuple[str, ...]] = setting(None, "Keep only these labels (comma separated on the CLI).")
    imgsz: int = setting(640, "Inference size for ultralytics models.")
    device: str = setting("cpu", "Device for torch-based detectors (cpu, cuda, cuda:0).")


#: How dominant colors are found (``ColorConfig.color_method``).
COLOR_METHODS = ("kmeans", "histogram")


@dataclass(frozen=True)
class ColorConfig:
    color_method: str = setting("kmeans", "How dominant colors are found: kmeans or histogram.")
    n_colors: int = setting(2, "Colors reported per object.")
    palette_size: int = setting(3, "Colors in the whole-image palette (used when nothing is detected).")
    center_weight: float = setting(4.0, "How much more the box center counts than its border (1 = flat).")
    min_fraction: float = setting(0.12, "Drop colors covering less than this share of an object.")
    chroma_boost: float = setting(3.0, "Rank vivid colors above larger dull ones: share x (1 + boost x chroma/10); 0 ranks by share.")
    max_pixels: int = setting(4096, "Pixels sampled per object for clustering.")

    def __post_init__(self) -> None:
        if self.color_method not in COLOR_METHODS:
            raise ConfigError(f"color_method must be one of {COLOR_METHODS}, got {self.color_method!r}")
        if self.n_colors < 0 or self.palette_size < 0:
            raise ConfigError("n_colors and palette_size must not be negative")
        if not self.center_weight > 0:
            raise ConfigError(f"center_weight must be positive (1 = flat), got {self.center_weight}")
        if self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be at least 1, got {self.max_pixels}")


@dataclass(frozen=True)
class SpatialConfig:
    max_relations: int = setting(6, "Relations kept per image, most salient first.")
    near: float = setting(0.08, "Gap, as a share of the image diagonal, under which two objects are 'next to' each other.")
    far: float = setting(0.55, "Center distance, as a share of the image diagonal, over which objects are 'far from' each other.")
    min_area: float = setting(0.002, "Objects smaller than this share of the image take part in no relation.")


@dataclass(frozen=True)
class SceneConfig:
    classifier: str = setting("efficientnet-lite3", "Whole-image classifier for context labels and scene cues, or 'none'.")
    context_top_k: int = setting(5, "Classifier labels kept.")
    context_min_score: float = setting(0.15, "Classifier labels below this score are dropped.")
    pose: bool = setting(False, "Estimate a coarse posture for each person (MoveNet).")
    ocr: str = setting("off", "Read text with tesseract: auto (when installed), on, or off. Off by default: "
                         "about 1 s per photo, 14x the rest of the facts.")

    def __post_init__(self) -> None:
        if self.classifier not in ("efficientnet-lite3", "none"):
            raise ConfigError(f"unknown classifier {self.classifier!r}; expected efficientnet-lite3 or none")
        if self.ocr not in ("auto", "on", "off"):
            raise ConfigError(f"ocr must be auto, on or off, got {self.ocr!r}")


@dataclass(frozen=True)
class FactsConfig:
    detect: DetectConfig = field(default_factory=DetectConfig)
    colors: ColorConfig = field(default_factory=ColorConfig)
    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)


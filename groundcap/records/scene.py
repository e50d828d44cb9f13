"""The whole-image records: the scene's setting, classifier labels and the text read from the image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from groundcap.records.record import Record, check_unit

__all__ = ["SceneCue", "Scene", "ContextLabel", "OcrResult"]


@dataclass(frozen=True)
class SceneCue(Record):
    """One judgement about the scene, with how sure it is and why.

    ``value`` is ``"unknown"`` when the evidence does not decide.
    """

    value: str
    confidence: float
    evidence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", tuple(self.evidence))
        check_unit("confidence", self.confidence)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SceneCue:
        return cls(d["value"], d["confidence"], tuple(d.get("evidence", ())))


UNKNOWN = SceneCue("unknown", 0.0)


@dataclass(frozen=True)
class Scene(Record):
    """The setting: time of day, indoor/outdoor and the kind of place.

    Attributes:
        time_of_day: ``day``, ``night``, ``dim`` (artificial or low light) or ``unknown``.
        location: ``indoor``, ``outdoor`` or ``unknown``.
        place: ``street``, ``water``, ``snow``, ``grass``, ``mountain``, ``indoor room`` or ``unknown``.
        brightness: Mean luma in [0, 1].
    """

    time_of_day: SceneCue = UNKNOWN
    location: SceneCue = UNKNOWN
    place: SceneCue = UNKNOWN
    brightness: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"time_of_day": self.time_of_day.to_dict(), "location": self.location.to_dict(),
                "place": self.place.to_dict(), "brightness": self.brightness}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scene:
        return cls(SceneCue.from_dict(d["time_of_day"]), SceneCue.from_dict(d["location"]),
                   SceneCue.from_dict(d["place"]), d.get("brightness", 0.0))


@dataclass(frozen=True)
class ContextLabel(Record):
    """A whole-image classifier label (ImageNet), e.g. ``seashore`` at 0.62."""

    label: str
    score: float
    source: str = ""

    def __post_init__(self) -> None:
        check_unit("score", self.score)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContextLabel:
        return cls(**d)


@dataclass(frozen=True)
class OcrResult(Record):
    """Text read from the image; ``status`` is ``ok``, ``skipped`` or ``failed``."""

    status: str = "skipped"
    texts: tuple[str, ...] = ()
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", tuple(self.texts))
        if self.status not in ("ok", "skipped", "failed"):
            raise ValueError(f"OCR status must be ok, skipped or failed, got {self.status!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OcrResult:
        return cls(d.get("status", "skipped"), tuple(d.get("texts", ())), d.get("reason", ""))

"""The facts records: what was measured about one image.

:class:`Facts` gathers the :class:`ImageInfo` of the decoded image and the
per-object records of :mod:`groundcap.records.objects`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from groundcap.records.objects import PREDICATES, Detection, NamedColor, ObjectColor, Posture, Relation
from groundcap.records.record import Record, check_unit

# The records Facts is made of stay importable from here, their home before objects.py.
__all__ = [
    "PREDICATES",
    "ImageInfo",
    "Detection",
    "NamedColor",
    "ObjectColor",
    "Relation",
    "SceneCue",
    "Scene",
    "ContextLabel",
    "Posture",
    "OcrResult",
    "Facts",
]


@dataclass(frozen=True)
class ImageInfo(Record):
    """What is known about the decoded image, independent of any model.

    Attributes:
        width: Width in pixels after EXIF orientation was applied.
        height: Height in pixels after EXIF orientation was applied.
        sha256: Hex digest of the file's bytes, or of the pixels when the
            image did not come from a file. It keys caches and resumes.
        source: The path the image came from, or ``"<array>"``/``"<PIL>"``.
        mode: The PIL mode before conversion to RGB (``"L"``, ``"CMYK"``...).
        orientation: The EXIF orientation tag that was applied (1 = none).
    """

    width: int
    height: int
    sha256: str
    source: str = "<array>"
    mode: str = "RGB"
    orientation: int = 1

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not 1 <= self.orientation <= 8:
            raise ValueError(f"EXIF orientation must be 1..8, got {self.orientation}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageInfo:
        return cls(**d)


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


@dataclass(frozen=True)
class Facts:
    """Everything measured about one image: the evidence a caption is written from.

    Build it with :class:`groundcap.facts.FactsExtractor`; render it for a
    prompt with :func:`groundcap.describe.describe_facts`, which lives above the
    records because the English depends on the spatial stage's phrases.
    """

    image: ImageInfo
    detections: tuple[Detection, ...] = ()
    colors: tuple[ObjectColor, ...] = ()
    palette: tuple[NamedColor, ...] = ()
    relations: tuple[Relation, ...] = ()
    scene: Scene = field(default_factory=Scene)
    context: tuple[ContextLabel, ...] = ()
    postures: tuple[Posture, ...] = ()
    ocr: OcrResult = field(default_factory=OcrResult)
    models: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("detections", "colors", "palette", "relations", "context", "postures"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "models", tuple(tuple(m) for m in self.models))
        ids = [d.instance_id for d in self.detections]
        if len(set(ids)) != len(ids):
            raise ValueError(f"instance ids must be unique, got {ids}")
        known = set(ids)
        for r in self.relations:
            if r.subject not in known or r.object not in known:
                raise ValueError(f"relation {r.triple} names an object that was not detected")

    def counts(self) -> dict[str, int]:
        """Objects per label, most frequent first, ties by label."""
        tally: dict[str, int] = {}
        for d in self.detections:
            tally[d.label] = tally.get(d.label, 0) + 1
        return dict(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))

    def colors_of(self, instance_id: str) -> ObjectColor | None:
        return next((c for c in self.colors if c.instance_id == instance_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image.to_dict(),
            "detections": [d.to_dict() for d in self.detections],
            "colors": [c.to_dict() for c in self.colors],
            "palette": [c.to_dict() for c in self.palette],
            "relations": [r.to_dict() for r in self.relations],
            "scene": self.scene.to_dict(),
            "context": [c.to_dict() for c in self.context],
            "postures": [p.to_dict() for p in self.postures],
            "ocr": self.ocr.to_dict(),
            "models": {k: v for k, v in self.models},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Facts:
        return cls(
            image=ImageInfo.from_dict(d["image"]),
            detections=tuple(Detection.from_dict(x) for x in d.get("detections", ())),
            colors=tuple(ObjectColor.from_dict(x) for x in d.get("colors", ())),
            palette=tuple(NamedColor.from_dict(x) for x in d.get("palette", ())),
            relations=tuple(Relation.from_dict(x) for x in d.get("relations", ())),
            scene=Scene.from_dict(d["scene"]) if "scene" in d else Scene(),
            context=tuple(ContextLabel.from_dict(x) for x in d.get("context", ())),
            postures=tuple(Posture.from_dict(x) for x in d.get("postures", ())),
            ocr=OcrResult.from_dict(d.get("ocr", {})),
            models=tuple(d.get("models", {}).items()),
        )

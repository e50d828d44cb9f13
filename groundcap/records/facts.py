"""The facts records: what was measured about one image.

:class:`Facts` gathers the :class:`ImageInfo` of the decoded image, the
per-object records of :mod:`groundcap.records.objects` and the whole-image
ones of :mod:`groundcap.records.scene`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from groundcap.records.objects import PREDICATES, Detection, NamedColor, ObjectColor, Posture, Relation
from groundcap.records.record import Record
from groundcap.records.scene import ContextLabel, OcrResult, Scene, SceneCue

# The records Facts is made of stay importable from here, their home before objects.py and scene.py.
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

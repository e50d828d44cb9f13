"""The facts records: what was measured about one image.

>>> d = Detection("dog", "dog_1", (10, 20, 110, 220), 0.9, (640, 480))
>>> d.center
(60.0, 120.0)
>>> Detection.from_dict(d.to_dict()) == d
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from groundcap.records.record import Record, check_unit

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

#: Relation predicates, in the plain English that captions use.
PREDICATES = (
    "left of",
    "right of",
    "above",
    "below",
    "on top of",
    "next to",
    "overlapping",
    "inside",
    "in front of",
    "far from",
)

_INSTANCE_ID = re.compile(r"^[a-z0-9][a-z0-9 ]*_[0-9]+$")


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
class Detection(Record):
    """One detected object.

    Attributes:
        label: Class name in the COCO 80-class vocabulary (``"dog"``).
        instance_id: ``label_n`` with spaces kept (``"traffic light_1"``),
            numbered left to right within a label.
        box: Pixel ``(x1, y1, x2, y2)`` inside the image.
        score: Detector confidence in [0, 1].
        image_size: ``(width, height)`` of the image the box lives in, so the
            box can be read without the image.
        source: Name of the detector that produced it.
    """

    label: str
    instance_id: str
    box: tuple[float, float, float, float]
    score: float
    image_size: tuple[int, int]
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        if not self.label:
            raise ValueError("label must be non-empty")
        if not _INSTANCE_ID.match(self.instance_id):
            raise ValueError(f"instance_id must look like 'dog_1', got {self.instance_id!r}")
        if len(self.box) != 4 or not all(math.isfinite(v) for v in self.box):
            raise ValueError(f"box must be 4 finite numbers, got {self.box!r}")
        w, h = self.image_size
        x1, y1, x2, y2 = self.box
        if w < 1 or h < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
            raise ValueError(f"box {self.box} is empty or outside the {w}x{h} image")
        check_unit("score", self.score)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def area_fraction(self) -> float:
        """Box area as a share of the image area."""
        return self.area / float(self.image_size[0] * self.image_size[1])

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Detection:
        return cls(**{**d, "box": tuple(d["box"]), "image_size": tuple(d["image_size"])})


@dataclass(frozen=True)
class NamedColor(Record):
    """A measured color with the names a caption would use.

    Attributes:
        rgb: The measured color.
        css3: Nearest CSS3 color name in CIELAB (``"darkslategray"``).
        basic: Coarse caption word (``"dark blue"``, ``"white"``).
        fraction: Share of the (center-weighted) pixels it covers.
    """

    rgb: tuple[int, int, int]
    css3: str
    basic: str
    fraction: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rgb", tuple(int(v) for v in self.rgb))
        if len(self.rgb) != 3 or not all(0 <= v <= 255 for v in self.rgb):
            raise ValueError(f"rgb must be three values in 0..255, got {self.rgb!r}")
        check_unit("fraction", self.fraction)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NamedColor:
        return cls(**{**d, "rgb": tuple(d["rgb"])})


@dataclass(frozen=True)
class ObjectColor(Record):
    """The dominant colors of one detected object, most dominant first."""

    instance_id: str
    colors: tuple[NamedColor, ...]
    method: str = "kmeans"

    def __post_init__(self) -> None:
        object.__setattr__(self, "colors", tuple(self.colors))

    @property
    def basic_names(self) -> tuple[str, ...]:
        """Distinct basic names, most dominant first."""
        return tuple(dict.fromkeys(c.basic for c in self.colors))

    def to_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "method": self.method,
                "colors": [c.to_dict() for c in self.colors]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObjectColor:
        return cls(d["instance_id"], tuple(NamedColor.from_dict(c) for c in d["colors"]),
                   d.get("method", "kmeans"))


@dataclass(frozen=True)
class Relation(Record):
    """A spatial relation ``subject predicate object`` between two instances.

    Attributes:
        subject: Instance id of the subject (``"dog_1"``).
        predicate: One of :data:`PREDICATES`.
        object: Instance id of the object.
        salience: Higher first when relations are capped per image.
    """

    subject: str
    predicate: str
    object: str
    salience: float = 0.0

    def __post_init__(self) -> None:
        if self.predicate not in PREDICATES:
            raise ValueError(f"unknown predicate {self.predicate!r}; expected one of {PREDICATES}")
        if self.subject == self.object:
            raise ValueError(f"a relation needs two different objects, got {self.subject!r} twice")

    @property
    def triple(self) -> tuple[str, str, str]:
        return (self.subject, self.predicate, self.object)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Relation:
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
class Posture(Record):
    """A coarse posture of one detected person (``standing``, ``sitting``...)."""

    instance_id: str
    posture: str
    confidence: float

    def __post_init__(self) -> None:
        check_unit("confidence", self.confidence)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Posture:
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

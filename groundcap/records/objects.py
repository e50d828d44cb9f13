"""The per-object records: detections, their colors and postures, and the relations between them.

>>> d = Detection("dog", "dog_1", (10, 20, 110, 220), 0.9, (640, 480))
>>> d.center
(60.0, 120.0)
>>> Detection.from_dict(d.to_dict()) == d
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from groundcap.records.record import Record, check_unit

__all__ = ["PREDICATES", "Detection", "NamedColor", "ObjectColor", "Relation", "Posture"]

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

"""The ``grounding`` scorer: does a caption say what the facts show?

Each claim :func:`groundcap.rerank.claims.parse_claims` reads from a caption
is judged against the image's :class:`~groundcap.records.Facts`:

- object: supported when the detector found that COCO class; contradicted
  when it found no trace of it (no box, and no whole-image classifier label
  naming it). The detector's precision is about 87% and its recall lower, so
  only a class with no box at all counts as invented.
- count: the number a caption names of a class, added up over all its
  mentions ("two men and a woman" are three people), must match the boxes
  of that class (within a quarter of it from four up, since crowds are
  undercounted); "a group of",
  "several" and plural nouns need two or more, and one box leaves them
  unverifiable (a group is often partly missed).
- color: some measured color of some box of that class must be in the
  caption word's family ("maroon" and a measured "dark red" are both red);
  a neighbouring family (red against brown) is unverifiable, a far one
  (black against white) contradicted.
- relation: some pair of boxes of the two classes must fit the relation;
  contradicted when every pair has the opposite layout ("left of" when the
  subject's box is right of the other's), unverifiable when it is unclear.
- scene: the setting words against the scene cues that were measured with
  enough confidence; night against a confident day, or indoors against a
  confident outdoor, is contradicted.

>>> from groundcap.records import Detection, Facts, ImageInfo
>>> facts = Facts(ImageInfo(640, 480, "0" * 64), (Detection("dog", "dog_1", (10, 200, 300, 470), 0.9, (640, 480)),))
>>> [(c.text, c.verdict) for c in check_claims(facts, "Two dogs chase a cat.")]
[('Two dogs', 'supported'), ('Two dogs', 'contradicted'), ('a cat', 'contradicted')]
>>> grounding_score(check_claims(facts, "A puppy."))
1.0
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

from groundcap.config import SpatialConfig
from groundcap.text.vocab import color_family, mentioned_classes
from groundcap.records import Claim, Detection, Facts
from groundcap.rerank.base import Scorer
from groundcap.rerank.claims import Statement, parse_claims
from groundcap.spatial import count_phrase

__all__ = ["GroundingScorer", "check_claims", "grounding_score"]

#: Scene cues below this confidence neither support nor contradict a caption.
MIN_SCENE_CONFIDENCE = 0.5
#: How many supported claims one contradicted claim cancels.
CONTRADICTION_WEIGHT = 2.0

# Measured names that also read as another caption family ("a black dog" measured dark gray).
_ALSO = {"dark gray": {"black"}, "light gray": {"white"}, "light yellow": {"white"}, "dark brown": {"black"}}
# Families that lighting and naming blur into each other: close, but not a match.
_NEAR = {
    "red": {"pink", "orange", "brown", "purple"}, "pink": {"red", "purple", "white"},
    "orange": {"red", "yellow", "brown"}, "yellow": {"orange", "brown", "white"},
    "brown": {"red", "orange", "yellow", "black", "gray"}, "green": {"blue", "yellow", "gray"},
    "blue": {"green", "purple", "gray", "black"}, "purple": {"blue", "pink", "red"},
    "black": {"gray", "brown", "blue"}, "white": {"gray", "yellow", "pink"}, "gray": {"black", "white", "blue", "brown"},
}
# Left/right and above/below need the centers this share of the image apart to count either way.
_AXIS_MARGIN = 0.02
_OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
# What a facts relation "a P b" says about "b ? a".
_CONVERSE = {**_OPPOSITE, "in front of": "behind", "next to": "next to", "far from": "far from",
             "overlapping": "overlapping"}


def _families(basic: str) -> set[str]:
    return set(color_family(basic)) | _ALSO.get(basic, set())


def _ids(dets: Iterable[Detection]) -> str:
    return ", ".join(d.instance_id for d in dets)


def _detected(label: str, dets: Sequence[Detection]) -> str:
    return f"detected {count_phrase({label: len(dets)})}: {_ids(dets)}"


def _check_object(s: Statement, facts: Facts, dets: Sequence[Detection]) -> Claim:
    if dets:
        return Claim("object", s.text, "supported", _detected(s.label, dets), dets[0].instance_id)
    hint = next((c for c in facts.context if s.label in mentioned_classes(c.label)), None)
    if hint is not None:
        return Claim("object", s.text, "unverifiable",
                     f"no {s.label} detected, but the image classifier saw {hint.label} ({hint.score:.2f})")
    return Claim("object", s.text, "contradicted", f"no {s.label} detected")


def _check_count(s: Statement, dets: Sequence[Detection]) -> Claim:
    found = len(dets)
    if not found:
        return Claim("count", s.text, "unverifiable", f"no {s.label} detected")
    evidence, subject = _detected(s.label, dets), dets[0].instance_id
    if s.value.endswith("+"):
        least = int(s.value[:-1])
        verdict = "supported" if found >= least else "unverifiable"
        return Claim("count", s.text, verdict,
                     evidence + ("" if found >= least else "; a group may be partly missed"), subject)
    stated = int(s.value)
    verdict = "supported" if abs(found - stated) <= stated // 4 else "contradicted"
    return Claim("count", s.text, verdict, f"{evidence}; the caption says {stated}", subject)


def _check_color(s: Statement, facts: Facts, dets: Sequence[Detection]) -> Claim:
    if not dets:
        return Claim("color", s.text, "unverifiable", f"no {s.label} detected")
    measured = [(d, oc.colors) for d in dets if (oc := facts.colors_of(d.instance_id)) is not None and oc.colors]
    if not measured:
        return Claim("color", s.text, "unverifiable", f"no colors measured for {_ids(dets)}")
    for d, colors in measured:
        for c in colors:
            if s.value in _families(c.basic):
                return Claim("color", s.text, "supported",
                             f"{d.instance_id} measured {c.basic} rgb{c.rgb} ({c.fraction:.0%})", d.instance_id)
    said = "; ".join(f"{d.instance_id} measured {', '.join(dict.fromkeys(c.basic for c in colors))}"
                     for d, colors in measured)
    for d, colors in measured:
        for c in colors:
            if _families(c.basic) & _NEAR.get(s.value, set()):
                return Claim("color", s.text, "unverifiable", f"{said}: close to {s.value}", d.instance_id)
    return Claim("color", s.text, "contradicted", f"{said}: not {s.value}", measured[0][0].instance_id)


def _gap(a: Detection, b: Detection) -> float:
    """Shortest distance between the two boxes (0 when they touch or overlap)."""
    gx = max(0.0, max(a.box[0], b.box[0]) - min(a.box[2], b.box[2]))
    gy = max(0.0, max(a.box[1], b.box[1]) - min(a.box[3], b.box[3]))
    return math.hypot(gx, gy)


def _intersection(a: Detection, b: Detection) -> float:
    w = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
    h = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
    return max(0.0, w) * max(0.0, h)


# Each judge gives (verdict, evidence) for "a <predicate> b" from the two boxes.
_Verdict = tuple[str, str]


def _direction(predicate: str, a: Detection, b: Detection, cfg: SpatialConfig) -> _Verdict:
    horizontal = predicate in ("left of", "right of")
    i = 0 if horizontal else 1
    delta = (b.center[i] - a.center[i]) * (1 if predicate in ("left of", "above") else -1)
    margin = _AXIS_MARGIN * a.image_size[i]
    axis = "x" if horizontal else "y"
    where = f"centers {axis}={a.center[i]:.0f} and {b.center[i]:.0f}"
    if delta > margin:
        return "supported", f"{a.instance_id} {predicate} {b.instance_id} ({where})"
    if delta < -margin:
        return "contradicted", f"{a.instance_id} {_OPPOSITE[predicate]} {b.instance_id} ({where})"
    return "unverifiable", f"{a.instance_id} and {b.instance_id} are level ({where})"


def _on_top_of(predicate: str, a: Detection, b: Detection, cfg: SpatialConfig) -> _Verdict:
    # Looser than the facts' own "on top of": a caption's "on" also covers a
    # cat lying on a bed seen from above (its box mostly within the bed's).
    x_overlap = a.box[2] > b.box[0] and a.box[0] < b.box[2]
    resting = a.center[1] < b.center[1] and x_overlap and a.box[3] >= b.box[1] - 0.1 * a.height
    if resting or _intersection(a, b) >= 0.5 * a.area:
        return "supported", f"{a.instance_id} rests on {b.instance_id}"
    if a.box[1] >= b.box[3]:
        return "contradicted", f"{a.instance_id} is below {b.instance_id}"
    if _gap(a, b) > cfg.near * math.hypot(*a.image_size):
        return "contradicted", f"{a.instance_id} and {b.instance_id} are {_gap(a, b):.0f} px apart"
    return "unverifiable", f"{a.instance_id} and {b.instance_id} touch; support unclear"


def _distance(predicate: str, a: Detection, b: Detection, cfg: SpatialConfig) -> _Verdict:
    diag = math.hypot(*a.image_size)
    gap = _gap(a, b)
    near = gap <= cfg.near * diag
    far = math.dist(a.center, b.center) > cfg.far * diag
    said = "close" if near else "far apart" if far else "at a middle distance"
    holds, fails = (near, far) if predicate == "next to" else (far, near)
    verdict = "supported" if holds else "contradicted" if fails else "unverifiable"
    return verdict, f"{a.instance_id} and {b.instance_id} are {said} ({gap:.0f} px gap)"


def _inside(predicate: str, a: Detection, b: Detection, cfg: SpatialConfig) -> _Verdict:
    # "in" is loose in captions (a man in a boat stands out of it): half inside suffices.
    share = _intersection(a, b) / a.area
    evidence = f"{share:.0%} of {a.instance_id} lies within {b.instance_id}"
    return ("supported" if share >= 0.5 else "contradicted" if share == 0 else "unverifiable"), evidence


def _in_front_of(predicate: str, a: Detection, b: Detection, cfg: SpatialConfig) -> _Verdict:
    # Depth from boxes: of two overlapping things, the nearer stands lower in the frame.
    if _intersection(a, b) > 0:
        if b.box[3] >= a.box[3] + 0.1 * a.height:
            return "contradicted", f"{b.instance_id} stands lower, in front of {a.instance_id}"
        if a.box[3] >= b.box[3] + 0.1 * b.height:
            return "supported", f"{a.instance_id} overlaps {b.instance_id} and stands lower"
    return "unverifiable", f"depth of {a.instance_id} and {b.instance_id} unclear"


_JUDGES: dict[str, Callable[[str, Detection, Detection, SpatialConfig], _Verdict]] = {
    **dict.fromkeys(_OPPOSITE, _direction), "on top of": _on_top_of, "next to": _distance, "far from": _distance,
    "inside": _inside, "in front of": _in_front_of,
}


def _pair(predicate: str, a: Detection, b: Detection, facts_says: str | None, cfg: SpatialConfig) -> _Verdict:
    """(verdict, evidence) for "a <predicate> b": the facts' own relation first, then the boxes."""
    if facts_says == predicate:
        return "supported", f"facts: {a.instance_id} {predicate} {b.instance_id}"
    if predicate == "in front of" and facts_says == "behind":
        return "contradicted", f"facts: {b.instance_id} in front of {a.instance_id}"
    return _JUDGES[predicate](predicate, a, b, cfg)


def _check_relation(s: Statement, facts: Facts, subjects: Sequence[Detection], objects: Sequence[Detection],
                    cfg: SpatialConfig) -> Claim:
    missing = [label for label, dets in ((s.label, subjects), (s.other, objects)) if not dets]
    if missing:
        return Claim("relation", s.text, "unverifiable", f"no {' or '.join(dict.fromkeys(missing))} detected")
    pairs = [(a, b) for a in subjects for b in objects if a.instance_id != b.instance_id]
    if not pairs:
        return Claim("relation", s.text, "unverifiable", f"only one {s.label} detected")
    told: dict[tuple[str, str], str] = {}
    for r in facts.relations:
        told[(r.subject, r.object)] = r.predicate
        told[(r.object, r.subject)] = _CONVERSE.get(r.predicate, "")
    judged = []
    for a, b in pairs:
        if s.value == "behind":  # "a behind b" is "b in front of a"
            verdict, evidence = _pair("in front of", b, a, told.get((b.instance_id, a.instance_id)), cfg)
        else:
            verdict, evidence = _pair(s.value, a, b, told.get((a.instance_id, b.instance_id)), cfg)
        judged.append((a.instance_id, verdict, evidence))
    for subject, verdict, evidence in judged:
        if verdict == "supported":
            return Claim("relation", s.text, verdict, evidence, subject)
    if all(verdict == "contradicted" for _, verdict, _ in judged):
        subject, _, evidence = judged[0]
        more = f" (and {len(judged) - 1} more pairs)" if len(judged) > 1 else ""
        return Claim("relation", s.text, "contradicted", evidence + more, subject)
    subject, _, evidence = next(j for j in judged if j[1] == "unverifiable")
    return Claim("relation", s.text, "unverifiable", evidence, subject)


def _conflicts(axis: str, said: str, measured: str) -> bool:
    if axis == "time_of_day":
        return {said, measured} == {"day", "night"}
    if axis == "location":
        return {said, measured} == {"indoor", "outdoor"}
    return said != measured and "indoor room" in (said, measured)


def _check_scene(s: Statement, facts: Facts, min_confidence: float) -> Claim:
    support, contra, weak = [], [], []
    for axis, value in s.scene:
        cue = getattr(facts.scene, axis)
        desc = f"scene {axis.replace('_', ' ')}: {cue.value} ({cue.confidence:.2f})"
        if cue.value == "unknown" or cue.confidence < min_confidence:
            weak.append(desc)
        elif cue.value == value:
            support.append(desc)
        elif _conflicts(axis, value, cue.value):
            contra.append(desc)
        else:
            weak.append(desc)
    if contra:
        return Claim("scene", s.text, "contradicted", "; ".join(contra))
    if support:
        return Claim("scene", s.text, "supported", "; ".join(support))
    return Claim("scene", s.text, "unverifiable", "; ".join(weak))


def check_claims(facts: Facts, text: str, *, min_scene_confidence: float = MIN_SCENE_CONFIDENCE,
                 spatial: SpatialConfig | None = None) -> tuple[Claim, ...]:
    """Every claim a caption makes, each judged against the facts of its image.

    Args:
        facts: The image's facts.
        text: One caption.
        min_scene_confidence: Scene cues below this confidence are not used.
        spatial: ``near``/``far`` thresholds for "next to" and "far from"
            (the defaults the facts' own relations use).

    Returns:
        One :class:`~groundcap.records.Claim` per statement of
        :func:`~groundcap.rerank.claims.parse_claims`, in caption order.
    """
    cfg = spatial or SpatialConfig()
    by_label: dict[str, list[Detection]] = {}
    for d in sorted(facts.detections, key=lambda d: (d.center[0], d.instance_id)):
        by_label.setdefault(d.label, []).append(d)
    out = []
    for s in parse_claims(text):
        dets = by_label.get(s.label, [])
        if s.kind == "object":
            out.append(_check_object(s, facts, dets))
        elif s.kind == "count":
            out.append(_check_count(s, dets))
        elif s.kind == "color":
            out.append(_check_color(s, facts, dets))
        elif s.kind == "relation":
            out.append(_check_relation(s, facts, dets, by_label.get(s.other, []), cfg))
        else:
            out.append(_check_scene(s, facts, min_scene_confidence))
    return tuple(out)


def grounding_score(claims: Iterable[Claim], contradiction_weight: float = CONTRADICTION_WEIGHT) -> float:
    """``(S - w*C) / (S + w*C)`` over supported ``S`` and contradicted ``C`` claims; 0 when there are none.

    >>> grounding_score([])
    0.0
    """
    verdicts = [c.verdict for c in claims]
    supported, contradicted = verdicts.count("supported"), verdicts.count("contradicted")
    if supported + contradicted == 0:
        return 0.0
    penalty = contradiction_weight * contradicted
    return (supported - penalty) / (supported + penalty)


class GroundingScorer(Scorer):
    """Scores each caption by how its claims fare against the image's facts.

    The score is ``(S - 2C) / (S + 2C)`` for ``S`` supported and ``C``
    contradicted claims (unverifiable ones do not count), and 0 when the
    caption makes no claim that can be checked. It lies in [-1, 1]: 1 when
    every checked claim holds, -1 when every one is wrong. A contradiction
    weighs as two supports because an invented dog misleads a reader more
    than a confirmed one informs them: a caption must back one wrong claim
    with two right ones to do as well as one that says nothing checkable
    (0). The weight stays at two rather than higher because the detector
    misses objects, so some contradictions are the facts' fault; the checks
    already lean the same way (only a class with no box at all is invented,
    a partly seen group is unverifiable). The score is a ratio, not a sum,
    so a long caption earns nothing for length alone; CLIP and the
    log-probability judge fluency and coverage.

    Unusable candidates get ``None`` and no claims.

    Args:
        contradiction_weight: ``w`` above.
        min_scene_confidence: Scene cues below this confidence are not used.
        spatial: The thresholds the facts' relations were measured with
            (``--facts.spatial.*``), so that "next to" and "far from" are
            judged as the facts define them; the defaults when ``None``.
    """

    name = "grounding"

    def __init__(self, contradiction_weight: float = CONTRADICTION_WEIGHT,
                 min_scene_confidence: float = MIN_SCENE_CONFIDENCE, spatial: SpatialConfig | None = None) -> None:
        if not (math.isfinite(contradiction_weight) and contradiction_weight > 0):
            raise ValueError(f"contradiction_weight must be positive, got {contradiction_weight}")
        if not 0.0 <= min_scene_confidence <= 1.0:
            raise ValueError(f"min_scene_confidence must be in [0, 1], got {min_scene_confidence}")
        self.contradiction_weight = contradiction_weight
        self.min_scene_confidence = min_scene_confidence
        self.spatial = spatial or SpatialConfig()

    def score(self, image, facts, candidates):
        return self.score_with_claims(image, facts, candidates)[0]

    def score_with_claims(self, image, facts, candidates):
        claims = [check_claims(facts, c.text, min_scene_confidence=self.min_scene_confidence, spatial=self.spatial)
                  if c.usable else ()
                  for c in candidates]
        scores = [grounding_score(cl, self.contradiction_weight) if c.usable else None
                  for c, cl in zip(candidates, claims)]
        return scores, claims

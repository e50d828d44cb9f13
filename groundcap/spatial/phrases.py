"""Relations in plain English: ``Relation("dog_1", "left of", "person_1")`` →
"the dog is to the left of the person".

Sentences are filled into fixed templates with ``str.format``, never built by
joining a string, which would interleave its characters with spaces (an earlier
version wrote "d o g _ 1   i s   l e f t"). Instance ids never reach the text:
names come from :func:`display_names`, and an id without a name is spelled as
its label and number ("dog 2").

>>> from groundcap.records import Relation
>>> relation_sentence(Relation("cup_1", "next to", "laptop_1"),
...                   {"cup_1": "the cup", "laptop_1": "the laptop"})
'the cup is next to the laptop'
"""

from __future__ import annotations

from typing import Iterable, Mapping

from groundcap.records import Detection, Relation
from groundcap.spatial.counts import singular_noun

__all__ = ["relation_sentence", "display_names", "TEMPLATES"]

#: One sentence template per predicate; ``{s}`` and ``{o}`` are noun phrases.
TEMPLATES: dict[str, str] = {
    "left of": "{s} is to the left of {o}",
    "right of": "{s} is to the right of {o}",
    "above": "{s} is above {o}",
    "below": "{s} is below {o}",
    "on top of": "{s} is on top of {o}",
    "next to": "{s} is next to {o}",
    "overlapping": "{s} overlaps {o}",
    "inside": "{s} is inside {o}",
    "in front of": "{s} is in front of {o}",
    "far from": "{s} is far from {o}",
}


def _spelled_id(instance_id: str) -> str:
    """ "traffic light_2" → "traffic light 2", for an id nobody named."""
    label, _, number = instance_id.rpartition("_")
    return f"{label} {number}" if label else instance_id


def _name(instance_id: str, names: Mapping[str, str]) -> str:
    name = names.get(instance_id)
    if name is None:
        return _spelled_id(instance_id)
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"the name of {instance_id!r} must be a non-empty string, got {name!r}")
    return name.strip()


def relation_sentence(relation: Relation, names: Mapping[str, str]) -> str:
    """One relation as a lower-case sentence without a final period.

    Args:
        relation: The relation to say.
        names: Instance id → noun phrase, e.g. from :func:`display_names`.
            Ids missing here are spelled as label and number ("dog 2").

    Raises:
        TypeError: If a name is not a non-empty string.

    >>> relation_sentence(Relation("person_1", "on top of", "horse_1"),
    ...                   {"person_1": "the person", "horse_1": "the horse"})
    'the person is on top of the horse'
    """
    return TEMPLATES[relation.predicate].format(
        s=_name(relation.subject, names), o=_name(relation.object, names)
    )


def _left_to_right(d: Detection) -> tuple[float, float, str, int]:
    label, _, number = d.instance_id.rpartition("_")
    return (d.center[0], d.center[1], label, int(number))


def _side_by_side(a: Detection, b: Detection) -> bool:
    """Whether "left" and "right" tell the two apart: they differ more across than down."""
    dx = abs(a.center[0] - b.center[0])
    dy = abs(a.center[1] - b.center[1])
    return dx > 0 and dx >= dy


def display_names(detections: Iterable[Detection]) -> dict[str, str]:
    """A noun phrase for each detected object, for use in sentences.

    A label seen once is "the dog". Two of a label that sit side by side are
    "the left dog" and "the right dog". Otherwise (two stacked, or three and
    more) they are numbered left to right: "dog 1", "dog 2", ... Numbers run
    1..k over the objects given, whatever their instance ids, so a reader never
    looks for a "dog 2" that was filtered out. Labels without a singular get
    their unit ("the pair of skis").

    Returns:
        Instance id → name, in the order the detections were given.

    Raises:
        ValueError: If two detections share an instance id.

    >>> from groundcap.records import Detection
    >>> dets = [Detection("dog", "dog_1", (0, 0, 10, 10), 0.9, (100, 100)),
    ...         Detection("dog", "dog_2", (50, 0, 60, 10), 0.9, (100, 100)),
    ...         Detection("cat", "cat_1", (20, 50, 30, 60), 0.9, (100, 100))]
    >>> display_names(dets)
    {'dog_1': 'the left dog', 'dog_2': 'the right dog', 'cat_1': 'the cat'}
    """
    detections = list(detections)
    ids = [d.instance_id for d in detections]
    if len(set(ids)) != len(ids):
        raise ValueError(f"instance ids must be unique, got {ids}")
    by_label: dict[str, list[Detection]] = {}
    for d in detections:
        by_label.setdefault(d.label, []).append(d)

    named: dict[str, str] = {}
    for label, group in by_label.items():
        group = sorted(group, key=_left_to_right)
        noun = singular_noun(label)
        if len(group) == 1:
            named[group[0].instance_id] = f"the {noun}"
        elif len(group) == 2 and _side_by_side(*group):
            named[group[0].instance_id] = f"the left {noun}"
            named[group[1].instance_id] = f"the right {noun}"
        else:
            for k, d in enumerate(group, start=1):
                named[d.instance_id] = f"{label} {k}"
    return {i: named[i] for i in ids}

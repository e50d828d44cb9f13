"""Facts in plain English: what ``groundcap facts`` prints, what prompts embed, and the template sentence.

The text is built from word lists and format strings, never by joining the
characters of a string, and it is deterministic for the same facts.

>>> from groundcap.records import Detection, Facts, ImageInfo
>>> facts = Facts(ImageInfo(640, 480, "0" * 64),
...               (Detection("dog", "dog_1", (10, 200, 300, 470), 0.9, (640, 480)),))
>>> print(describe_facts(facts))
Objects: a dog.
"""

from __future__ import annotations

from groundcap.records import Facts, NamedColor
from groundcap.spatial import count_phrase, display_names, relation_sentence
from groundcap.spatial.counts import article, join_words, number_word, pluralize

__all__ = ["describe_facts", "template_caption", "SETTING_PHRASES"]

#: How each scene value is said.
SETTING_PHRASES = {
    "outdoor": "outdoors", "indoor": "indoors",
    "day": "daytime", "night": "at night", "dim": "dim light",
    "street": "a street", "water": "water or a beach", "snow": "snow", "grass": "grass or a field",
    "mountain": "mountains or rocks", "indoor room": "a room",
}


def _color_words(colors: tuple[NamedColor, ...]) -> str:
    return join_words(list(dict.fromkeys(c.basic for c in colors)))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_facts(facts: Facts, *, context: bool = False, postures: bool = True,
                   min_scene_confidence: float = 0.3) -> str:
    """Renders facts as a few labelled lines of English.

    Args:
        facts: The facts of one image.
        context: Add the whole-image classifier's labels ("Context: seashore.").
            Off by default: measured, they made captions more varied but
            added invented objects (see the README).
        postures: Add people's postures when they were measured.
        min_scene_confidence: Scene judgements below this are left out.
    """
    lines = []
    names = display_names(facts.detections)
    if facts.detections:
        lines.append(f"Objects: {count_phrase(facts.counts())}.")
        parts = []
        for d in facts.detections:
            oc = facts.colors_of(d.instance_id)
            if oc is not None and oc.colors:
                parts.append(f"{names[d.instance_id]} is {_color_words(oc.colors)}")
        if parts:
            lines.append("Colors: " + "; ".join(parts) + ".")
        if facts.relations:
            lines.append("Positions: " + "; ".join(relation_sentence(r, names) for r in facts.relations) + ".")
    else:
        lines.append("Objects: none detected.")
        if facts.palette:
            lines.append(f"Colors: the image is mostly {_color_words(facts.palette)}.")
    if postures and facts.postures:
        said = [f"{names.get(p.instance_id, p.instance_id)} is {p.posture}" for p in facts.postures]
        lines.append("Posture: " + "; ".join(said) + ".")
    setting = [SETTING_PHRASES.get(cue.value, cue.value)
               for cue in (facts.scene.location, facts.scene.time_of_day, facts.scene.place)
               if cue.value != "unknown" and cue.confidence >= min_scene_confidence]
    if setting:
        lines.append("Setting: " + ", ".join(setting) + ".")
    if context and facts.context:
        lines.append("Context: " + ", ".join(c.label for c in facts.context) + ".")
    if facts.ocr.status == "ok" and facts.ocr.texts:
        lines.append("Text: " + "; ".join(f'"{t}"' for t in facts.ocr.texts) + ".")
    return "\n".join(_sentence(line) for line in lines)


_PLACE = {"street": "on a street", "water": "by the water", "snow": "in the snow", "grass": "on the grass",
          "mountain": "on the rocks", "indoor room": "in a room"}


def _main_color(facts: Facts, label: str) -> str:
    """The first color of the first object with that label, if it is a plain color word."""
    for d in facts.detections:
        if d.label == label:
            oc = facts.colors_of(d.instance_id)
            if oc is not None and oc.colors:
                return oc.colors[0].basic
    return ""


def template_caption(facts: Facts) -> str:
    """A caption from the facts alone.

    >>> from groundcap.records import Detection, Facts, ImageInfo
    >>> f = Facts(ImageInfo(640, 480, "0"), (Detection("dog", "dog_1", (0, 0, 90, 90), 0.9, (640, 480)),))
    >>> template_caption(f)
    'A dog.'
    """
    parts = []
    for label, count in facts.counts().items():
        noun = pluralize(label, count)
        color = _main_color(facts, label) if count == 1 else ""
        phrase = f"{color} {noun}".strip()
        parts.append(f"{article(phrase)} {phrase}" if count == 1 else f"{number_word(count)} {phrase}")
    if parts:
        text = join_words(parts[:3])
    elif facts.palette:
        text = f"a mostly {join_words([c.basic for c in facts.palette[:2]])} scene"
    else:
        text = "a photo"
    scene = facts.scene
    if scene.place.value in _PLACE and scene.place.confidence >= 0.3:
        text += " " + _PLACE[scene.place.value]
    elif scene.location.value == "indoor" and scene.location.confidence >= 0.3:
        text += " indoors"
    if scene.time_of_day.value == "night" and scene.time_of_day.confidence >= 0.3:
        text += " at night"
    return text[0].upper() + text[1:] + "."

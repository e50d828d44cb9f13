"""No LLM: one deterministic sentence built from the facts.

It is the honest baseline every LLM must beat, and the fallback when no
candidate an LLM wrote is usable.
"""

from __future__ import annotations

from typing import Sequence

from groundcap.llm_finetune.generators.base import Completion, Generator
from groundcap.llm_finetune.prompt import Prompt
from groundcap.records import Facts
from groundcap.spatial.counts import article, join_words, pluralize, number_word

__all__ = ["TemplateGenerator", "template_caption"]

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


class TemplateGenerator(Generator):
    """The template sentence as the only candidate (greedy, no log-prob)."""

    name = "template"

    @property
    def model_id(self) -> str:
        return "template"

    def generate_raw(self, prompts: Sequence[Prompt], n: int, facts: Sequence[Facts] | None = None
                     ) -> list[list[Completion]]:
        if facts is None or len(facts) != len(prompts):
            raise ValueError("the template generator needs the facts of every prompt")
        return [[Completion(template_caption(f), None, greedy=True)] for f in facts]

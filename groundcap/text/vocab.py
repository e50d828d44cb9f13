"""Reading what human captions say: COCO objects, colors and settings.

The object synonyms live in ``coco_synonyms.json`` (package data) so the same
table serves the facts agreement and CHAIR in :mod:`groundcap.eval` and the
grounding check's claims in :mod:`groundcap.rerank`.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Iterable, Mapping

__all__ = [
    "coco_synonyms", "tokens", "mentioned_classes", "colors_attached", "color_family",
    "caption_color_family", "SETTING_WORDS", "setting_votes",
]

_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")


@functools.lru_cache(maxsize=1)
def coco_synonyms() -> dict[str, tuple[str, ...]]:
    """COCO label → the caption words (and phrases) that name it."""
    raw = json.loads(resources.files("groundcap.text").joinpath("coco_synonyms.json").read_text("utf-8"))
    return {k: tuple(v) for k, v in raw.items() if not k.startswith("_")}


@functools.lru_cache(maxsize=1)
def _phrase_index() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """First word → [(phrase tokens, label)], longest phrases first."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for label, words in coco_synonyms().items():
        for w in words:
            toks = tuple(w.split())
            index.setdefault(toks[0], []).append((toks, label))
    for entries in index.values():
        entries.sort(key=lambda e: -len(e[0]))
    return index


def tokens(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated words stay whole."""
    return _WORD.findall(text.lower())


def _matches(toks: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, label) for each synonym occurrence, longest match first."""
    out, i = [], 0
    index = _phrase_index()
    while i < len(toks):
        for phrase, label in index.get(toks[i], ()):
            if tuple(toks[i:i + len(phrase)]) == phrase:
                out.append((i, i + len(phrase), label))
                i += len(phrase) - 1
                break
        i += 1
    return out


def mentioned_classes(caption: str) -> set[str]:
    """COCO labels that a caption names, through the synonym table.

    >>> sorted(mentioned_classes("Two dogs run past a man on a bike ."))
    ['bicycle', 'dog', 'person']
    """
    return {label for _, _, label in _matches(tokens(caption))}


# Caption color words and the families they belong to.
_CAPTION_COLORS: Mapping[str, str] = {
    "black": "black", "white": "white", "gray": "gray", "grey": "gray", "silver": "gray",
    "red": "red", "maroon": "red", "crimson": "red", "blue": "blue", "navy": "blue",
    "green": "green", "yellow": "yellow", "gold": "yellow", "golden": "yellow", "orange": "orange",
    "brown": "brown", "tan": "brown", "beige": "brown", "khaki": "brown", "pink": "pink",
    "purple": "purple", "violet": "purple", "blond": "yellow", "blonde": "yellow",
}


def caption_color_family(word: str) -> str | None:
    return _CAPTION_COLORS.get(word)


def color_family(basic: str) -> frozenset[str]:
    """Caption color families that a measured basic name counts as.

    >>> sorted(color_family("dark blue")), sorted(color_family("teal"))
    (['blue'], ['blue', 'green'])
    """
    word = basic.replace("dark ", "").replace("light ", "")
    special = {"tan": {"brown"}, "beige": {"brown", "white"}, "olive": {"green", "brown"},
               "teal": {"blue", "green"}, "turquoise": {"blue", "green"}}
    return frozenset(special.get(word, {word}))


_ATTACH_AFTER = {"in", "wearing", "with", "dressed", "wears"}


def colors_attached(caption: str) -> dict[str, set[str]]:
    """Color families the caption attaches to each COCO label it names.

    A color counts for a noun when it is among the three words before it
    ("a black and white dog") or follows it after "in"/"wearing"/"with"
    within five words ("a man in a red shirt": clothes are what a person's
    box is mostly made of).

    >>> colors_attached("A man in a red shirt walks a black dog .")
    {'person': {'red'}, 'dog': {'black'}}
    """
    toks = tokens(caption)
    out: dict[str, set[str]] = {}
    for start, end, label in _matches(toks):
        window = toks[max(0, start - 3):start]
        if end < len(toks) and toks[end] in _ATTACH_AFTER:
            window += toks[end:end + 5]
        fams = {caption_color_family(t) for t in window} - {None}
        if fams:
            out.setdefault(label, set()).update(fams)  # type: ignore[arg-type]
    return out


SETTING_WORDS: Mapping[str, frozenset[str]] = {
    "outdoor": frozenset("""outside outdoors outdoor grass grassy field fields beach ocean sea lake river water snow
        snowy street streets road sidewalk park mountain mountains hill hills sand sandy woods forest trees tree sky
        yard dirt trail waves shore city fountain stream creek meadow lawn desert pond rocks rocky cliff surf
        parade crosswalk garden playground pool""".split()),
    "indoor": frozenset("""inside indoors indoor room kitchen bedroom bathroom couch sofa bed carpet restaurant store
        shop bar office classroom gym hallway mall living stage""".split()),
    # not "dark": captions use it for dogs and hair far more than for the light
    "night": frozenset("night nighttime evening dusk".split()),
    "day": frozenset("sunny sun daytime day sunshine sunlight".split()),
    "water": frozenset("water ocean sea lake river pool beach waves surf shore stream creek pond splash splashing swimming".split()),
    "snow": frozenset("snow snowy ski skiing skier snowboard snowboarder snowboarding".split()),
    "grass": frozenset("grass grassy field fields lawn meadow yard park".split()),
    "street": frozenset("street streets road sidewalk city crosswalk intersection traffic downtown".split()),
    "mountain": frozenset("mountain mountains rock rocks rocky cliff hill hillside boulder climbing climber".split()),
    "standing": frozenset("stand stands standing stood".split()),
    "sitting": frozenset("sit sits sitting seated sat".split()),
    "lying": frozenset("lying lies lay lays laying laid".split()),
    "running": frozenset("run runs running ran jogging jogs racing races sprinting".split()),
    "jumping": frozenset("jump jumps jumping jumped leap leaps leaping".split()),
    "indoor room": frozenset("room kitchen bedroom bathroom couch sofa bed carpet restaurant store shop office classroom gym hallway living".split()),
}


def setting_votes(captions: Iterable[str], kinds: Iterable[str]) -> dict[str, int]:
    """How many of the captions use a word of each setting kind."""
    caps = [set(tokens(c)) for c in captions]
    return {k: sum(bool(c & SETTING_WORDS[k]) for c in caps) for k in kinds}

"""The English :mod:`groundcap.rerank.claims` reads captions with: word lists and the COCO lexicon.

Number words and quantifiers, the adjectives and color triggers around a
noun, body parts, accessories and coats, nouns that count nothing, relation
phrases and setting words, and the tables built once from the COCO synonyms
of :mod:`groundcap.text.vocab` (:func:`phrase_index`, :func:`plural_forms`,
:func:`scene_words`). All of it is private to the claim parser.
"""

from __future__ import annotations

import functools

from groundcap.text.vocab import SETTING_WORDS, coco_synonyms

__all__: list[str] = []

NUMBERS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())} | {"dozen": 12}

# Multi-word quantifiers before a noun phrase, as (kind, number). Kinds: "group"
# (at least two), "number" (exactly n), "single" (exactly one), "negated"
# (the object is said to be absent), "article" (plurality comes from the noun).
QUANTIFIERS: dict[tuple[str, ...], tuple[str, int]] = {
    **{tuple(q.split()): ("group", 0) for q in (
        "a group of", "group of", "groups of", "a crowd of", "crowd of", "a bunch of", "a couple of", "couple of",
        "a few", "few", "several", "many", "multiple", "numerous", "lots of", "a lot of", "a herd of", "herd of",
        "a flock of", "flock of", "a pack of", "a team of", "a line of", "a row of", "rows of", "dozens of")},
    **{tuple(q.split()): ("number", 2) for q in ("a pair of", "pair of", "both", "both of the")},
    **{tuple(q.split()): ("single", 1) for q in ("a single", "a lone", "lone", "only one", "just one")},
    **{tuple(q.split()): ("negated", 0) for q in ("no", "without", "without a", "without any", "not a")},
    **{(w,): ("article", 0) for w in (
        "a", "an", "one", "another", "the", "some", "other", "these", "those", "this", "that", "his", "her", "their",
        "its")},
}
MAX_QUANTIFIER = max(map(len, QUANTIFIERS))

# Adjectives that may stand between a determiner and its noun ("a big black dog").
ADJECTIVES = frozenset("""big small little large young old tiny huge tall short long fluffy furry shaggy wet muddy
    happy cute adult baby older younger elderly fat thin skinny pretty beautiful smiling light dark bright pale deep
    colorful sleek shiny dirty clean giant toy wooden metal plastic""".split())
# Color words that describe hair or skin rather than what fills the box.
NOT_BOX_COLORS = frozenset({"blond", "blonde"})
# A color after a person ("a man in a red shirt"): clothes make up most of the box ...
PERSON_COLOR_TRIGGERS = frozenset({"in", "wearing", "wears", "dressed", "with"})
# ... unless the color names hair, eyes or skin.
BODY_PARTS = frozenset({"hair", "beard", "eyes", "skin", "mustache", "moustache", "lips", "eye", "lipstick"})
# ... or a small accessory that hardly colors the box.
ACCESSORIES = frozenset({"hat", "hats", "cap", "caps", "helmet", "helmets", "glasses", "sunglasses", "goggles",
                          "shoes", "sneakers", "boots", "gloves", "mittens", "scarf", "bandana", "headband", "socks",
                          "mask", "necklace", "collar", "bow", "wristband", "earrings"})
# After an animal, only its coat counts ("a dog with brown fur"), not a collar or a ball.
COAT = frozenset({"fur", "coat", "spots", "stripes", "markings", "feathers", "mane"})
ANIMALS = frozenset({"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"})
# Words that end the window read after a person for their clothes.
AFTER_STOP = frozenset({"is", "are", "on", "at", "near", "next", "by", "while", "who", "that", "under", "behind",
                         "beside", "to", "of", "from", "into", "as"})

# A COCO word followed by one of these names something else ("a bus stop", "a baseball game").
MODIFIED_NOUNS = frozenset("""game games field court uniform uniforms team slope slopes lift lifts resort jersey
    helmet cap hat player players park track station stop lane shop store rack pen suit shirt shirts trail leash
    collar house bowl kennel food toy toys net""".split())
# COCO words that are also verbs, read as verbs right after a noun ("a man skis", "a dog ducks").
VERB_AFTER_NOUN = frozenset({"skis", "ski", "bikes", "bike", "ties", "tie", "bats", "ducks", "duck", "plants",
                              "trains"})
# Pronouns stand for animals as often as for people ("the dog shakes as he runs"): no claim.
PRONOUNS = frozenset({"he", "she"})
# Nouns that are groups of people in themselves.
GROUP_NOUNS = frozenset({"crowd", "couple", "family", "team", "audience", "friends", "cattle"})
# Nouns whose form does not say how many ("sheep"), and words that count nothing.
UNCOUNTED = frozenset({"sheep", "broccoli", "luggage", "someone", "individual", "youth"})
UNCOUNTED_LABELS = frozenset({"skis", "scissors"})
# A noun after one of these names someone already counted when an earlier mention has the same noun
# ("a man ... the man"); with another noun it is someone new ("a man and the woman").
DEFINITE = frozenset({"the", "this", "that", "these", "those", "his", "her", "their", "its"})
_IRREGULAR_PLURALS = frozenset({"people", "men", "women", "children", "geese", "oxen", "knives", "mice"})

# Relation phrases between two object mentions, as the predicate they assert.
# "behind" asserts the object is in front of the subject.
RELATION_PHRASES: dict[tuple[str, ...], str] = {
    **{tuple(p.split()): "left of" for p in ("to the left of", "on the left of", "left of")},
    **{tuple(p.split()): "right of" for p in ("to the right of", "on the right of", "right of")},
    **{tuple(p.split()): "on top of" for p in ("on top of", "on", "onto", "atop", "riding", "rides", "ride")},
    **{tuple(p.split()): "above" for p in ("above",)},
    **{tuple(p.split()): "below" for p in ("below", "under", "underneath", "beneath")},
    **{tuple(p.split()): "next to" for p in ("next to", "beside", "near", "alongside", "close to")},
    **{tuple(p.split()): "in front of" for p in ("in front of",)},
    **{tuple(p.split()): "behind" for p in ("behind",)},
    **{tuple(p.split()): "inside" for p in ("inside", "inside of", "in", "into")},
    **{tuple(p.split()): "far from" for p in ("far from", "far away from", "away from")},
}
MAX_RELATION = max(map(len, RELATION_PHRASES))
# Words that start a new statement: a relation does not reach across them.
RELATION_BREAKS = frozenset({"and", "while", "as", "but", "or", "then", "when", "where", "because", "so"})
MAX_RELATION_GAP = 6

_OUTDOOR, _INDOOR = ("location", "outdoor"), ("location", "indoor")
# Activity words name what people do, not where (a "swimming" dog may be in a pool indoors).
_NOT_PLACE_WORDS = frozenset({"swimming", "splash", "splashing", "climbing", "climber", "rock", "living"})


@functools.lru_cache(maxsize=1)
def scene_words() -> dict[str, tuple[tuple[str, str], ...]]:
    """Setting word → the (scene axis, value) pairs it implies."""
    coco_words = {w for words in coco_synonyms().values() for w in words}
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for w in ("night", "nighttime", "evening", "dusk"):
        out[w] = (("time_of_day", "night"),)
    for w in ("daytime", "sunny", "sunshine", "sunlight", "day"):
        out[w] = (("time_of_day", "day"),)
    for w in ("outside", "outdoors", "outdoor"):
        out[w] = (_OUTDOOR,)
    for w in ("inside", "indoors", "indoor"):
        out[w] = (_INDOOR,)
    for place in ("water", "snow", "grass", "street", "mountain", "indoor room"):
        for w in sorted(SETTING_WORDS[place] - coco_words - _NOT_PLACE_WORDS):
            implied = _INDOOR if place == "indoor room" else _OUTDOOR
            out.setdefault(w, (("place", place),) + (() if w == "pool" else (implied,)))
    return out


@functools.lru_cache(maxsize=1)
def phrase_index() -> dict[str, tuple[tuple[tuple[str, ...], str], ...]]:
    """First word → ((phrase words, COCO label), ...), longest phrases first."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for label, words in coco_synonyms().items():
        for w in words:
            index.setdefault(w.split()[0], []).append((tuple(w.split()), label))
    return {k: tuple(sorted(v, key=lambda e: -len(e[0]))) for k, v in index.items()}


@functools.lru_cache(maxsize=1)
def plural_forms() -> frozenset[str]:
    """Synonyms that name more than one thing ("dogs", "puppies", "wine glasses")."""
    out = set(_IRREGULAR_PLURALS)
    for words in coco_synonyms().values():
        known = set(words)
        for w in words:
            if w.endswith("s") and (w[:-1] in known or w[:-2] in known or w[:-3] + "y" in known
                                    or w[:-3] + "fe" in known):
                out.add(w)
    return frozenset(out)

"""Counts of objects in plain English: ``{"dog": 2, "person": 1}`` → "two dogs and a person".

Labels are the COCO class names. Plurals come from a short table of the
irregular ones plus the ordinary English suffix rules, which between them
cover all 80 classes. ``skis`` and ``scissors`` have no singular, so one of
them is "a pair of scissors"; ``broccoli`` is a mass noun, so one detected
piece is "a piece of broccoli".

>>> count_phrase({"dog": 2, "person": 1, "umbrella": 1})
'two dogs, a person and an umbrella'
>>> count_phrase({"person": 12})
'12 people'
"""

from __future__ import annotations

from typing import Iterable, Mapping, Union

__all__ = ["count_phrase", "pluralize", "number_word", "singular_noun", "article", "join_words"]

# Plurals the suffix rules below would get wrong.
_IRREGULAR = {
    "person": "people",
    "mouse": "mice",
    "knife": "knives",
    "sheep": "sheep",
    "skis": "skis",
    "scissors": "scissors",
    "broccoli": "broccoli",
    "man": "men",
    "woman": "women",
    "child": "children",
    "foot": "feet",
    "tooth": "teeth",
    "leaf": "leaves",
    "fish": "fish",
    "deer": "deer",
}

# Nouns counted through a unit: "a pair of skis", "three pieces of broccoli".
_UNIT = {"skis": "pair", "scissors": "pair", "broccoli": "piece"}

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

# Spelling says vowel but sound says consonant ("a unicorn"), or the reverse ("an hour").
_A_DESPITE_VOWEL = ("uni", "use", "usu", "eu", "one", "once")
_AN_DESPITE_CONSONANT = ("hour", "honest", "honor", "heir")

LabelsOrCounts = Union[Mapping[str, int], Iterable[str]]


def number_word(n: int) -> str:
    """English word for ``n`` up to ten, digits beyond.

    >>> number_word(3), number_word(12)
    ('three', '12')

    Raises:
        ValueError: If ``n`` is negative.
        TypeError: If ``n`` is not an integer.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"a count must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"a count cannot be negative, got {n}")
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _plural_of_word(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def pluralize(label: str, n: int = 2) -> str:
    """The label as a noun for ``n`` things: itself for one, its plural otherwise.

    Only the last word of a compound changes ("wine glass" → "wine glasses").

    >>> pluralize("person", 3), pluralize("bus", 2), pluralize("dog", 1)
    ('people', 'buses', 'dog')
    """
    number_word(n)  # validates n
    if n == 1:
        return label
    if label in _IRREGULAR:
        return _IRREGULAR[label]
    head, _, last = label.rpartition(" ")
    return f"{head} {_plural_of_word(last)}" if head else _plural_of_word(last)


def singular_noun(label: str) -> str:
    """A noun phrase for one thing of this label: "pair of skis", otherwise the label."""
    unit = _UNIT.get(label)
    return f"{unit} of {label}" if unit else label


def article(noun_phrase: str) -> str:
    """"a" or "an", by how the phrase sounds.

    >>> article("umbrella"), article("person"), article("unicorn")
    ('an', 'a', 'a')
    """
    word = noun_phrase.lower()
    if word.startswith(_A_DESPITE_VOWEL):
        return "a"
    if word.startswith(_AN_DESPITE_CONSONANT) or word[:1] in ("a", "e", "i", "o", "u"):
        return "an"
    return "a"


def _counted(label: str, n: int) -> str:
    """One list item: "a person", "two dogs", "three pairs of skis"."""
    unit = _UNIT.get(label)
    if n == 1:
        noun = singular_noun(label)
        return f"{article(noun)} {noun}"
    noun = f"{pluralize(unit, n)} of {label}" if unit else pluralize(label, n)
    return f"{number_word(n)} {noun}"


def join_words(items: list[str]) -> str:
    """Joins list items as "a, b and c" (no Oxford comma).

    >>> join_words(["a dog"]), join_words(["a dog", "a cat", "a cow"])
    ('a dog', 'a dog, a cat and a cow')
    """
    if isinstance(items, str):
        # Joining a string would interleave its characters with separators.
        raise TypeError(f"join_words takes a list of phrases, got the string {items!r}")
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _tally(labels_or_counts: LabelsOrCounts) -> dict[str, int]:
    if isinstance(labels_or_counts, str):
        raise TypeError(
            f"count_phrase takes a mapping of counts or a list of labels, got the string {labels_or_counts!r}"
        )
    if isinstance(labels_or_counts, Mapping):
        return dict(labels_or_counts)
    tally: dict[str, int] = {}
    for label in labels_or_counts:
        tally[label] = tally.get(label, 0) + 1
    return tally


def count_phrase(labels_or_counts: LabelsOrCounts) -> str:
    """How many of each thing there are, in the order given.

    Args:
        labels_or_counts: A mapping of label to count, kept in its order (the
            caller sorts), or a list of labels, counted in first-seen order.
            Zero counts are left out.

    Returns:
        "two dogs and a person"; ``""`` when there is nothing to count.

    Raises:
        TypeError: On a bare string (a list of one label was probably meant)
            or a count that is not an int.
        ValueError: On a negative count.

    >>> count_phrase(["dog", "person", "dog"])
    'two dogs and a person'
    >>> count_phrase({"scissors": 1, "orange": 3})
    'a pair of scissors and three oranges'
    """
    items = []
    for label, n in _tally(labels_or_counts).items():
        number_word(n)  # a bad count fails here even when it is zero
        if n:
            items.append(_counted(label, n))
    return join_words(items)

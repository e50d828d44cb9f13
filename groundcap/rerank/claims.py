"""Reading what a caption claims: COCO objects, their counts and colors, relations, the setting.

A caption is cut into :class:`Statement` s, each a claim as the caption makes
it, before anything is checked (:func:`groundcap.rerank.grounding.check_claims`
judges them against an image's facts). Objects are found through the COCO
synonym table of :mod:`groundcap.text.vocab`, so "a man" names a ``person``
and "a puppy" a ``dog``; nouns outside COCO ("grass", "wall") make no object
claim. The parse is a few word lists (:mod:`groundcap.rerank.claim_words`) and a
left-to-right scan, no model: it misses some claims, and it prefers missing one
to inventing one.

>>> [(s.kind, s.text, s.value) for s in parse_claims("Two black dogs and a man at night.")]
... # doctest: +NORMALIZE_WHITESPACE
[('object', 'Two black dogs', ''), ('count', 'Two black dogs', '2'), ('color', 'black dogs', 'black'),
 ('object', 'a man', ''), ('scene', 'night', 'time_of_day=night')]
>>> parse_claims("A man to the left of a dog.")[1]  # doctest: +NORMALIZE_WHITESPACE
Statement(kind='relation', text='A man to the left of a dog', start=0, label='person', value='left of',
          other='dog', word='to the left of')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from groundcap.rerank.claim_words import (
    NUMBERS, QUANTIFIERS, MAX_QUANTIFIER, ADJECTIVES, NOT_BOX_COLORS, PERSON_COLOR_TRIGGERS, BODY_PARTS,
    ACCESSORIES, COAT, ANIMALS, AFTER_STOP, MODIFIED_NOUNS, VERB_AFTER_NOUN, PRONOUNS, GROUP_NOUNS,
    UNCOUNTED, UNCOUNTED_LABELS, DEFINITE, RELATION_PHRASES, MAX_RELATION, RELATION_BREAKS, MAX_RELATION_GAP,
    scene_words, phrase_index, plural_forms,
)
from groundcap.text.vocab import caption_color_family

__all__ = ["Statement", "parse_claims"]

_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*|[0-9]+")
_CLAUSE_BREAK = re.compile(r"[.,;:!?]")


@dataclass(frozen=True)
class Statement:
    """A claim as the caption makes it, before it is checked.

    Attributes:
        kind: ``object``, ``count``, ``color``, ``relation`` or ``scene``.
        text: The caption span that makes it, as written.
        start: Character offset of ``text`` in the caption.
        label: COCO label of the object it is about (``""`` for the scene).
        value: What is claimed: a count, summed over every mention of the
            label (``"3"`` exactly three, ``"2+"`` at least two, ``"1"``
            exactly one), a color family, a relation predicate
            (``"behind"`` included), or the scene as ``axis=value`` pairs
            joined by commas (``"place=water,location=outdoor"``).
        other: A relation's object label.
        word: The caption word behind ``value`` ("maroon", "beach").
    """

    kind: str
    text: str
    start: int
    label: str = ""
    value: str = ""
    other: str = ""
    word: str = ""

    @property
    def scene(self) -> tuple[tuple[str, str], ...]:
        """A scene statement's ``(axis, value)`` pairs."""
        return tuple(tuple(p.split("=", 1)) for p in self.value.split(",") if p)  # type: ignore[misc]


@dataclass(frozen=True)
class _Token:
    word: str
    start: int
    end: int
    clause: int


@dataclass(frozen=True)
class _Mention:
    """A COCO object named in the caption, with the noun phrase around it."""

    label: str
    first: int  # the noun phrase's first token (quantifier or modifier)
    head: int  # the noun's first token
    end: int  # the token after the noun
    count: str  # "", "1", "2+", or the stated number
    negated: bool
    colors: tuple[int, ...]  # tokens holding color words for this object


def _tokenize(text: str) -> list[_Token]:
    out, clause, prev = [], 0, 0
    for m in _TOKEN.finditer(text.lower()):
        if _CLAUSE_BREAK.search(text, prev, m.start()):
            clause += 1
        out.append(_Token(m.group(), m.start(), m.end(), clause))
        prev = m.end()
    return out


def _color_families(word: str) -> tuple[str, ...]:
    """Families of a color word or an all-color compound ("black-and-white"); () otherwise."""
    if word in NOT_BOX_COLORS:
        return ()
    parts = [p for p in word.split("-") if p not in ("and", "colored", "coloured")]
    fams = [caption_color_family(p) for p in parts]
    return tuple(dict.fromkeys(fams)) if parts and all(fams) else ()  # type: ignore[arg-type]


def _is_modifier(toks: list[_Token], j: int) -> bool:
    w = toks[j].word
    if _color_families(w) or w in ADJECTIVES:
        return True
    if w == "and":  # inside a color list: "black and white"
        return j > 0 and bool(_color_families(toks[j - 1].word))
    return len(w) > 4 and w.endswith("ed") and w not in ("dressed", "seated")


def _quantifier(toks: list[_Token], j: int) -> tuple[int, str, int] | None:
    """The quantifier ending at token ``j``: (first token, kind, number)."""
    if j < 0:
        return None
    if toks[j].word.isdigit():
        return (j, "number", int(toks[j].word))
    if toks[j].word in NUMBERS and toks[j].word != "one":
        n = NUMBERS[toks[j].word]
        return (j - 1, "number", n) if toks[j].word == "dozen" and j > 0 and toks[j - 1].word == "a" else (j, "number", n)
    for size in range(min(MAX_QUANTIFIER, j + 1), 0, -1):
        words = tuple(t.word for t in toks[j - size + 1:j + 1])
        if words in QUANTIFIERS and toks[j - size + 1].clause == toks[j].clause:
            return (j - size + 1, *QUANTIFIERS[words])
    return None


def _count(kind: str, n: int, noun: tuple[str, ...], label: str) -> str:
    if label in UNCOUNTED_LABELS:  # one pair of skis is one box
        return ""
    if noun[-1] in UNCOUNTED:
        return str(n) if kind == "number" else ""
    if kind in ("number", "single"):
        return str(n)
    if kind == "group" or noun[-1] in GROUP_NOUNS or " ".join(noun) in plural_forms():
        return "2+"
    return ""


def _mentions(toks: list[_Token]) -> list[_Mention]:
    found: list[tuple[int, int, str]] = []
    i, index = 0, phrase_index()
    while i < len(toks):
        for phrase, label in index.get(toks[i].word, ()):
            if tuple(t.word for t in toks[i:i + len(phrase)]) == phrase:
                found.append((i, i + len(phrase), label))
                i += len(phrase) - 1
                break
        i += 1
    ends = {e for _, e, _ in found}
    found = [f for f in found if not (f[0] in ends and toks[f[0]].word in VERB_AFTER_NOUN)]  # "a man skis"
    starts = {s for s, _, _ in found}
    taken = {k for s, e, _ in found for k in range(s, e)}
    out = []
    for head, end, label in found:
        if toks[head].word in PRONOUNS:
            continue
        nxt = toks[end] if end < len(toks) else None
        if nxt is not None and nxt.clause == toks[head].clause and (end in starts or nxt.word in MODIFIED_NOUNS):
            continue  # a modifier: "baseball player", "bus stop"
        j, colors = head - 1, []
        while j >= 0 and head - j <= 4 and j not in taken and toks[j].clause == toks[head].clause \
                and _is_modifier(toks, j):
            if _color_families(toks[j].word):
                colors.append(j)
            j -= 1
        quant = None if j in taken else _quantifier(toks, j)
        first = quant[0] if quant else j + 1
        kind, n = (quant[1], quant[2]) if quant else ("", 0)
        noun = tuple(t.word for t in toks[head:end])
        negated = kind == "negated" or (first > 0 and toks[first - 1].word in ("no", "without"))
        out.append(_Mention(label, first, head, end, _count(kind, n, noun, label), negated, tuple(sorted(colors))))
    return out


def _colors_after(toks: list[_Token], m: _Mention, mentions: list[_Mention], claimed: set[int]) -> list[int]:
    """Color tokens after a person's or animal's noun that still describe its box."""
    person, animal = m.label == "person", m.label in ANIMALS
    if not (person or animal) or m.end >= len(toks) or toks[m.end].word not in PERSON_COLOR_TRIGGERS:
        return []
    if animal and toks[m.end].word != "with":
        return []
    heads = {x.head for x in mentions}
    out = []
    for k in range(m.end + 1, min(len(toks), m.end + 6)):
        t = toks[k]
        if t.clause != toks[m.head].clause or k in heads or t.word in AFTER_STOP or t.word.endswith("ing"):
            break
        if k in claimed or not _color_families(t.word):
            continue
        after = toks[k + 1].word if k + 1 < len(toks) else ""
        if (person and after not in BODY_PARTS | ACCESSORIES) or (animal and after in COAT):
            out.append(k)
    return out


def _span(text: str, toks: list[_Token], first: int, last: int) -> tuple[str, int]:
    return text[toks[first].start:toks[last].end], toks[first].start


def _relation(text: str, toks: list[_Token], a: _Mention, b: _Mention) -> Statement | None:
    gap = toks[a.end:b.first]
    if a.negated or b.negated or not gap or len(gap) > MAX_RELATION_GAP or toks[a.head].clause != toks[b.head].clause:
        return None
    words = tuple(t.word for t in gap)
    if RELATION_BREAKS & set(words):
        return None
    for size in range(min(MAX_RELATION, len(words)), 0, -1):
        predicate = RELATION_PHRASES.get(words[-size:])
        if predicate:
            span, start = _span(text, toks, a.first, b.end - 1)
            return Statement("relation", span, start, a.label, predicate, b.label, " ".join(words[-size:]))
    return None


def _scene(text: str, toks: list[_Token], mentions: list[_Mention]) -> list[Statement]:
    taken = {k for m in mentions for k in range(m.head, m.end)}
    heads = {m.head for m in mentions} | {m.first for m in mentions}
    words, out, seen = scene_words(), [], set()
    for k, t in enumerate(toks):
        implied = words.get(t.word)
        if not implied or k in taken or (t.word == "inside" and k + 1 in heads):
            continue  # "inside a car" says where the object is, not that the photo is indoors
        if t.word == "day" and k > 0 and toks[k - 1].word in ("all", "every"):
            continue
        value = ",".join(f"{axis}={v}" for axis, v in implied)
        if value not in seen:
            seen.add(value)
            out.append(Statement("scene", text[t.start:t.end], t.start, "", value, "", t.word))
    return out


def _how_many(toks: list[_Token], m: _Mention, earlier: list[_Mention]) -> tuple[int, bool] | None:
    """What one mention adds to its label's head count: (n, open-ended), or None when it names no one new."""
    determiners = {toks[k].word for k in (m.first - 1, m.first) if 0 <= k < m.head}
    if determiners & DEFINITE and any(toks[e.head].word == toks[m.head].word for e in earlier):
        return None  # "the man" after "a man"
    if m.count:
        return (2, True) if m.count == "2+" else (int(m.count), False)
    # No count of its own: _count already gave plurals and groups "2+", so this names one, or an
    # uncounted noun ("someone") at least one.
    return (1, True) if toks[m.head].word in UNCOUNTED else (1, False)


def _totals(toks: list[_Token], mentions: list[_Mention]) -> dict[str, tuple[str, _Mention, _Mention]]:
    """Per label whose number the caption states: the total it names, with its first and last counted mention.

    "Two men and a woman" names three people, so its count is checked as 3,
    not as the 2 of "two men". A total is stated when one of the label's
    mentions says how many (a number, a group, a plural); the other mentions
    add one each ("a woman"), or at least two (a plural), and one that names
    someone already counted ("the men") adds nothing. The value is ``"n"``
    for exactly n, ``"n+"`` for at least n.
    """
    by_label: dict[str, list[_Mention]] = {}
    for m in mentions:
        if not m.negated and m.label not in UNCOUNTED_LABELS:
            by_label.setdefault(m.label, []).append(m)
    out = {}
    for label, ms in by_label.items():
        if not any(m.count for m in ms):
            continue
        parts = [(m, _how_many(toks, m, ms[:i])) for i, m in enumerate(ms)]
        parts = [(m, p) for m, p in parts if p is not None]
        if len(parts) == 1:
            out[label] = (parts[0][0].count, parts[0][0], parts[0][0])
            continue
        n, open_ended = sum(p[0] for _, p in parts), any(p[1] for _, p in parts)
        out[label] = (f"{n}+" if open_ended else str(n), parts[0][0], parts[-1][0])
    return out


def parse_claims(text: str) -> tuple[Statement, ...]:
    """The claims a caption makes, in the order it makes them.

    Per object named through the COCO synonyms: one ``object`` statement per
    label (later mentions of the same label add none), a ``count`` when the
    caption says how many (a number, "a group of", a plural noun, "a lone"),
    and a ``color`` per color word attached to it (before the noun, or for
    people after "in"/"wearing"/"with"). Between two objects in one clause,
    a ``relation`` when a relation phrase ("next to", "on", "behind", ...)
    joins them. Setting words ("at night", "indoors", "on the beach") give
    ``scene`` statements. Negated objects ("no people") make no claims.

    Args:
        text: One caption.

    Returns:
        Statements ordered by where they start in the caption.
    """
    toks = _tokenize(text)
    mentions = _mentions(toks)
    claimed = {k for m in mentions for k in m.colors}
    counted = _totals(toks, mentions)
    out: list[Statement] = []
    labels: set[str] = set()
    said: set[tuple[str, str, str]] = set()  # (kind, label, value) already claimed

    def add(s: Statement) -> None:
        if s.kind == "object" or (s.kind, s.label, s.value) not in said:
            said.add((s.kind, s.label, s.value))
            out.append(s)

    for m in mentions:
        if m.negated:
            continue
        span, start = _span(text, toks, m.first, m.end - 1)
        if m.label not in labels:
            labels.add(m.label)
            add(Statement("object", span, start, m.label, "", "", toks[m.head].word))
        if m.label in counted and m is counted[m.label][1]:
            total, first, last = counted[m.label]
            count_span, count_start = _span(text, toks, first.first, last.end - 1)
            add(Statement("count", count_span, count_start, m.label, total, "", toks[m.head].word))
        for k in m.colors:
            for fam in _color_families(toks[k].word):
                color_span, color_start = _span(text, toks, k, m.end - 1)
                add(Statement("color", color_span, color_start, m.label, fam, "", toks[k].word))
        for k in _colors_after(toks, m, mentions, claimed):
            nxt = toks[k + 1] if k + 1 < len(toks) else None
            worn = nxt is not None and nxt.clause == toks[k].clause and nxt.word not in AFTER_STOP | {"and"} \
                and not nxt.word.endswith("ing")  # "in a red shirt", not "in red is"
            last = k + 1 if worn else k
            color_span, color_start = _span(text, toks, m.head, last)
            for fam in _color_families(toks[k].word):
                add(Statement("color", color_span, color_start, m.label, fam, "", toks[k].word))
    for a, b in zip(mentions, mentions[1:]):
        rel = _relation(text, toks, a, b)
        if rel is not None:
            out.append(rel)
    out += _scene(text, toks, mentions)
    order = {"object": 0, "count": 1, "color": 2, "relation": 3, "scene": 4}
    return tuple(sorted(out, key=lambda s: (s.start, order[s.kind])))

"""Structured caption metadata: reading the JSON object a model was asked for.

Models wrap JSON in prose or code fences and make small syntax slips, so
:func:`parse_metadata` takes the first JSON object in the answer and, when
there is none that parses, makes ONE repair attempt before giving up.

>>> data, status, detail = parse_metadata('Sure! ```json\\n{"title": "Dog", "description": "A dog.",}\\n```')
>>> status, data["title"], data["keywords"], detail
('ok', 'Dog', [], 'repaired JSON')
>>> parse_metadata("no idea")[1:]
('invalid_json', 'no JSON object in the answer')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["METADATA_KEYS", "CaptionMetadata", "parse_metadata", "repair_json"]

#: The keys a metadata answer holds.
METADATA_KEYS = ("title", "description", "keywords", "tags", "ocr_texts")

_TEXT_KEYS = ("title", "description")
_LIST_KEYS = ("keywords", "tags", "ocr_texts")
_DECODER = json.JSONDecoder(strict=False)  # models put raw newlines inside strings
_MAX_STARTS = 200
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
                               "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'"})
_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_CLOSERS = {"{": "}", "[": "]"}


def _text_list(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    elif not isinstance(value, list):
        raise ValueError(f"{key} must be a list of strings, got {type(value).__name__}")
    out: dict[str, None] = {}
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValueError(f"{key}[{i}] must be a string, got {type(item).__name__}")
        item = " ".join(item.split())
        if item:
            out[item] = None
    return tuple(out)


@dataclass(frozen=True)
class CaptionMetadata:
    """What the metadata template asks for, validated.

    Attributes:
        title: A few words naming the photo.
        description: The caption.
        keywords: Search keywords, de-duplicated in order.
        tags: Tags, de-duplicated in order.
        ocr_texts: Texts the model says are written in the image.
    """

    title: str
    description: str
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    ocr_texts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for key in _TEXT_KEYS:
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key} must be a non-empty string")
        for key in _LIST_KEYS:
            object.__setattr__(self, key, tuple(getattr(self, key)))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CaptionMetadata:
        """Validates a parsed answer; list fields may be missing or a comma-separated string.

        Raises:
            ValueError: saying which field is missing or of the wrong type.
        """
        text = {}
        for key in _TEXT_KEYS:
            value = d.get(key)
            if value is None:
                raise ValueError(f"missing {key}")
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a string, got {type(value).__name__}")
            if not value.strip():
                raise ValueError(f"{key} is empty")
            text[key] = " ".join(value.split())
        return cls(**text, **{key: _text_list(key, d.get(key)) for key in _LIST_KEYS})

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "keywords": list(self.keywords),
                "tags": list(self.tags), "ocr_texts": list(self.ocr_texts)}


def _objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object that parses as written, outermost first, in order."""
    found, end, tries = [], 0, 0
    for m in re.finditer(r"\{", text):
        if m.start() < end:
            continue
        tries += 1
        if tries > _MAX_STARTS:
            break
        try:
            obj, stop = _DECODER.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            found.append(obj)
            end = stop
    return found


def _next_char(text: str, i: int) -> str:
    m = re.compile(r"\S").search(text, i)
    return m.group() if m else ""


def _last(out: list[str]) -> str:
    """The last non-space character written so far."""
    return next((c for c in reversed(out) if not c.isspace()), "")


def _drop_trailing_comma(out: list[str]) -> None:
    while out and out[-1].isspace():
        out.pop()
    if out and out[-1] == ",":
        out.pop()


def repair_json(text: str) -> str:
    """One best-effort repair of a model's almost-JSON (see :func:`parse_metadata`).

    >>> repair_json("```json\\n{'title': 'A dog\\u2019s ball', \\u201ctags\\u201d: ['a', 'b',],")
    '{"title": "A dog\\'s ball", "tags": ["a", "b"]}'
    """
    text = _FENCE.sub("", text.translate(_SMART_QUOTES))
    start = text.find("{")
    if start < 0:
        return text
    close = text.rfind("}")
    text = text[start:close + 1] if close > start else text[start:]
    out: list[str] = []
    stack: list[str] = []
    quote = ""  # the quote character of the string we are in
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == '"':
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                quote = ""
        elif quote == "'":
            if ch == "\\" and i + 1 < len(text):
                nxt = text[i + 1]
                out.append("'" if nxt == "'" else "\\" + nxt)
                i += 1
            elif ch == '"':
                out.append('\\"')
            elif ch == "'" and _next_char(text, i + 1) in ("", ":", ",", "}", "]"):
                out.append('"')
                quote = ""
            else:
                out.append(ch)  # an apostrophe inside the string
        elif ch == '"':
            quote = ch
            out.append(ch)
        elif ch == "'" and _last(out) in ("{", "[", ",", ":"):
            quote = ch
            out.append('"')
        elif ch in _CLOSERS:
            stack.append(_CLOSERS[ch])
            out.append(ch)
        elif ch in "}]":
            _drop_trailing_comma(out)
            if stack and stack[-1] == ch:
                stack.pop()
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    if quote:
        out.append('"')
    _drop_trailing_comma(out)
    if _last(out) == ":":
        out.append(" null")
    out.extend(reversed(stack))
    return "".join(out)


def parse_metadata(raw: str) -> tuple[dict[str, Any] | None, str, str]:
    """Reads a metadata answer into ``(data, status, detail)``.

    Args:
        raw: What the model wrote.

    Returns:
        ``(CaptionMetadata.to_dict(), "ok", notes)`` where notes say whether
        the JSON was repaired; else ``(None, "invalid_json", why)``.
    """
    if not isinstance(raw, str) or not raw.strip():
        return None, "invalid_json", "empty answer"
    objects = _objects(raw)
    notes = []
    data = next((o for o in objects if any(k in o for k in METADATA_KEYS)), None)
    if data is None:
        try:
            fixed, why = _DECODER.decode(repair_json(raw)), ""
        except (ValueError, RecursionError) as e:
            fixed, why = None, getattr(e, "msg", None) or str(e)
        if isinstance(fixed, dict):
            data = fixed
            notes.append("repaired JSON")
        elif objects:
            data = objects[0]
        elif "{" not in raw:
            return None, "invalid_json", "no JSON object in the answer"
        else:
            why = why or f"got {type(fixed).__name__}, not an object"
            return None, "invalid_json", f"not JSON after one repair ({why})"
    try:
        meta = CaptionMetadata.from_dict(data)
    except ValueError as e:
        return None, "invalid_json", str(e)
    extra = sorted(set(data) - set(METADATA_KEYS))
    if extra:
        notes.append("ignored keys: " + ", ".join(extra))
    return meta.to_dict(), "ok", "; ".join(notes)

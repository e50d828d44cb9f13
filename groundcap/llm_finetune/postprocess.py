"""From what a model said to a candidate caption: clean-up, extraction, status.

Small models echo the prompt, open with "Sure! Here is a caption:", wrap the
answer in quotes, run on past the first sentence and stop mid-word at the
token limit. :func:`finish` undoes all of that, or says why it could not.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from groundcap.records import Candidate, Prompt

__all__ = ["Completion", "finish", "clean_caption", "first_sentence", "answer_settled"]

_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|</?s>|<pad>|\[/?INST\]")
_LEAD_IN = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly|here(?:'s| is)(?: an?| the)?(?: \w+){0,3} caption[^:\n]*|"
    r"caption|response|answer|output|title|description)\s*[:!.,-]\s*)+", re.I)
_ECHO_MARKERS = ("### Instruction", "### Input", "Objects:", "Colors:", "Positions:", "Setting:")
# Small models answer about the task ("The caption should be.") instead of doing it.
_META = re.compile(r"\b(caption|sentence|instruction|prompt|response|the (given|provided) information)\b", re.I)
_SENTENCE_END = re.compile(r"(?<!\b[A-Z])(?<!\bMr)(?<!\bMrs)(?<!\bDr)(?<!\bSt)[.!?](?=\s|$)")
# A model stuck in a loop until the token limit: one to four words said three times in a row.
_LOOP = re.compile(r"\b((?:\w+\W+){1,4}?)\1{2,}", re.I)


class Completion(NamedTuple):
    """One raw answer from a model.

    Attributes:
        text: The generated text, without the prompt.
        logprob: Mean token log-probability, when the backend knows it.
        greedy: Whether this is the greedy decode.
        error: Why nothing was generated (the endpoint failed, ...).
        truncated: The answer stopped at the token limit, not where the model ended it.
    """

    text: str
    logprob: float | None = None
    greedy: bool = False
    error: str | None = None
    truncated: bool = False


def first_sentence(text: str) -> tuple[str, bool]:
    """The first complete sentence, and whether one was found.

    >>> first_sentence("A dog runs. It is happy.")
    ('A dog runs.', True)
    >>> first_sentence("A dog runs on the")
    ('A dog runs on the', False)
    """
    m = _SENTENCE_END.search(text)
    if m:
        return text[: m.end()].strip(), True
    return text.strip(), False


def clean_caption(text: str, stops: tuple[str, ...] = (), one_sentence: bool = True) -> str:
    """Strips special tokens, stop-string tails, lead-ins, quotes and fragments."""
    for stop in stops:
        text = text.split(stop, 1)[0]
    text = _SPECIAL.sub(" ", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    for _ in range(2):  # "Sure! Caption: ..." has two lead-ins
        text = _LEAD_IN.sub("", text).strip()
    text = text.strip(" \"'“”‘’*`")
    text = " ".join(text.split())
    if one_sentence:
        sentence, complete = first_sentence(text)
        if not complete and text:
            # Cut off by the token limit: drop the dangling last words after the
            # last comma if there is one, else keep what we have.
            head = sentence.rsplit(",", 1)[0] if "," in sentence else sentence
            sentence = head.rstrip(" ,;:-") + "."
        text = sentence
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return text


def answer_settled(text: str, stops: tuple[str, ...] = ()) -> bool:
    """Whether more text can no longer change the one sentence :func:`clean_caption` keeps.

    That is so once a stop string or a second line has come (only the first
    line is kept), or once the first sentence is complete and the next has
    begun. Generators stop a row there: the rest would be thrown away.

    >>> answer_settled("A dog runs on the grass.")  # it may still be "grass. It ..." or "grass.5 m"
    False
    >>> answer_settled("A dog runs on the grass. The")
    True
    >>> answer_settled("Sure! Here")  # the lead-in goes; nothing is complete yet
    False
    """
    if any(stop in text for stop in stops):
        return True
    if "\n" in text.strip():
        return True
    if not any(end in text for end in ".!?"):  # no sentence has ended yet (cheap: called per row and token)
        return False
    cleaned = clean_caption(text, stops, one_sentence=False)
    sentence, complete = first_sentence(cleaned)
    return complete and len(cleaned) > len(sentence)


def _is_garbage(text: str) -> str | None:
    words = re.findall(r"[A-Za-z]+", text)
    if len(words) < 2:
        return "fewer than two words"
    if any(marker in text for marker in _ECHO_MARKERS):
        return "the prompt was echoed back"
    if _META.search(text):
        return "talks about the caption instead of the photo"
    most = max(words.count(w) for w in set(words))
    if len(words) >= 6 and most / len(words) > 0.5:
        return "one word repeated"
    if _LOOP.search(text + " "):
        return "the same words repeated over and over"
    return None


def _unfinished(raw: str, stops: tuple[str, ...]) -> bool:
    """Whether the answer has no complete sentence, nor a comma to cut a fragment at."""
    whole = clean_caption(raw, stops, one_sentence=False)
    return not first_sentence(whole)[1] and "," not in whole


def finish(completion: Completion, prompt: Prompt, *, source: str = "", one_sentence: bool = True) -> Candidate:
    """Turns a raw completion into a :class:`Candidate` with a status."""
    common = dict(logprob=completion.logprob, source=source, raw=completion.text, greedy=completion.greedy)
    if completion.error:
        return Candidate("", "error", detail=completion.error, **common)
    raw = completion.text
    for stop in prompt.stop:
        raw = raw.split(stop, 1)[0]
    structured = None
    if prompt.expects_json:
        from groundcap.llm_finetune.metadata import parse_metadata

        data, status, detail = parse_metadata(raw)
        if data is None:
            return Candidate("", "invalid_json", detail=detail, **common)
        structured = data
        raw = data.get("description") or data.get("title") or ""
    elif prompt.regex:
        m = re.search(prompt.regex, raw, re.S)
        if m is None:
            return Candidate("", "no_match", detail=f"no match for {prompt.regex!r}", **common)
        raw = m.group(1) if m.re.groups else m.group(0)
    if not raw.strip():
        return Candidate("", "empty", detail="the model returned no text", **common)
    text = clean_caption(raw, prompt.stop, one_sentence)
    if not text:
        return Candidate("", "empty", detail="nothing left after clean-up", **common)
    why = _is_garbage(text)
    if why:
        return Candidate("", "garbage", detail=why, **common)
    if completion.truncated and one_sentence and _unfinished(raw, prompt.stop):
        # Nothing complete to keep: "... while the sun sets behind the." is no caption.
        return Candidate("", "garbage", detail="cut off by the token limit before a sentence ended", **common)
    return Candidate(text, "ok", structured=structured, **common)

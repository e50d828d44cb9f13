"""The caption records: candidates an LLM wrote, and the result of captioning one image."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from groundcap.records.facts import Facts
from groundcap.records.neighbours import Neighbour

__all__ = ["CANDIDATE_STATUSES", "CLAIM_KINDS", "CLAIM_VERDICTS", "Claim", "Candidate", "CaptionResult",
           "Proposal"]

#: Why a candidate is or is not usable.
CANDIDATE_STATUSES = (
    "ok",            # usable text
    "empty",         # the model returned nothing (after clean-up)
    "garbage",       # no words, repeated tokens, the prompt echoed back, or cut off mid-sentence
    "no_match",      # the template's regex did not match
    "invalid_json",  # structured output that stayed invalid after one repair
    "error",         # the generator failed for this prompt (endpoint down, ...)
    "fallback",      # the template sentence, used because no candidate was usable
)

#: What a claim is about.
CLAIM_KINDS = ("object", "count", "color", "relation", "scene")
#: How a claim fares against the facts.
CLAIM_VERDICTS = ("supported", "contradicted", "unverifiable")


@dataclass(frozen=True)
class Claim:
    """One checkable statement in a caption, judged against the image's facts.

    Attributes:
        kind: One of :data:`CLAIM_KINDS`.
        text: The caption span that makes the claim ("two dogs", "a man to the left of a dog").
        verdict: One of :data:`CLAIM_VERDICTS`.
        evidence: Why, in words: the boxes, measured colors or scene cue it was checked against.
        subject: Instance id of the detection that decided it (``"dog_1"``), or ``""``.
    """

    kind: str
    text: str
    verdict: str
    evidence: str = ""
    subject: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"unknown claim kind {self.kind!r}; expected one of {CLAIM_KINDS}")
        if self.verdict not in CLAIM_VERDICTS:
            raise ValueError(f"unknown claim verdict {self.verdict!r}; expected one of {CLAIM_VERDICTS}")
        if not self.text.strip():
            raise ValueError("a claim needs the caption text that makes it")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "verdict": self.verdict, "evidence": self.evidence,
                "subject": self.subject}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Claim:
        return cls(d["kind"], d["text"], d["verdict"], d.get("evidence", ""), d.get("subject", ""))


@dataclass(frozen=True)
class Candidate:
    """One caption an LLM (or the template) proposed.

    Attributes:
        text: The cleaned caption ("" when unusable).
        status: One of :data:`CANDIDATE_STATUSES`.
        logprob: Mean token log-probability under the generator, when known.
        source: Which generator and model wrote it.
        scores: Score breakdown by scorer name (``{"logprob": -0.8, ...}``).
        total: The combined score the candidates are ranked by.
        raw: What the model returned before clean-up.
        detail: Why the status is not ``ok``, or other notes.
        structured: Parsed structured output (title, tags, ...), when asked for.
        greedy: Whether this was the greedy decode.
        claims: What the caption states, each judged against the facts (set by
            the ``grounding`` scorer; empty otherwise).
    """

    text: str
    status: str = "ok"
    logprob: float | None = None
    source: str = ""
    scores: Mapping[str, float] = field(default_factory=dict)
    total: float | None = None
    raw: str = ""
    detail: str = ""
    structured: Mapping[str, Any] | None = None
    greedy: bool = False
    claims: tuple[Claim, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in CANDIDATE_STATUSES:
            raise ValueError(f"unknown candidate status {self.status!r}; expected one of {CANDIDATE_STATUSES}")
        if self.status == "ok" and not self.text.strip():
            raise ValueError("an ok candidate needs text")
        if self.logprob is not None and not math.isfinite(self.logprob):
            raise ValueError(f"logprob must be finite, got {self.logprob}")
        object.__setattr__(self, "scores", dict(self.scores))
        object.__setattr__(self, "claims", tuple(self.claims))
        if not all(isinstance(c, Claim) for c in self.claims):
            raise TypeError("claims must be Claim records (use Candidate.from_dict for dicts)")

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "fallback")

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "status": self.status, "logprob": self.logprob, "source": self.source,
                "scores": dict(self.scores), "total": self.total, "raw": self.raw, "detail": self.detail,
                "structured": None if self.structured is None else json.loads(json.dumps(self.structured)),
                "greedy": self.greedy, "claims": [c.to_dict() for c in self.claims]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Candidate:
        fields = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        fields["claims"] = tuple(Claim.from_dict(c) for c in d.get("claims") or ())
        return cls(**fields)


@dataclass(frozen=True)
class CaptionResult:
    """The caption of one image, with every candidate and why one was chosen.

    Attributes:
        caption: The chosen caption.
        chosen: Index of the chosen candidate in ``candidates``.
        candidates: Every candidate, ranked best first, with scores and statuses.
        facts: The facts the prompt was built from.
        prompt: The prompt text the generator saw.
        status: ``ok``; ``fallback`` when the template sentence had to be used;
            ``error`` when generation failed (the caption is then the fallback).
        models: Which models ran, by role.
        timings: Seconds per stage.
        detail: What went wrong, when something did.
        neighbours: The caption datastore's photos nearest this image, nearest
            first: the prompt showed the first few (``retrieve.neighbours``), the
            ranking compared the candidates with all of them.
    """

    caption: str
    chosen: int
    candidates: tuple[Candidate, ...]
    facts: Facts
    prompt: str = ""
    status: str = "ok"
    models: tuple[tuple[str, str], ...] = ()
    timings: tuple[tuple[str, float], ...] = ()
    detail: str = ""
    neighbours: tuple[Neighbour, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))
        object.__setattr__(self, "neighbours", tuple(self.neighbours))
        if not 0 <= self.chosen < len(self.candidates):
            raise ValueError(f"chosen={self.chosen} is not a candidate index (have {len(self.candidates)})")
        if self.status not in ("ok", "fallback", "error"):
            raise ValueError(f"unknown result status {self.status!r}")

    @property
    def best(self) -> Candidate:
        return self.candidates[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "status": self.status, "chosen": self.chosen,
                "candidates": [c.to_dict() for c in self.candidates], "facts": self.facts.to_dict(),
                "prompt": self.prompt, "models": dict(self.models),
                "timings": dict(self.timings), "detail": self.detail,
                "neighbours": [n.to_dict() for n in self.neighbours]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CaptionResult:
        return cls(d["caption"], d["chosen"], tuple(Candidate.from_dict(c) for c in d["candidates"]),
                   Facts.from_dict(d["facts"]), d.get("prompt", ""), d.get("status", "ok"),
                   tuple(d.get("models", {}).items()), tuple(d.get("timings", {}).items()),
                   d.get("detail", ""), tuple(Neighbour.from_dict(n) for n in d.get("neighbours") or ()))


@dataclass(frozen=True)
class Proposal:
    """What the generation step hands the rerank step for one image.

    Attributes:
        prompt: The prompt text the generator saw.
        candidates: The generator's candidates, unranked; a failed generator
            call leaves one ``error`` candidate saying why.
        neighbours: The datastore photos retrieved for the image, nearest first:
            the prompt showed the first few, the ranking compares the candidates with all.
    """

    prompt: str
    candidates: tuple[Candidate, ...]
    neighbours: tuple[Neighbour, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))
        object.__setattr__(self, "neighbours", tuple(self.neighbours))

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "candidates": [c.to_dict() for c in self.candidates],
                "neighbours": [n.to_dict() for n in self.neighbours]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Proposal:
        return cls(d["prompt"], tuple(Candidate.from_dict(c) for c in d["candidates"]),
                   tuple(Neighbour.from_dict(n) for n in d.get("neighbours") or ()))

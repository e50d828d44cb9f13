"""The row of one input image in a ``groundcap run`` shard.

A :class:`RunRow` holds the Parquet columns of
:data:`groundcap.data.run_shards.RUN_COLUMNS` as typed fields. The JSON
columns (``candidates``, ``facts``, ``models``) stay the JSON text that is
stored, so ``to_dict()`` is byte for byte the row that is written; the typed
accessors parse them.

>>> row = RunRow("0123456789abcdef", "a.jpg", "/in/a.jpg", "not_found", error="gone")
>>> row.captioned, row.facts_record(), row.candidate_records()
(False, None, ())
>>> RunRow.from_dict(row.to_dict()) == row
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, Mapping

from groundcap.records.captions import Candidate
from groundcap.records.facts import Facts

__all__ = ["IMAGE_REASONS", "RUN_STATUSES", "CAPTIONED_STATUSES", "RunRow"]

#: Why an image could not be read or decoded (``groundcap.errors.ImageError.reason``).
IMAGE_REASONS = ("not_found", "is_directory", "permission_denied", "empty_file", "broken_link", "symlink_loop",
                 "not_an_image", "truncated", "too_large", "bad_array", "unsupported")
#: Statuses of rows that carry a caption.
CAPTIONED_STATUSES = ("ok", "fallback")
#: Every status a run row may have.
RUN_STATUSES = (*CAPTIONED_STATUSES, *IMAGE_REASONS, "outside_root", "facts_error", "generation_error", "error")

_TIMES = ("time_decode", "time_facts", "time_retrieve", "time_generate", "time_rerank")


@dataclass(frozen=True)
class RunRow:
    """One input image of a run, as its shard stores it (see ``groundcap.data.run_shards``).

    Attributes:
        key: 16 hex digits from the source path and the content hash.
        source: The image's path relative to the input root, or ``split/index``.
        path: The image file as read; ``""`` when not a file.
        status: One of :data:`RUN_STATUSES`.
        error: What went wrong; ``""`` when nothing did.
        width: Pixels after EXIF rotation; 0 when not decoded.
        height: Pixels after EXIF rotation; 0 when not decoded.
        sha256: Hash of the file's bytes; ``""`` when unreadable.
        prior: The caption given with the input; ``""`` if none.
        caption: The chosen caption; ``""`` when the image failed.
        chosen: Index of the chosen candidate; -1 when the image failed.
        candidates: JSON list of ``Candidate.to_dict()``, ranked best first.
        facts: JSON ``Facts.to_dict()``; ``""`` when there are none.
        prompt: The prompt the generator saw.
        models: JSON ``{role: model id}``.
        time_decode: Seconds spent on this image decoding.
        time_facts: Seconds spent measuring facts.
        time_retrieve: Seconds spent finding the datastore neighbours (0 without a datastore).
        time_generate: Seconds spent building the prompt and generating.
        time_rerank: Seconds spent ranking the candidates.
    """

    key: str
    source: str
    path: str
    status: str
    error: str = ""
    width: int = 0
    height: int = 0
    sha256: str = ""
    prior: str = ""
    caption: str = ""
    chosen: int = -1
    candidates: str = "[]"
    facts: str = ""
    prompt: str = ""
    models: str = "{}"
    time_decode: float = 0.0
    time_facts: float = 0.0
    time_generate: float = 0.0
    time_rerank: float = 0.0
    time_retrieve: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {self.status!r}; expected one of {RUN_STATUSES}")
        for name in ("key", "source", "path", "error", "sha256", "prior", "caption", "candidates", "facts",
                     "prompt", "models"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str, got {type(getattr(self, name)).__name__}")
        if self.width < 0 or self.height < 0:
            raise ValueError(f"negative image size {self.width}x{self.height}")
        if self.chosen < -1:
            raise ValueError(f"chosen={self.chosen} is neither a candidate index nor -1")

    @property
    def captioned(self) -> bool:
        """Whether the row carries a caption (and so enters the training formats)."""
        return self.status in CAPTIONED_STATUSES and bool(self.caption)

    def facts_record(self) -> Facts | None:
        """The facts, parsed; None when the row has none."""
        return Facts.from_dict(json.loads(self.facts)) if self.facts else None

    def facts_json(self) -> Any:
        """The facts as plain JSON data; None when the row has none."""
        return json.loads(self.facts) if self.facts else None

    def candidate_records(self) -> tuple[Candidate, ...]:
        """The candidates, ranked best first."""
        return tuple(Candidate.from_dict(c) for c in json.loads(self.candidates or "[]"))

    def candidate_dicts(self) -> list[dict[str, Any]]:
        """The candidates as stored (plain JSON data), ranked best first."""
        return list(json.loads(self.candidates or "[]"))

    def model_ids(self) -> dict[str, str]:
        """``{role: model id}``."""
        return dict(json.loads(self.models or "{}"))

    def times(self) -> dict[str, float]:
        """Seconds per stage: ``{"decode": ..., "facts": ..., "retrieve": ..., "generate": ..., "rerank": ...}``."""
        return {name[len("time_"):]: getattr(self, name) for name in _TIMES}

    def to_dict(self) -> dict[str, Any]:
        """The Parquet row: every column, in shard order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunRow:
        """A row read back from a shard; a missing or null column takes its empty value."""
        known = {f.name: f for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in known and v is not None}
        return cls(**{"key": "", "source": "", "path": "", **values})

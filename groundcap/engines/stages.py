"""The steps of a batch run, shared by every engine: prepare → measure → caption → row.

An engine only decides where and when these run (threads here, Ray actors
there); what happens to an image is defined once, in this module, on top of
the same :class:`~groundcap.facts.FactsExtractor` and
:class:`~groundcap.pipeline.Captioner` that caption one image. That is what
makes the engines' rows equal.

The unit of work is a *group*: consecutive inputs of one shard, as many as
the generator's batch size. Groups are fixed before anything runs, so an
image meets the same batch-mates (and the same sampling seed) whichever
engine runs it and however often the run was restarted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from groundcap.data.images import load_image_bytes
from groundcap.data.inputs import InputItem, item_key, read_item_bytes
from groundcap.errors import ImageError
from groundcap.records import CaptionResult, Facts, ImageInfo, RunRow

__all__ = ["ShardJob", "Prepared", "groups_of", "prepare", "measure", "caption_rows", "failed_row", "row_of"]


@dataclass(frozen=True)
class ShardJob:
    """One shard to produce: its number and its inputs, in order.

    Attributes:
        index: The shard number (``shards/{index:05d}.parquet``).
        items: The inputs to caption.
        keep: Rows of an existing shard to keep as they are (``--retry-failed``
            redoes only the failed rows of a shard and keeps the others).
    """

    index: int
    items: tuple[InputItem, ...]
    keep: tuple[dict[str, Any], ...] = ()


@dataclass
class Prepared:
    """One input on its way through the steps (engine-internal, mutable, never written as is)."""

    item: InputItem
    key: str
    sha256: str = ""
    array: np.ndarray | None = None
    info: ImageInfo | None = None
    facts: Facts | None = None
    status: str = ""
    error: str = ""
    times: dict[str, float] = field(default_factory=dict)
    data: bytes | None = None

    @property
    def ok(self) -> bool:
        return not self.status


def groups_of(items: Sequence[InputItem], size: int) -> Iterator[tuple[InputItem, ...]]:
    """Consecutive groups of ``size`` items (the last may be shorter)."""
    size = max(1, int(size))
    for start in range(0, len(items), size):
        yield tuple(items[start:start + size])


def prepare(item: InputItem, *, decode: bool = True, keep_bytes: bool = False) -> Prepared:
    """Reads and hashes one input, and decodes it unless ``decode`` is False; failures become a status.

    ``keep_bytes`` keeps the file's bytes on the result (an engine that ships
    images between processes sends those rather than pixels).
    """
    t = time.perf_counter()
    try:
        data = read_item_bytes(item)
    except ImageError as e:
        return Prepared(item, item_key(item.source, ""), status=e.reason, error=str(e),
                        times={"decode": time.perf_counter() - t})
    sha = hashlib.sha256(data).hexdigest()
    p = Prepared(item, item_key(item.source, sha), sha, data=data if keep_bytes else None)
    if decode:
        try:
            p.array, p.info = load_image_bytes(data, item.path or item.source)
        except ImageError as e:
            p.status, p.error = e.reason, str(e)
        except MemoryError:
            p.status, p.error = "too_large", f"{item.source}: out of memory while decoding"
    p.times["decode"] = time.perf_counter() - t
    return p


def measure(extractor: Any, group: Sequence[Prepared]) -> None:
    """Sets the facts of each decoded image of ``group`` (detection batched); a failure marks only its image."""
    todo = [p for p in group if p.ok]
    if not todo:
        return
    t = time.perf_counter()
    try:
        facts = extractor.from_arrays([p.array for p in todo], [p.info for p in todo])
    except Exception:  # noqa: BLE001 - find the image that broke the batch, keep the rest
        facts = []
        for p in todo:
            try:
                facts.extend(extractor.from_arrays([p.array], [p.info]))
            except Exception as e:  # noqa: BLE001
                p.status, p.error = "facts_error", f"{p.item.source}: {type(e).__name__}: {e}"
                facts.append(None)
    each = (time.perf_counter() - t) / len(todo)
    for p, f in zip(todo, facts):
        p.times["facts"] = each
        if f is not None:
            p.facts = f


def prior_of(p: Prepared, config_prior: str | None) -> str | None:
    """The input's own caption, else the configured prior."""
    return p.item.prior if p.item.prior is not None else config_prior


def caption_rows(captioner: Any, group: Sequence[Prepared]) -> list[RunRow]:
    """Generates and ranks captions for the measured images of ``group``; one row per input, in order."""
    todo = [p for p in group if p.ok and p.facts is not None]
    results: dict[int, CaptionResult] = {}
    if todo:
        priors = [prior_of(p, captioner.config.prompt.prior) for p in todo]
        out = captioner.caption_facts([p.array for p in todo], [p.facts for p in todo], priors)
        results = {id(p): r for p, r in zip(todo, out)}
    return [row_of(p, results.get(id(p))) for p in group]


def failed_row(p: Prepared) -> RunRow:
    """The row of an input that never reached the generator."""
    it, info = p.item, p.info
    return RunRow(p.key, it.source, it.path, p.status or "error", error=p.error,
                  width=info.width if info else 0, height=info.height if info else 0, sha256=p.sha256,
                  prior=it.prior or "", facts=_json(p.facts.to_dict()) if p.facts is not None else "",
                  **{f"time_{k}": p.times.get(k, 0.0) for k in ("decode", "facts", "retrieve", "generate", "rerank")})


def row_of(p: Prepared, result: CaptionResult | None) -> RunRow:
    """The run row of one input."""
    if result is None:
        return failed_row(p)
    status = "generation_error" if result.status == "error" else result.status
    times = dict(result.timings)
    row = failed_row(dataclasses.replace(p, status=status, error=result.detail if status != "ok" else ""))
    return dataclasses.replace(
        row, caption=result.caption, chosen=result.chosen, prompt=result.prompt, models=_json(dict(result.models)),
        candidates=_json([c.to_dict() for c in result.candidates]), facts=_json(result.facts.to_dict()),
        time_generate=times.get("prompt", 0.0) + times.get("generate", 0.0),
        time_retrieve=times.get("retrieve", 0.0), time_rerank=times.get("rerank", 0.0))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)

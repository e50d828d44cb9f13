"""Captioning images: facts → prompt → N candidates → scores → :class:`CaptionResult`.

>>> from groundcap import Captioner
>>> result = Captioner().caption("bus.jpg")   # doctest: +SKIP
>>> result.caption                            # doctest: +SKIP
'A group of people standing in front of a blue bus on a street.'

One :class:`Captioner` loads every model once. ``caption_many`` batches the
LLM across images; the batch runner and the one-image API call the same
stage functions, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from groundcap.config import CaptionConfig
from groundcap.data import load_image
from groundcap.data.inputs import read_sidecar_caption
from groundcap.errors import ConfigError
from groundcap.facts import FactsExtractor
from groundcap.llm_finetune.generators import create_generator
from groundcap.llm_finetune.generators.template import template_caption
from groundcap.llm_finetune.prompts import PromptTemplate, load_template
from groundcap.text.cleaning import tidy_caption
from groundcap.records import Candidate, CaptionResult, Facts, Neighbour
from groundcap.rerank import create_scorers, rank

__all__ = ["Captioner", "Proposal", "read_sidecar_caption"]


@dataclasses.dataclass(frozen=True)
class Proposal:
    """What the generation step hands the rerank step for one image.

    Attributes:
        prompt: The prompt text the generator saw.
        candidates: The generator's candidates, unranked; a failed generator
            call leaves one ``error`` candidate saying why.
        neighbours: The datastore photos whose captions the prompt showed,
            which the ranking compares the candidates with.
    """

    prompt: str
    candidates: tuple[Candidate, ...]
    neighbours: tuple[Neighbour, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "candidates": [c.to_dict() for c in self.candidates],
                "neighbours": [n.to_dict() for n in self.neighbours]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Proposal:
        return cls(d["prompt"], tuple(Candidate.from_dict(c) for c in d["candidates"]),
                   tuple(Neighbour.from_dict(n) for n in d.get("neighbours") or ()))


class Captioner:
    """Writes grounded captions for images.

    Args:
        config: Facts, prompt, generator and reranking settings. The default
            runs offline: SSD facts, the Alpaca prompt, the embedded SmolLM2,
            five candidates ranked by log-probability.
        generator: An already built generator to use instead of ``config.generate``.

    Attributes:
        timings: Seconds per stage over this captioner's life.
    """

    def __init__(self, config: CaptionConfig | None = None, *, generator: Any = None) -> None:
        self.config = _with_adapter_defaults(config or CaptionConfig())
        pc = self.config.prompt
        self.extractor = FactsExtractor(self.config.facts)
        self.template: PromptTemplate = load_template(pc.template)
        if self.template.expects_json and pc.few_shot:
            raise ConfigError("few-shot examples are captions, not JSON: use few_shot 0 with the metadata template")
        self.generator = generator or create_generator(self.config.generate)
        self.scorers = create_scorers(self.config.rerank, self.config.facts.spatial)
        self.datastore = _open_datastore(self.config.retrieve.datastore)
        self.timings: dict[str, float] = {}
        self._examples = self._load_examples() if pc.few_shot > 0 else ()
        self._cot = None
        cot_path = self.template.cot_image_path()
        if cot_path is not None:
            self._cot = (self.extractor.extract(cot_path), self.template.cot_prompt["explanation"])

    @property
    def models(self) -> tuple[tuple[str, str], ...]:
        return self.extractor.models + (("generator", f"{self.generator.name}:{self.generator.model_id}"),)

    def _load_examples(self) -> tuple[tuple[Facts, str], ...]:
        from groundcap.data.captions import read_captions_jsonl

        pc = self.config.prompt
        if not pc.examples:
            raise ValueError("few_shot needs examples: pass --examples captions.jsonl (its train split is used)")
        train = [it for it in read_captions_jsonl(pc.examples) if it.split == "train"]
        chosen = random.Random(self.config.generate.seed).sample(train, min(pc.few_shot, len(train)))
        return tuple((self.extractor.extract(it.path), tidy_caption(it.captions[0])) for it in chosen)

    def _tick(self, stage: str, start: float, call: dict[str, float]) -> float:
        now = time.perf_counter()
        call[stage] = call.get(stage, 0.0) + now - start
        self.timings[stage] = self.timings.get(stage, 0.0) + now - start
        return now

    def caption(self, image: Any, prior: str | bytes | None = None) -> CaptionResult:
        """Captions one image: a path, a PIL image or an RGB numpy array.

        Args:
            image: The image.
            prior: A caption to merge with the facts. Defaults to the config's
                ``prior``, then to a ``.txt`` sidecar beside an image path.

        Raises:
            groundcap.ImageError: when the input is not a usable image.
        """
        return self.caption_many([image], [prior])[0]

    def caption_many(self, images: Sequence[Any], priors: Sequence[str | bytes | None] | None = None
                     ) -> list[CaptionResult]:
        """Captions several images, generating for all of them in batches.

        Raises:
            groundcap.ImageError: for the first input that is not an image
                (the batch runner turns that into a per-image status instead).
        """
        priors = list(priors) if priors is not None else [None] * len(images)
        call: dict[str, float] = {}
        t = time.perf_counter()
        decoded = [load_image(im) for im in images]
        t = self._tick("decode", t, call)
        arrays = [a for a, _ in decoded]
        facts = self.extractor.from_arrays(arrays, [i for _, i in decoded])
        self._tick("facts", t, call)
        priors = [self._prior(im, p) for im, p in zip(images, priors)]
        return self.caption_facts(arrays, facts, priors, _call=call)

    def _prior(self, image: Any, prior: str | bytes | None) -> str | bytes | None:
        if prior is not None:
            return prior
        if self.config.prompt.prior is not None:
            return self.config.prompt.prior
        if isinstance(image, (str, Path)):
            return read_sidecar_caption(image)
        return None

    def caption_facts(self, arrays: Sequence[np.ndarray | None], facts: Sequence[Facts],
                      priors: Sequence[str | bytes | None], *, _call: dict[str, float] | None = None
                      ) -> list[CaptionResult]:
        """Retrieve → prompt → generate → rank for facts that are already measured."""
        call = {} if _call is None else _call
        neighbours = self.retrieve(arrays, _call=call)
        proposals = self.propose(facts, priors, neighbours=neighbours, _call=call)
        return self.decide(arrays, facts, proposals, _call=call)

    def retrieve(self, arrays: Sequence[np.ndarray | None], *, _call: dict[str, float] | None = None
                 ) -> list[tuple[Neighbour, ...]]:
        """The nearest datastore photos of each image (none without a datastore or an image array)."""
        if self.datastore is None:
            return [() for _ in arrays]
        call = {} if _call is None else _call
        t = time.perf_counter()
        k = self.config.retrieve.neighbours
        out = [tuple(self.datastore.neighbours(a, k)) if a is not None else () for a in arrays]
        self._tick("retrieve", t, call)
        return out

    def propose(self, facts: Sequence[Facts], priors: Sequence[str | bytes | None], *,
                neighbours: Sequence[Sequence[Neighbour]] | None = None,
                _call: dict[str, float] | None = None) -> list[Proposal]:
        """The prompt and the N candidates of each image (the generation step, alone).

        ``neighbours`` (from :meth:`retrieve`, one tuple per image) put the
        captions of similar photos into each prompt.

        A failing generator call does not raise: each image gets one ``error``
        candidate saying why, which :func:`choose` turns into an ``error`` result.
        """
        call = {} if _call is None else _call
        t = time.perf_counter()
        pc = self.config.prompt
        near = [tuple(n) for n in neighbours] if neighbours is not None else [() for _ in facts]
        prompts = [self.template.render(f, prior=p, style=pc.style, examples=self._examples,
                                        cot_example=self._cot, context_labels=pc.context_labels, neighbours=n)
                   for f, p, n in zip(facts, priors, near)]
        t = self._tick("prompt", t, call)
        try:
            candidates = self.generator.generate(prompts, self.config.generate.n, facts=list(facts))
        except Exception as e:  # noqa: BLE001 - one failing backend call must not lose the batch
            candidates = [[Candidate("", "error", detail=f"{type(e).__name__}: {e}",
                                     source=self.generator.name)] for _ in prompts]
        self._tick("generate", t, call)
        tokenizer = getattr(self.generator, "tokenizer", None)
        return [Proposal(prompt.as_text(tokenizer), tuple(cands), n)
                for prompt, cands, n in zip(prompts, candidates, near)]

    def decide(self, arrays: Sequence[np.ndarray | None], facts: Sequence[Facts], proposals: Sequence[Proposal],
               *, _call: dict[str, float] | None = None) -> list[CaptionResult]:
        """Ranks each image's candidates and picks its caption (the rerank step, alone)."""
        call = {} if _call is None else _call
        t = time.perf_counter()
        ranked = [choose(p.candidates, self.scorers, self.config.rerank.weights, array, f, p.neighbours)
                  for array, f, p in zip(arrays, facts, proposals)]
        self._tick("rerank", t, call)
        per_image = tuple((k, v / max(1, len(facts))) for k, v in call.items())
        return [dataclasses.replace(r, prompt=p.prompt, models=self.models, timings=per_image,
                                    neighbours=p.neighbours)
                for r, p in zip(ranked, proposals)]

    def rerank(self, results: Sequence[CaptionResult], arrays: Sequence[np.ndarray | None]) -> list[CaptionResult]:
        """Ranks already generated candidates again with this captioner's scorers.

        A template fallback added by an earlier ranking is dropped first, so
        the same generations can be compared under different scorers.
        """
        out = []
        for r, array in zip(results, arrays):
            cands = [dataclasses.replace(c, scores={}, total=None, claims=())
                     for c in r.candidates if c.status != "fallback"]
            chosen = choose(cands, self.scorers, self.config.rerank.weights, array, r.facts, r.neighbours)
            out.append(dataclasses.replace(chosen, prompt=r.prompt, models=r.models, timings=r.timings,
                                           neighbours=r.neighbours))
        return out


def choose(candidates: Sequence[Candidate], scorers: Sequence[Any], weights: Sequence[float],
           image: np.ndarray | None, facts: Facts, neighbours: Sequence[Neighbour] = ()) -> CaptionResult:
    """Ranks one image's candidates and picks the best; the template sentence when none is usable.

    The status is ``fallback`` when the model answered but nothing was usable,
    and ``error`` when every candidate is a generator failure (an endpoint
    that never answered): that image failed and is worth retrying.
    """
    ranked = rank(candidates, scorers, weights, image, facts, neighbours)
    status, detail = "ok", ""
    if not ranked or not ranked[0].usable:
        why = "; ".join(sorted({f"{c.status}: {c.detail}" for c in ranked})) or "no candidates"
        failures = list(dict.fromkeys(c.detail for c in ranked if c.status == "error"))
        answered = any(c.status != "error" for c in ranked)
        ranked = [Candidate(template_caption(facts), "fallback", source="template",
                            detail="no usable LLM candidate")] + ranked
        if failures and not answered:
            status, detail = "error", f"generation failed: {'; '.join(failures)}"
        else:
            status, detail = "fallback", f"every candidate was unusable ({why})"
    return CaptionResult(ranked[0].text, 0, tuple(ranked), facts, status=status, detail=detail)


def _open_datastore(setting: str) -> Any:
    """The caption datastore a ``retrieve.datastore`` setting names, or ``None`` for ``none``."""
    if setting == "none":
        return None
    from groundcap.datastore import open_datastore, resolve_datastore

    return open_datastore(resolve_datastore(setting))


def _with_adapter_defaults(config: CaptionConfig) -> CaptionConfig:
    """An adapter trained by groundcap names its base model and template; use them unless set."""
    from groundcap.llm_finetune.adapters import read_adapter_meta, resolve_adapter

    gc = config.generate
    adapter = resolve_adapter(gc.adapter, generator=gc.generator, model=gc.model)
    if adapter is None:
        return config
    meta = read_adapter_meta(adapter)
    if not meta:
        return config
    if not gc.model:
        config = dataclasses.replace(config, generate=dataclasses.replace(gc, model=meta.get("base_model", "")))
    if config.prompt.template == "alpaca" and meta.get("template", "alpaca") != "alpaca":
        config = dataclasses.replace(config, prompt=dataclasses.replace(config.prompt, template=meta["template"]))
    return config

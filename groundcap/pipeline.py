"""Captioning images: the stages composed, facts → retrieve → prompt → N candidates → rank.

>>> from groundcap import Captioner
>>> result = Captioner().caption("bus.jpg")   # doctest: +SKIP
>>> result.caption                            # doctest: +SKIP
'A group of people standing in front of a blue bus on a street.'

A :class:`Captioner` builds each stage once and only composes them:

- :class:`~groundcap.facts.FactsExtractor` (detect → colors → spatial → :class:`Facts`),
- :class:`~groundcap.datastore.retriever.Retriever` (captions of similar photos),
- :class:`~groundcap.llm_finetune.prompter.Prompter` (the prompt),
- a generator from :func:`~groundcap.llm_finetune.generators.create_generator` (N candidates),
- :class:`~groundcap.rerank.ranker.Ranker` (scores, the grounding veto, the choice).

Each stage is usable alone; the batch engines call the same stage objects
(through :meth:`Captioner.retrieve`, :meth:`propose` and :meth:`decide`),
so the one-image API and a dataset run cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from groundcap.config import CaptionConfig
from groundcap.data import load_image
from groundcap.data.inputs import read_sidecar_caption
from groundcap.datastore.retriever import Retriever
from groundcap.facts import FactsExtractor
from groundcap.llm_finetune.generators import create_generator
from groundcap.llm_finetune.prompter import Prompter
from groundcap.records import Candidate, CaptionResult, Facts, Neighbour, Prompt, Proposal
from groundcap.rerank.ranker import Ranker, choose
from groundcap.timing import StageTimer

__all__ = ["Captioner", "Proposal", "choose", "read_sidecar_caption"]


class Captioner:
    """Writes grounded captions for images.

    Args:
        config: Facts, retrieval, prompt, generator and ranking settings. The
            default runs offline: SSD facts, the embedded caption datastore,
            the Alpaca prompt, the embedded SmolLM2 with its LoRA adapter,
            sixteen candidates ranked by grounding, CLIP and consensus.
        generator: An already built generator to use instead of ``config.generate``.

    Attributes:
        extractor, retriever, prompter, generator, ranker: The stages.
        timer: Seconds per stage over this captioner's life.
    """

    def __init__(self, config: CaptionConfig | None = None, *, generator: Any = None) -> None:
        self.config = _with_adapter_defaults(config or CaptionConfig())
        self.extractor = FactsExtractor(self.config.facts)
        self.prompter = Prompter(self.config.prompt, extract=self.extractor.extract, seed=self.config.generate.seed)
        self.generator = generator or create_generator(self.config.generate)
        self.retriever = Retriever.from_config(self.config.retrieve)
        self.ranker = Ranker(self.config.rerank, self.config.facts.spatial, corpus=self.retriever.corpus)
        self.timer = StageTimer()

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per stage over this captioner's life (the timer's totals)."""
        return self.timer.totals

    @property
    def models(self) -> tuple[tuple[str, str], ...]:
        return self.extractor.models + (("generator", f"{self.generator.name}:{self.generator.model_id}"),)

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
        timer = StageTimer()
        with timer.stage("decode", self.timer):
            decoded = [load_image(im) for im in images]
        arrays = [a for a, _ in decoded]
        with timer.stage("facts", self.timer):
            facts = self.extractor.from_arrays(arrays, [i for _, i in decoded])
        priors = [self._prior(im, p) for im, p in zip(images, priors)]
        return self.caption_facts(arrays, facts, priors, timer=timer)

    def _prior(self, image: Any, prior: str | bytes | None) -> str | bytes | None:
        if prior is not None:
            return prior
        if self.config.prompt.prior is not None:
            return self.config.prompt.prior
        if isinstance(image, (str, Path)):
            return read_sidecar_caption(image)
        return None

    def caption_facts(self, arrays: Sequence[np.ndarray | None], facts: Sequence[Facts],
                      priors: Sequence[str | bytes | None], *, timer: StageTimer | None = None
                      ) -> list[CaptionResult]:
        """Retrieve → prompt → generate → rank for facts that are already measured."""
        timer = timer if timer is not None else StageTimer()
        neighbours = self.retrieve(arrays, timer=timer)
        proposals = self.propose(facts, priors, neighbours=neighbours, timer=timer)
        return self.decide(arrays, facts, proposals, timer=timer)

    def retrieve(self, arrays: Sequence[np.ndarray | None], *, timer: StageTimer | None = None
                 ) -> list[tuple[Neighbour, ...]]:
        """The nearest datastore photos of each image (none without a datastore or an image array)."""
        if not self.retriever.enabled:
            return [() for _ in arrays]
        with (timer or StageTimer()).stage("retrieve", self.timer):
            return self.retriever.neighbours(arrays)

    def prompts(self, facts: Sequence[Facts], priors: Sequence[str | bytes | None],
                neighbours: Sequence[Sequence[Neighbour]]) -> list[Prompt]:
        """Each image's prompt, as :meth:`propose` writes it: the first ``retrieve.neighbours`` neighbours shown.

        The ranking retrieves more photos (``retrieve.rank_neighbours``) than
        the prompt shows; the rest are for the ranking alone.
        """
        shown = self.config.retrieve.neighbours
        return self.prompter.render_many(facts, priors, [tuple(n)[:shown] for n in neighbours])

    def propose(self, facts: Sequence[Facts], priors: Sequence[str | bytes | None], *,
                neighbours: Sequence[Sequence[Neighbour]] | None = None,
                timer: StageTimer | None = None) -> list[Proposal]:
        """The prompt and the N candidates of each image (the generation step, alone).

        ``neighbours`` (from :meth:`retrieve`, one tuple per image) put the
        captions of similar photos into each prompt: the first
        ``retrieve.neighbours`` of them; the proposal keeps them all for the ranking.

        A failing generator call does not raise: each image gets one ``error``
        candidate saying why, which :func:`choose` turns into an ``error`` result.
        """
        timer = timer if timer is not None else StageTimer()
        near = [tuple(n) for n in neighbours] if neighbours is not None else [() for _ in facts]
        with timer.stage("prompt", self.timer):
            prompts = self.prompts(facts, priors, near)
        with timer.stage("generate", self.timer):
            try:
                candidates = self.generator.generate(prompts, self.config.generate.n, facts=list(facts))
            except Exception as e:  # noqa: BLE001 - one failing backend call must not lose the batch
                candidates = [[Candidate("", "error", detail=f"{type(e).__name__}: {e}",
                                         source=self.generator.name)] for _ in prompts]
        tokenizer = getattr(self.generator, "tokenizer", None)
        return [Proposal(prompt.as_text(tokenizer), tuple(cands), n)
                for prompt, cands, n in zip(prompts, candidates, near)]

    def decide(self, arrays: Sequence[np.ndarray | None], facts: Sequence[Facts], proposals: Sequence[Proposal],
               *, timer: StageTimer | None = None) -> list[CaptionResult]:
        """Ranks each image's candidates and picks its caption (the rerank step, alone).

        Each result's ``timings`` are ``timer``'s seconds per image of this batch.
        """
        return self.ranker.decide(proposals, arrays, facts, timer=timer if timer is not None else StageTimer(),
                                  models=self.models, also=(self.timer,))

    def rerank(self, results: Sequence[CaptionResult], arrays: Sequence[np.ndarray | None]) -> list[CaptionResult]:
        """Ranks already generated candidates again with this captioner's ranker (see :meth:`Ranker.rerank`).

        A result saved with fewer neighbours than this captioner retrieves
        (an older run's, or one with a smaller ``rank_neighbours``) gets them
        retrieved again from its image, so the ranking sees what a fresh run's would.
        """
        results = list(results)
        if self.retriever.enabled:
            again = [i for i, (r, a) in enumerate(zip(results, arrays))
                     if a is not None and len(r.neighbours) < self.retriever.k]
            found = self.retriever.neighbours([arrays[i] for i in again])
            for i, near in zip(again, found):
                results[i] = dataclasses.replace(results[i], neighbours=near)
        return [self.ranker.rerank(r, array) for r, array in zip(results, arrays)]


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

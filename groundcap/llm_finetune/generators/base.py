"""The generator interface: prompts in, N cleaned candidates per prompt out.

A backend implements :meth:`Generator.generate_raw`, returning what the model
said (:class:`Completion`). Everything after that — clean-up, regex or JSON
extraction, statuses, de-duplication — happens once, in :meth:`generate`, so
every backend's candidates mean the same thing.
"""

from __future__ import annotations

import abc
from typing import Sequence

from groundcap.config import GenerateConfig
from groundcap.llm_finetune.postprocess import Completion, finish
from groundcap.records import Candidate, Facts, Prompt

__all__ = ["Completion", "Generator"]


class Generator(abc.ABC):
    """A swappable caption writer. Load the model in ``__init__``, once."""

    #: Registry name.
    name: str = ""

    def __init__(self, config: GenerateConfig | None = None) -> None:
        self.config = config or GenerateConfig()

    @property
    def model_id(self) -> str:
        """The model that writes, precisely enough to reproduce it."""
        return self.config.model or self.name

    @abc.abstractmethod
    def generate_raw(self, prompts: Sequence[Prompt], n: int, facts: Sequence[Facts] | None = None
                     ) -> list[list[Completion]]:
        """Up to ``n`` completions per prompt; the greedy one first when there is one."""

    def generate(self, prompts: Sequence[Prompt], n: int | None = None, facts: Sequence[Facts] | None = None
                 ) -> list[list[Candidate]]:
        """``n`` (default ``config.n``) cleaned, de-duplicated candidates per prompt.

        Args:
            prompts: Rendered prompts.
            n: Candidates wanted per prompt.
            facts: The facts behind each prompt (used by the template generator).

        Returns:
            One list per prompt. Unusable answers stay in the list with their
            status (``empty``, ``garbage``, ``no_match``, ``error``...), so a
            result can show why a candidate was not chosen.
        """
        n = self.config.n if n is None else n
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        raws = self.generate_raw(list(prompts), n, facts)
        out = []
        for prompt, completions in zip(prompts, raws):
            seen: set[str] = set()
            cands = []
            for c in completions:
                cand = finish(c, prompt, source=f"{self.name}:{self.model_id}",
                              one_sentence=True)
                key = cand.text.lower().strip(" .")
                if cand.status == "ok" and key in seen:
                    continue  # the same caption drawn twice says nothing new
                seen.add(key)
                cands.append(cand)
            out.append(cands)
        return out

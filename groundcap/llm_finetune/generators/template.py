"""No LLM: one deterministic sentence built from the facts.

It is the honest baseline every LLM must beat, and the fallback when no
candidate an LLM wrote is usable.
"""

from __future__ import annotations

from typing import Sequence

from groundcap.describe import template_caption
from groundcap.llm_finetune.generators.base import Completion, Generator
from groundcap.records import Facts, Prompt

__all__ = ["TemplateGenerator", "template_caption"]


class TemplateGenerator(Generator):
    """The template sentence as the only candidate (greedy, no log-prob)."""

    name = "template"

    @property
    def model_id(self) -> str:
        return "template"

    def generate_raw(self, prompts: Sequence[Prompt], n: int, facts: Sequence[Facts] | None = None
                     ) -> list[list[Completion]]:
        if facts is None or len(facts) != len(prompts):
            raise ValueError("the template generator needs the facts of every prompt")
        return [[Completion(template_caption(f), None, greedy=True)] for f in facts]

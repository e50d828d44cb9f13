"""The prompting stage: facts, retrieved captions and a prior caption in, the generator's prompt out.

A :class:`Prompter` loads its template once, with the few-shot examples and
the chain-of-thought example that the template or config asks for, and
renders the same prompt for the same inputs.

>>> from groundcap.config import PromptConfig
>>> from groundcap.records import Detection, Facts, ImageInfo
>>> facts = Facts(ImageInfo(640, 480, "0"), (Detection("dog", "dog_1", (0, 0, 90, 90), 0.9, (640, 480)),))
>>> "Objects: a dog." in Prompter(PromptConfig()).render(facts).as_text()
True
"""

from __future__ import annotations

import random
from typing import Any, Callable, Sequence

from groundcap.config import PromptConfig
from groundcap.errors import ConfigError
from groundcap.llm_finetune.prompt_templates import PromptTemplate, load_template
from groundcap.records import Facts, Neighbour, Prompt
from groundcap.text.cleaning import tidy_caption

__all__ = ["Prompter"]


class Prompter:
    """Renders prompts with one template and the examples it needs.

    Args:
        config: Template, style, few-shot examples, context labels.
        extract: Measures the facts of an example photo (a
            :meth:`~groundcap.facts.FactsExtractor.extract`); needed only for
            few-shot examples and for a template with a chain-of-thought example.
        seed: Which few-shot examples are drawn from the examples file.

    Raises:
        ConfigError: few-shot examples for the JSON metadata template, or
            examples that need facts with no ``extract`` to measure them.
    """

    def __init__(self, config: PromptConfig | None = None, *, extract: Callable[[Any], Facts] | None = None,
                 seed: int = 0) -> None:
        self.config = config or PromptConfig()
        self.template: PromptTemplate = load_template(self.config.template)
        if self.template.expects_json and self.config.few_shot:
            raise ConfigError("few-shot examples are captions, not JSON: use few_shot 0 with the metadata template")
        self.examples = self._load_examples(extract, seed) if self.config.few_shot > 0 else ()
        self.cot_example: tuple[Facts, str] | None = None
        cot_path = self.template.cot_image_path()
        if cot_path is not None:
            self.cot_example = (_needs(extract, "a chain-of-thought template")(cot_path),
                                self.template.cot_prompt["explanation"])

    def _load_examples(self, extract: Callable[[Any], Facts] | None, seed: int) -> tuple[tuple[Facts, str], ...]:
        from groundcap.data.captioned import read_captions_jsonl

        pc = self.config  # PromptConfig has checked that few_shot comes with examples
        measure = _needs(extract, "few-shot examples")
        train = [it for it in read_captions_jsonl(pc.examples) if it.split == "train"]
        chosen = random.Random(seed).sample(train, min(pc.few_shot, len(train)))
        return tuple((measure(it.path), tidy_caption(it.captions[0])) for it in chosen)

    def render(self, facts: Facts, prior: str | bytes | None = None, neighbours: Sequence[Neighbour] = ()) -> Prompt:
        """The prompt for one image."""
        pc = self.config
        return self.template.render(facts, prior=prior, style=pc.style, examples=self.examples,
                                    cot_example=self.cot_example, context_labels=pc.context_labels,
                                    neighbours=neighbours)

    def render_many(self, facts: Sequence[Facts], priors: Sequence[str | bytes | None],
                    neighbours: Sequence[Sequence[Neighbour]] | None = None) -> list[Prompt]:
        """One prompt per image; ``neighbours`` (one tuple per image) defaults to none."""
        near = neighbours if neighbours is not None else [() for _ in facts]
        return [self.render(f, p, tuple(n)) for f, p, n in zip(facts, priors, near)]


def _needs(extract: Callable[[Any], Facts] | None, what: str) -> Callable[[Any], Facts]:
    if extract is None:
        raise ConfigError(f"{what} need facts of example photos: pass extract= (a FactsExtractor's extract)")
    return extract

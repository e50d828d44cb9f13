"""A rendered prompt, the record handed from the prompter to the generators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Prompt"]


@dataclass(frozen=True)
class Prompt:
    """One prompt in the forms generators need.

    Attributes:
        messages: ``(role, content)`` pairs: the chat form, always present.
        text: The completion form (Alpaca, user JSON templates). ``None`` means
            "render ``messages`` with the model's own chat template".
        regex: Extracts the answer from the model's output (group 1 if any,
            else the whole match); no match is a per-candidate status.
        expects_json: The answer is structured metadata (JSON).
        template: Name of the template that made it.
        stop: Strings that end the answer (e.g. the next ``###`` block).
    """

    messages: tuple[tuple[str, str], ...]
    text: str | None = None
    regex: str | None = None
    expects_json: bool = False
    template: str = ""
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple((str(r), str(c)) for r, c in self.messages))
        if not self.messages and self.text is None:
            raise ValueError("a prompt needs messages or text")

    def chat(self) -> list[dict[str, str]]:
        """Messages as the dicts chat APIs and ``apply_chat_template`` take."""
        return [{"role": r, "content": c} for r, c in self.messages]

    def as_text(self, tokenizer: Any = None) -> str:
        """The exact text a completion model sees.

        Args:
            tokenizer: A transformers tokenizer whose ``apply_chat_template``
                renders chat prompts; without one, chat prompts are joined plainly.
        """
        if self.text is not None:
            return self.text
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(self.chat(), tokenize=False, add_generation_prompt=True)
        return "\n\n".join(c for _, c in self.messages) + "\n\n"

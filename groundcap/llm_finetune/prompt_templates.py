"""Prompt templates: the facts of one image (and a prior caption) in, a :class:`Prompt` out.

Three templates are built in and stored as package data in
``groundcap/llm_finetune/templates/``: ``alpaca`` (the completion format the
LoRA adapters are fine-tuned on), ``chat`` (rendered by the model's own chat
template) and ``metadata`` (a chat prompt asking for a JSON object). Any other
``*.json`` path is a user template (kind ``"json"``), validated on load.

>>> from groundcap.records import Detection, Facts, ImageInfo
>>> facts = Facts(ImageInfo(640, 480, "0" * 64),
...               (Detection("dog", "dog_1", (10, 200, 300, 470), 0.9, (640, 480)),))
>>> prompt = load_template("alpaca").render(facts, prior="my dog  Rex")
>>> print(prompt.text[prompt.text.index("### Input:"):])
### Input:
Objects: a dog.
Existing caption (keep what it says that agrees with the facts): my dog Rex
<BLANKLINE>
### Response:
<BLANKLINE>
>>> load_template("chat").render(facts).messages[0][0]
'system'
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from groundcap.describe import describe_facts
from groundcap.errors import ConfigError
from groundcap.records import Facts, Neighbour, Prompt
from groundcap.text.cleaning import clean_prior, tidy_caption

__all__ = [
    "BUILTIN_TEMPLATES", "STYLES", "PRIOR_LINE", "PromptTemplate", "load_template",
    "alpaca_instruction", "alpaca_input", "alpaca_text", "NEIGHBOURS_LINE", "neighbour_text",
]

#: Names :func:`load_template` resolves from package data.
BUILTIN_TEMPLATES = ("alpaca", "chat", "metadata")

#: The sentence that sets a caption's length, by ``style``.
STYLES = {
    "short": "Write one short sentence, like a human photo caption.",
    "detailed": "Write two or three sentences.",
}

#: The same, said of the ``description`` field of the metadata template.
DESCRIPTION_STYLES = {
    "short": "Make the description one short sentence, like a human photo caption.",
    "detailed": "Make the description two or three sentences.",
}

#: How a prior (manual) caption joins the facts.
PRIOR_LINE = "Existing caption (keep what it says that agrees with the facts): {prior}"

#: What introduces the captions of the datastore's nearest photos (SmallCap's "similar images show").
NEIGHBOURS_LINE = "Captions of similar photos (use only what the facts allow):"

#: A longer prior is cut at a word boundary to at most this many characters.

_MAX_TEMPLATE_BYTES = 1 << 20
_TEMPLATES_PACKAGE = "groundcap.llm_finetune.templates"

# key -> (accepted types, how the type is said in an error)
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"),
    "kind": ((str,), "a string"),
    "system_prompt": ((str,), "a string"),
    "prompt_prefix": ((str,), "a string"),
    "prompt_suffix": ((str,), "a string"),
    "regex": ((str, type(None)), "a string or null"),
    "cot_prompt": ((dict, type(None)), "an object or null"),
    "instruction": ((str,), "a string"),
    "expects_json": ((bool,), "true or false"),
}
_USER_KEYS = ("name", "kind", "system_prompt", "prompt_prefix", "prompt_suffix", "regex", "cot_prompt",
              "expects_json")
_REQUIRED = ("system_prompt", "prompt_prefix", "prompt_suffix")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")


def _check(data: Any, where: str, builtin: bool) -> dict[str, Any]:
    """Validates the JSON of a template; every problem is a ConfigError naming ``where``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a prompt template must be a JSON object, got {_json_type(data)}")
    allowed = tuple(_TYPES) if builtin else _USER_KEYS
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"expected some of {', '.join(allowed)}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {', '.join(map(repr, missing))}")
    for key, value in data.items():
        types, said = _TYPES[key]
        if not isinstance(value, types):
            raise ConfigError(f"{where}: {key!r} must be {said}, got {_json_type(value)}")
    kinds = ("alpaca", "chat") if builtin else ("json",)
    if data.get("kind", "json") not in kinds:
        raise ConfigError(f"{where}: 'kind' must be {' or '.join(map(repr, kinds))}, got {data['kind']!r}")
    if "name" in data and not data["name"].strip():
        raise ConfigError(f"{where}: 'name' must not be empty")
    if data.get("regex") is not None:
        try:
            re.compile(data["regex"])
        except re.error as e:
            raise ConfigError(f"{where}: 'regex' {data['regex']!r} does not compile: {e}") from None
    cot = data.get("cot_prompt")
    if cot is not None:
        extra = sorted(set(cot) - {"image", "explanation"})
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, extra))} in 'cot_prompt'; "
                              "expected image and explanation")
        for key in ("image", "explanation"):
            if not isinstance(cot.get(key), str) or not cot[key].strip():
                raise ConfigError(f"{where}: 'cot_prompt' needs {key!r}, a non-empty string")
    return dict(data)


@lru_cache(maxsize=None)
def _builtin(name: str) -> PromptTemplate:
    where = f"{_TEMPLATES_PACKAGE}/{name}.json"
    text = resources.files(_TEMPLATES_PACKAGE).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return PromptTemplate(**_check(json.loads(text), where, builtin=True), source=where)


def alpaca_instruction(style: str = "short") -> str:
    """The Alpaca ``### Instruction`` text for a caption style.

    >>> alpaca_instruction("detailed")
    'Generate a detailed caption based on the given information about the image. Write two or three sentences.'
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    return f"{_builtin('alpaca').instruction} {STYLES[style]}"


def neighbour_text(neighbours: Sequence[Neighbour]) -> str:
    """The retrieved captions as prompt lines: one caption per neighbour, nearest first.

    >>> print(neighbour_text([Neighbour("a.jpg", ("a dog runs in snow .",), 0.8)]))
    Captions of similar photos (use only what the facts allow):
    - A dog runs in snow.
    """
    lines = [f"- {tidy_caption(text)}" for n in neighbours if (text := clean_prior(n.captions[0]))]
    return "\n".join([NEIGHBOURS_LINE, *lines]) if lines else ""


def alpaca_input(facts: Facts, prior: str | bytes | None = None, context_labels: bool = False,
                 neighbours: Sequence[Neighbour] = ()) -> str:
    """The Alpaca ``### Input`` text: the facts in English, then the prior caption and the neighbours' captions."""
    text = describe_facts(facts, context=context_labels)
    cleaned = clean_prior(prior)
    if cleaned:
        text += "\n" + PRIOR_LINE.format(prior=cleaned)
    retrieved = neighbour_text(neighbours)
    if retrieved:
        text += "\n" + retrieved
    return text


def alpaca_text(instruction: str, input: str, response: str = "") -> str:  # noqa: A002 - Alpaca's own name
    """One complete Alpaca block; with ``response=""`` it ends where the model starts writing.

    >>> print(alpaca_text("Caption it.", "Objects: a dog.", "A dog."))
    Below is an instruction that describes a task, paired with an input that provides further context. \
Write a response that appropriately completes the request.
    <BLANKLINE>
    ### Instruction:
    Caption it.
    <BLANKLINE>
    ### Input:
    Objects: a dog.
    <BLANKLINE>
    ### Response:
    A dog.
    """
    return (f"{_builtin('alpaca').system_prompt}\n\n### Instruction:\n{instruction}\n\n"
            f"### Input:\n{input}\n\n### Response:\n{response}")


def _ocr_hint(facts: Facts) -> str:
    if facts.ocr.status == "ok" and facts.ocr.texts:
        quoted = "; ".join(json.dumps(t, ensure_ascii=False) for t in facts.ocr.texts)
        return f"Text read in the image (copy it into ocr_texts): {quoted}."
    return "No text was read in the image, so ocr_texts is []."


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template, as stored in JSON.

    Attributes:
        name: Recorded in each :class:`Prompt` it makes.
        kind: ``"alpaca"`` and ``"chat"`` (built in) or ``"json"`` (a user file).
        system_prompt: The system message (for Alpaca, the preamble line).
        prompt_prefix: Text before the facts in the user message.
        prompt_suffix: Text after the facts in the user message.
        regex: Extracts the caption from the answer (user templates).
        cot_prompt: ``{"image": path, "explanation": str}``: a worked example
            put before the facts; the image path is relative to the JSON file.
        instruction: What is asked (built-in templates; the style sentence follows it).
        expects_json: The answer is a metadata JSON object.
        source: Where the template was read from.
    """

    name: str
    kind: str = "json"
    system_prompt: str = ""
    prompt_prefix: str = ""
    prompt_suffix: str = ""
    regex: str | None = None
    cot_prompt: Mapping[str, str] | None = field(default=None, hash=False)
    instruction: str = ""
    expects_json: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("alpaca", "chat", "json"):
            raise ValueError(f"kind must be alpaca, chat or json, got {self.kind!r}")
        if self.cot_prompt is not None:
            object.__setattr__(self, "cot_prompt", dict(self.cot_prompt))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> PromptTemplate:
        """Reads and validates a user template (kind ``"json"``).

        Raises:
            ConfigError: naming the file, when it cannot be read, is not UTF-8
                JSON, or holds unknown keys, missing keys, values of the wrong
                type, a regex that does not compile or an incomplete ``cot_prompt``.
        """
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the prompt template ({e.strerror or e})") from None
        if len(raw) > _MAX_TEMPLATE_BYTES:
            raise ConfigError(f"{path}: a prompt template must be under {_MAX_TEMPLATE_BYTES} bytes")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: a prompt template must be UTF-8 text (byte {e.start} is not)") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
        except RecursionError:
            raise ConfigError(f"{path}: not valid JSON: nested too deeply") from None
        fields = _check(data, str(path), builtin=False)
        fields.setdefault("name", p.stem)
        fields["kind"] = "json"
        return cls(**fields, source=str(p.absolute()))

    def cot_image_path(self) -> Path | None:
        """The worked example's image, relative paths taken from the JSON file's folder."""
        if self.cot_prompt is None:
            return None
        image = Path(self.cot_prompt["image"]).expanduser()
        if image.is_absolute() or not self.source:
            return image
        return Path(self.source).parent / image

    def render(self, facts: Facts, *, prior: str | bytes | None = None, style: str = "short",
               examples: Sequence[tuple[Facts, str]] = (), cot_example: tuple[Facts, str] | None = None,
               context_labels: bool = False, neighbours: Sequence[Neighbour] = ()) -> Prompt:
        """Renders the prompt for one image; the same inputs give the same prompt.

        Args:
            facts: The facts of the image.
            prior: A manual caption to merge with the facts (cleaned with :func:`clean_prior`).
            style: ``"short"`` or ``"detailed"``. User templates word their own ask and ignore it.
            examples: Few-shot ``(facts, caption)`` pairs, put before the query.
            cot_example: ``(facts of cot_image_path(), explanation)``; required
                exactly when the template has a ``cot_prompt``.
            context_labels: Include the classifier's context labels in the facts.
            neighbours: Photos like this one from a caption datastore; one
                caption of each goes under the facts, nearest first.

        Raises:
            ValueError: on an unknown style, a missing or unexpected
                ``cot_example``, or few-shot captions for the JSON metadata template.
        """
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
        if (cot_example is None) != (self.cot_prompt is None):
            raise ValueError(f"template {self.name!r} " + (
                "has a cot_prompt: pass cot_example=(facts of cot_image_path(), explanation)"
                if self.cot_prompt is not None else "has no cot_prompt, so cot_example must be None"))
        shots = [(alpaca_input(f, None, context_labels), " ".join(str(c).split())) for f, c in examples]
        query = alpaca_input(facts, prior, context_labels, neighbours)
        if self.kind == "alpaca":
            return self._alpaca(shots, query, style)
        if self.kind == "chat":
            return self._chat(shots, query, style, facts)
        return self._user(shots, query, cot_example, context_labels)

    def _alpaca(self, shots: list[tuple[str, str]], query: str, style: str) -> Prompt:
        instruction = alpaca_instruction(style)
        text = "".join(alpaca_text(instruction, inp, cap) + "\n\n" for inp, cap in shots)
        messages: list[tuple[str, str]] = []
        for inp, cap in shots:
            messages += [("user", f"{instruction}\n\n{inp}"), ("assistant", cap)]
        messages.append(("user", f"{instruction}\n\n{query}"))
        return Prompt(tuple(messages), text=text + alpaca_text(instruction, query), template=self.name,
                      stop=("###",))

    def _chat(self, shots: list[tuple[str, str]], query: str, style: str, facts: Facts) -> Prompt:
        if self.expects_json and shots:
            raise ValueError(f"template {self.name!r} answers in JSON; few-shot captions do not fit it")
        if self.expects_json:  # the JSON ask goes last, where small models heed it most
            ask = f"{_ocr_hint(facts)} {DESCRIPTION_STYLES[style]}\n\n{self.instruction}".rstrip()
        else:
            ask = f"{self.instruction} {STYLES[style]}".strip()
        messages = [("system", self.system_prompt)] if self.system_prompt else []
        for inp, cap in shots:
            messages += [("user", f"{self.prompt_prefix}{inp}{self.prompt_suffix}\n\n{ask}"), ("assistant", cap)]
        messages.append(("user", f"{self.prompt_prefix}{query}{self.prompt_suffix}\n\n{ask}"))
        return Prompt(tuple(messages), text=None, regex=self.regex, expects_json=self.expects_json,
                      template=self.name)

    def _user(self, shots: list[tuple[str, str]], query: str, cot_example: tuple[Facts, str] | None,
              context_labels: bool) -> Prompt:
        user = f"{self.prompt_prefix}{query}{self.prompt_suffix}"
        if cot_example is not None:
            example_facts, explanation = cot_example
            user = (f"Example:\n{describe_facts(example_facts, context=context_labels)}\n{explanation.strip()}\n\n"
                    f"Now this image:\n{user}")
        messages = [("system", self.system_prompt)] if self.system_prompt else []
        text = f"{self.system_prompt}\n\n" if self.system_prompt else ""
        for inp, cap in shots:
            shot = f"{self.prompt_prefix}{inp}{self.prompt_suffix}"
            messages += [("user", shot), ("assistant", cap)]
            text += f"{shot}{cap}\n\n"
        messages.append(("user", user))
        return Prompt(tuple(messages), text=text + user, regex=self.regex, expects_json=self.expects_json,
                      template=self.name)


def load_template(name_or_path: str | os.PathLike[str]) -> PromptTemplate:
    """A built-in template by name, or a user template from a ``.json`` path.

    >>> load_template("metadata").expects_json
    True

    Raises:
        ConfigError: for an unknown name, or a user file that does not validate.
    """
    if isinstance(name_or_path, os.PathLike) or str(name_or_path).strip().lower().endswith(".json"):
        return PromptTemplate.from_json(name_or_path)
    name = str(name_or_path).strip().lower()
    if name in BUILTIN_TEMPLATES:
        return _builtin(name)
    raise ConfigError(f"unknown prompt template {name_or_path!r}; expected one of "
                      f"{', '.join(BUILTIN_TEMPLATES)}, or a path to a .json template")

"""Which LoRA adapter a generator applies: the embedded one, none, or a folder.

groundcap ships one adapter inside the package (``llm_finetune/weights/``):
a LoRA on the embedded SmolLM2-135M-Instruct, trained by ``groundcap
train-llm`` on flickr8k-224's train split with the embedded caption
datastore's neighbours in every prompt, then on the best of its own
candidates (``groundcap best-of-n``; see its ``MODEL_CARD.md``). The
``adapter`` setting picks what is applied:

- ``auto`` (the default): the embedded adapter when the model is the embedded
  SmolLM2 and the generator runs it locally (``hf``, ``vllm``); otherwise none.
- ``embedded``: the embedded adapter, whatever the generator.
- ``none`` (or empty): the plain model.
- anything else: a peft adapter folder, such as the output of ``train-llm``.

>>> resolve_adapter("none", generator="hf", model="") is None
True
>>> resolve_adapter("auto", generator="hf", model="").name
'weights'
>>> resolve_adapter("auto", generator="hf", model="HuggingFaceTB/SmolLM2-360M-Instruct") is None
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from groundcap.assets import EMBEDDED_LLM

__all__ = ["EMBEDDED_ADAPTER", "ADAPTER_META", "embedded_adapter_dir", "resolve_adapter", "adapter_label",
           "read_adapter_meta"]

#: The name of the shipped adapter, as it appears in model ids (``+lora:embedded``).
EMBEDDED_ADAPTER = "embedded"
_OFF = ("", "none", "off")
_LOCAL = ("hf", "vllm")
#: The metadata ``train-llm`` writes beside an adapter: its base model, template, data and losses.
ADAPTER_META = "groundcap_adapter.json"


def embedded_adapter_dir() -> Path:
    """The shipped adapter's folder (peft format, float16 weights)."""
    return Path(__file__).resolve().parent / "weights"


def resolve_adapter(adapter: str | None, *, generator: str, model: str) -> Path | None:
    """The adapter folder to apply, or ``None`` for the plain model.

    Args:
        adapter: ``auto``, ``embedded``, ``none`` or a folder.
        generator: the generator's registry name (``hf``, ``vllm``, ...).
        model: the configured model; empty means the embedded SmolLM2.
    """
    value = (adapter or "").strip()
    if value.lower() in _OFF:
        return None
    if value.lower() == "auto":
        embedded_model = model in ("", EMBEDDED_LLM)
        return embedded_adapter_dir() if embedded_model and generator in _LOCAL else None
    if value.lower() == EMBEDDED_ADAPTER:
        return embedded_adapter_dir()
    return Path(value)


def adapter_label(adapter: Path | None) -> str:
    """How an adapter appears in a model id: ``+lora:NAME``, or ``""`` for none."""
    if adapter is None:
        return ""
    name = EMBEDDED_ADAPTER if adapter == embedded_adapter_dir() else adapter.name
    return f"+lora:{name}"


def read_adapter_meta(adapter_dir: str | Path) -> dict[str, Any]:
    """The groundcap metadata saved beside an adapter ({} for a foreign adapter)."""
    path = Path(adapter_dir) / ADAPTER_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

"""Which adapter applies (auto/embedded/none/folder), and the shipped adapter itself."""

import json
import re

import pytest

from groundcap import Captioner
from groundcap.config import CaptionConfig, GenerateConfig
from groundcap.llm_finetune.adapters import adapter_label, embedded_adapter_dir, resolve_adapter
from groundcap.llm_finetune.generators import create_generator
from groundcap.records.prompt import Prompt

WEIGHTS = embedded_adapter_dir()


@pytest.mark.parametrize("adapter, generator, model, expected", [
    ("auto", "hf", "", WEIGHTS),
    ("auto", "hf", "smollm2-135m-instruct", WEIGHTS),
    ("auto", "vllm", "", WEIGHTS),
    ("auto", "hf", "HuggingFaceTB/SmolLM2-360M-Instruct", None),  # another model: the LoRA doesn't fit
    ("auto", "openai", "", None),
    ("auto", "template", "", None),
    ("none", "hf", "", None),
    ("", "hf", "", None),
    (None, "hf", "", None),
    ("embedded", "openai", "", WEIGHTS),
    ("runs/adapter", "hf", "", "runs/adapter"),
])
def test_resolve_adapter(adapter, generator, model, expected):
    got = resolve_adapter(adapter, generator=generator, model=model)
    assert (None if got is None else str(got)) == (None if expected is None else str(expected))


def test_adapter_labels():
    assert adapter_label(None) == ""
    assert adapter_label(WEIGHTS) == "+lora:embedded"
    assert adapter_label(WEIGHTS.parent / "elsewhere" / "my-lora") == "+lora:my-lora"


def test_shipped_adapter_is_small_fp16_and_names_no_machine_path():
    from safetensors import safe_open

    weights = WEIGHTS / "adapter_model.safetensors"
    assert weights.stat().st_size < 5_000_000
    with safe_open(str(weights), "pt") as f:
        keys = list(f.keys())
        assert keys and {str(f.get_tensor(k).dtype) for k in keys} == {"torch.float16"}
        # a real, trained LoRA: no all-zero B matrices (peft's initialisation)
        assert all(f.get_tensor(k).abs().sum() > 0 for k in keys if "lora_B" in k)
    meta = json.loads((WEIGHTS / "groundcap_adapter.json").read_text())
    assert meta["base_model"] == "smollm2-135m-instruct" and meta["template"] == "alpaca"
    assert meta["train_config"]["references"] in ("sample", "each") and meta["metrics"]["eval_loss"] > 0
    assert meta["data"]["retrieval"]["neighbours"] == 5  # trained with the datastore's captions in its prompts
    for name in ("groundcap_adapter.json", "adapter_config.json", "MODEL_CARD.md"):
        text = (WEIGHTS / name).read_text()
        assert not re.search(r"(/tmp/|/work/|/root/|/home/|[A-Z]:\\\\)", text), name
    card = (WEIGHTS / "MODEL_CARD.md").read_text()
    assert "research" in card.lower() and "Flickr8k" in card


def test_default_captioner_applies_the_embedded_adapter():
    cfg = Captioner(CaptionConfig(generate=GenerateConfig(generator="template"))).config
    assert cfg.generate.adapter == "auto"  # the setting stays as given; the generator resolves it
    assert Captioner().config.generate.model == "smollm2-135m-instruct"  # filled in from the adapter's metadata


@pytest.mark.models
def test_embedded_adapter_changes_what_smollm2_writes():
    p = Prompt(messages=(("system", "You write one-sentence photo captions."),
                         ("user", "Objects: a dog.\nColors: the dog is black.\nSetting: outdoors, snow.")))
    tuned = create_generator(GenerateConfig(n=1, max_new_tokens=24))
    plain = create_generator(GenerateConfig(n=1, max_new_tokens=24, adapter="none"))
    assert tuned.model_id == "smollm2-135m-instruct+lora:embedded"
    assert plain.model_id == "smollm2-135m-instruct"
    a, b = tuned.generate_raw([p], 1)[0][0], plain.generate_raw([p], 1)[0][0]
    assert a.text != b.text

"""The int8 writer (``generate.dtype=int8``): dynamic int8 linear layers on the CPU."""

import pytest

from groundcap.config import GenerateConfig
from groundcap.errors import ConfigError
from groundcap.llm_finetune.generators import create_generator
from groundcap.llm_finetune.generators.hf import load_causal_lm
from groundcap.records.prompt import Prompt

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

PROMPTS = [Prompt(messages=(("user", "dog"),)), Prompt(messages=(("user", "the black dog runs on the grass"),)),
           Prompt(messages=(("user", "a man sits in the snow with a red bus"),))]


def test_int8_is_for_the_cpu_only():
    with pytest.raises(ConfigError, match="CPU only"):
        GenerateConfig(dtype="int8", device="cuda")
    assert GenerateConfig(dtype="int8").dtype == "int8"


def test_linear_layers_but_down_proj_are_int8_and_the_logits_stay_near_float32(tiny_llama):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    q8, tok = load_causal_lm(str(tiny_llama), dtype="int8")
    f32, _ = load_causal_lm(str(tiny_llama), dtype="float32")
    for name, module in q8.named_modules():
        if name.endswith(("_proj", "lm_head")):
            assert isinstance(module, DynamicLinear) != name.endswith("down_proj"), name
    ids = tok(["the black dog runs on the grass"], return_tensors="pt").input_ids
    with torch.inference_mode():
        a, b = q8(input_ids=ids).logits.float(), f32(input_ids=ids).logits
    assert not torch.equal(a, b)  # quantized for real
    cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)
    assert cos > 0.99, cos


def test_the_int8_writer_decodes_with_the_lean_loop_and_its_seed(tiny_llama):
    cfg = dict(model=str(tiny_llama), dtype="int8", max_new_tokens=6, batch_size=3, prefill_group=2, seed=1)
    gen = create_generator(GenerateConfig(**cfg))
    rows = gen.generate_raw(PROMPTS, 3)
    assert [len(r) for r in rows] == [3, 3, 3]
    assert all(c.logprob is not None for r in rows for c in r)
    assert rows == create_generator(GenerateConfig(**cfg)).generate_raw(PROMPTS, 3)


def test_quantize_int8_can_keep_no_layer_in_float32(tiny_llama):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from groundcap.llm_finetune.generators.hf import quantize_int8

    f32, _ = load_causal_lm(str(tiny_llama), dtype="float32")
    q8 = quantize_int8(f32, keep=())
    assert not any(type(m) is torch.nn.Linear for m in q8.modules())
    assert sum(isinstance(m, DynamicLinear) for m in q8.modules()) == 2 * 7 + 1  # 7 per layer and the head

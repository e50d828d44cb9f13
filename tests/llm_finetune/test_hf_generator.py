"""The hf generator on a tiny random Llama (fast) and on the embedded SmolLM2 (marked)."""

import pytest

from groundcap.config import GenerateConfig
from groundcap.llm_finetune.generators import create_generator, list_generators
from groundcap.records.prompt import Prompt

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = ["dog", "cat", "man"]  # words in the tiny tokenizer's vocabulary


def prompts(k=1):
    return [Prompt(messages=(("system", "a dog"), ("user", f"the {w} runs on grass"))) for w in WORDS[:k]]


def test_registry_lists_all_four_generators():
    assert list_generators() == ["hf", "openai", "template", "vllm"]


def test_n_candidates_greedy_first_with_logprobs(tiny_llama):
    gen = create_generator(GenerateConfig(model=str(tiny_llama), dtype="float32", n=4, max_new_tokens=8))
    (raw,) = gen.generate_raw(prompts(), 4)
    assert len(raw) == 4 and [c.greedy for c in raw] == [True, False, False, False]
    # a row that ends at once (the random model draws its end token) has no tokens to score
    assert raw[0].logprob is not None and sum(c.logprob is not None for c in raw) >= 2
    assert all(c.logprob <= 0 for c in raw if c.logprob is not None)


def test_greedy_row_equals_a_plain_greedy_decode(tiny_llama):
    gen = create_generator(GenerateConfig(model=str(tiny_llama), dtype="float32", max_new_tokens=8))
    sampled = gen.generate_raw(prompts(), 5)[0][0]
    greedy = gen.generate_raw(prompts(), 1)[0][0]
    assert sampled.text == greedy.text
    assert sampled.logprob == pytest.approx(greedy.logprob, abs=1e-4)


def test_same_seed_same_candidates(tiny_llama):
    cfg = GenerateConfig(model=str(tiny_llama), dtype="float32", max_new_tokens=8, seed=3)
    a = create_generator(cfg).generate_raw(prompts(), 4)
    b = create_generator(cfg).generate_raw(prompts(), 4)
    assert a == b


def test_batched_prompts_with_left_padding(tiny_llama):
    gen = create_generator(GenerateConfig(model=str(tiny_llama), dtype="float32", max_new_tokens=6, batch_size=3))
    many = [Prompt(messages=(("user", "dog"),)), Prompt(messages=(("user", "the black dog runs on the grass"),))]
    batched = gen.generate_raw(many, 1)
    single = [gen.generate_raw([p], 1)[0] for p in many]
    assert [r[0].text for r in batched] == [r[0].text for r in single]


def test_a_shared_prefill_gives_the_candidates_of_n_separate_prefills(tiny_llama):
    """The prompt is prefilled once and its cache repeated for the n samples: same rows, greedy first,
    with left padding across prompts of different lengths."""
    gen = create_generator(GenerateConfig(model=str(tiny_llama), dtype="float32", max_new_tokens=6, batch_size=2, seed=1,
                                          decoding="generate"))
    many = [Prompt(messages=(("user", "dog"),)), Prompt(messages=(("user", "the black dog runs on the grass"),))]
    calls = []
    real = gen._shared_prefix
    def spy(enc, n):
        out = real(enc, n)
        calls.append(out is not None)
        return out

    gen._shared_prefix = spy
    shared = gen.generate_raw(many, 3)
    assert calls == [True]  # the shared path really ran
    gen.share_prefill = False
    separate = gen.generate_raw(many, 3)
    assert [[c.text for c in r] for r in shared] == [[c.text for c in r] for r in separate]
    assert [c.greedy for c in shared[1]] == [True, False, False]
    for a, b in zip(shared, separate):
        assert [c.logprob for c in a] == pytest.approx([c.logprob for c in b], abs=1e-4)


def test_lora_adapter_loads_and_changes_the_model_id(tiny_llama, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    lora = peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(tmp_path / "adapter")
    gen = create_generator(GenerateConfig(model=str(tiny_llama), dtype="float32", adapter=str(tmp_path / "adapter"), n=2,
                                          max_new_tokens=4))
    assert gen.model_id.endswith("+lora:adapter")
    assert len(gen.generate_raw(prompts(), 2)[0]) == 2


def test_missing_model_is_a_clear_error(tmp_path):
    from groundcap.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="could not load"):
        create_generator(GenerateConfig(model=str(tmp_path / "nope")))


@pytest.mark.models
def test_embedded_smollm2_writes_captions():
    gen = create_generator(GenerateConfig(n=3, max_new_tokens=24))
    p = Prompt(messages=(("system", "You write one-sentence photo captions."),
                         ("user", "Objects: a dog.\nColors: the dog is black.\nSetting: outdoors, snow.")))
    (cands,) = gen.generate([p])
    ok = [c for c in cands if c.status == "ok"]
    assert ok and ok[0].greedy and all(c.text.endswith(".") for c in ok)
    assert "dog" in " ".join(c.text.lower() for c in ok)


@pytest.mark.models
def test_stopping_rows_at_their_first_sentence_keeps_the_same_captions():
    from groundcap.llm_finetune.postprocess import finish

    gen = create_generator(GenerateConfig(n=5, max_new_tokens=40, adapter="none"))
    p = Prompt(messages=(("system", "You describe photos."),
                         ("user", "Describe a dog in the snow in three sentences.")))
    out = {}
    for flag in (False, True):
        gen.stop_at_sentence = flag
        (raw,) = gen.generate_raw([p], 5)
        out[flag] = raw
    assert [finish(c, p).text for c in out[True]] == [finish(c, p).text for c in out[False]]
    # the rows really were cut: the stopped ones hold less text, none more
    lengths = [(len(a.text), len(b.text)) for a, b in zip(out[True], out[False])]
    assert all(x <= y for x, y in lengths) and any(x < y for x, y in lengths), lengths

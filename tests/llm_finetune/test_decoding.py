"""The lean decoding loop against transformers' generate, on a tiny random Llama."""

import dataclasses

import pytest

from groundcap.config import GenerateConfig
from groundcap.llm_finetune.generators import create_generator
from groundcap.llm_finetune.generators import decoding, kv_cache
from groundcap.llm_finetune.generators.hf import resolve_dtype
from groundcap.records.prompt import Prompt

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

MANY = [Prompt(messages=(("user", "dog"),)), Prompt(messages=(("user", "the black dog runs on the grass"),)),
        Prompt(messages=(("user", "a man sits in the snow with a red bus"),))]


def _gen(tiny_llama, **kw):
    return create_generator(GenerateConfig(model=str(tiny_llama), dtype="float32", **kw))


@pytest.mark.parametrize("n", [1, 4])
def test_lean_greedy_rows_are_generates_greedy_decode(tiny_llama, n):
    """Row 0 of each prompt is the greedy decode, token for token, with left padding across lengths."""
    lean = _gen(tiny_llama, max_new_tokens=10, batch_size=3)
    gen = _gen(tiny_llama, max_new_tokens=10, batch_size=3, decoding="generate")
    a, b = lean.generate_raw(MANY, n), gen.generate_raw(MANY, n)
    assert [r[0].text for r in a] == [r[0].text for r in b]
    assert [r[0].logprob for r in a] == pytest.approx([r[0].logprob for r in b], abs=1e-4)
    assert [r[0].truncated for r in a] == [r[0].truncated for r in b]
    assert all(len(r) == n and [c.greedy for c in r] == [True] + [False] * (n - 1) for r in a)


def test_lean_sampled_rows_are_seeded_and_vary(tiny_llama):
    cfg = dict(max_new_tokens=8, batch_size=3, temperature=1.5, top_p=1.0)
    one = _gen(tiny_llama, seed=3, **cfg).generate_raw(MANY, 6)
    assert one == _gen(tiny_llama, seed=3, **cfg).generate_raw(MANY, 6)
    other = _gen(tiny_llama, seed=4, **cfg).generate_raw(MANY, 6)
    assert [r[0] for r in one] == [r[0] for r in other]  # greedy rows do not depend on the seed
    assert [[c.text for c in r[1:]] for r in one] != [[c.text for c in r[1:]] for r in other]
    assert len({c.text for r in one for c in r[1:]}) > 3


def test_the_batch_shrinks_as_rows_finish(tiny_llama, monkeypatch):
    """A row that finished() ends stays ended; once enough have, they leave the batch."""
    gen = _gen(tiny_llama, max_new_tokens=12)
    tok = gen.tokenizer
    enc = tok(["<user> dog <assistant>", "<user> the cat <assistant>"], return_tensors="pt", padding=True)
    sizes = []
    real = gen.model.forward

    def spy(*args, **kw):
        sizes.append(kw["input_ids"].shape[0])
        return real(*args, **kw)

    monkeypatch.setattr(gen.model, "forward", spy)
    lengths = iter(range(100))
    limits = {}

    def finished(ids):
        # each distinct row (by its first token and call order) gets its own length limit: 1, 2, 3, ...
        key = id(ids)
        if key not in limits:
            limits[key] = next(lengths) + 1
        return len(ids) >= limits[key]

    rows = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, n=3, max_new_tokens=10, temperature=1.0,
                           top_p=1.0, seed=0, end_ids=[], finished=finished)
    assert sorted(len(r.ids) for r in rows) == [1, 2, 3, 4, 5, 6]
    assert not any(r.truncated for r in rows)
    assert sizes[0] == 2 and sizes[1:] == sorted(sizes[1:], reverse=True) and sizes[-1] < 6  # prefill, then fewer
    # a row's sample does not depend on when the others end
    again = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, n=3, max_new_tokens=10, temperature=1.0,
                            top_p=1.0, seed=0, end_ids=[], finished=None)
    assert all(a.ids == b.ids[:len(a.ids)] for a, b in zip(rows, again))


def test_truncated_when_the_limit_ends_a_row(tiny_llama):
    gen = _gen(tiny_llama, max_new_tokens=3)
    tok = gen.tokenizer
    enc = tok(["<user> dog <assistant>"], return_tensors="pt")
    rows = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, n=2, max_new_tokens=3, temperature=1.0,
                           top_p=1.0, seed=0, end_ids=[], finished=None)
    assert all(len(r.ids) == 3 and r.truncated for r in rows)


def test_the_roomy_cache_gives_the_concatenating_caches_rows(tiny_llama, monkeypatch):
    """Writing keys into room kept ahead changes nothing: the same greedy and sampled rows, with compaction."""
    if decoding.roomy_cache(4) is None:
        pytest.skip("this transformers has no pluggable cache layers")
    gen = _gen(tiny_llama, max_new_tokens=12, batch_size=3, temperature=1.2)
    roomy = gen.generate_raw(MANY, 4)
    monkeypatch.setattr(kv_cache, "roomy_cache", lambda headroom: None)
    assert gen.generate_raw(MANY, 4) == roomy


def test_the_roomy_cache_grows_when_its_room_is_used_up(tiny_llama):
    """With less room than the answer needs it reallocates mid-answer and still matches."""
    gen = _gen(tiny_llama)
    tok = gen.tokenizer
    enc = tok(["<user> dog <assistant>", "<user> the cat runs <assistant>"], return_tensors="pt", padding=True)
    kw = dict(n=2, temperature=1.0, top_p=1.0, seed=0, end_ids=[], finished=None)
    full = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, max_new_tokens=10, **kw)
    import unittest.mock as mock

    real = kv_cache.roomy_cache
    with mock.patch.object(kv_cache, "roomy_cache", lambda headroom: real(2)):
        small = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, max_new_tokens=10, **kw)
    assert small == full and all(len(r.ids) == 10 for r in full)


@pytest.mark.parametrize("flat", [False, True])
def test_top_p_keeps_the_nucleus_transformers_keeps(flat):
    """Exactly TopPLogitsWarper's tokens: on peaked rows (the top-k fast path) and on flat rows (a full sort)."""
    from transformers import TopPLogitsWarper

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 2000, generator=g) * (0.05 if flat else 6.0)
    warped = TopPLogitsWarper(0.9)(None, logits.clone())
    allowed = [set(torch.nonzero(row > float("-inf")).flatten().tolist()) for row in warped]
    assert flat == any(len(a) > decoding.TOP_K_FAST for a in allowed)
    seen = [set() for _ in allowed]
    gen = torch.Generator().manual_seed(1)
    for _ in range(300):
        for i, tok in enumerate(decoding._sample_top_p(logits, 0.9, torch.rand(6, generator=gen)).tolist()):
            seen[i].add(tok)
    assert all(s <= a for s, a in zip(seen, allowed))
    if not flat:
        assert all(s == a for s, a in zip(seen, allowed) if len(a) <= 5)  # small nuclei are drawn whole


def test_auto_dtype_follows_the_cpu(monkeypatch):
    from groundcap.llm_finetune.generators import hf

    monkeypatch.setattr(hf, "_cpu_computes_bf16", lambda: True)
    assert resolve_dtype("auto", "cpu") == "bfloat16"
    monkeypatch.setattr(hf, "_cpu_computes_bf16", lambda: False)
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("float32", "cpu") == "float32"


def test_bfloat16_generator_runs_in_bfloat16(tiny_llama):
    gen = create_generator(GenerateConfig(model=str(tiny_llama), dtype="bfloat16", max_new_tokens=4))
    assert next(gen.model.parameters()).dtype == torch.bfloat16
    (raw,) = gen.generate_raw(MANY[:1], 2)
    assert len(raw) == 2 and raw[0].logprob is not None


def test_a_merged_adapter_gives_the_unmerged_models_greedy_decode(tiny_llama, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    lora = peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    gen = _gen(tiny_llama, adapter=str(tmp_path / "adapter"), max_new_tokens=8)
    assert not isinstance(gen.model, peft.PeftModel)  # folded into the weights
    plain = _gen(tiny_llama, adapter="none", max_new_tokens=8)
    from groundcap.llm_finetune.generators.hf import load_causal_lm

    unmerged, _ = load_causal_lm(str(tiny_llama), adapter=str(tmp_path / "adapter"))
    assert isinstance(unmerged, peft.PeftModel)
    plain.model = unmerged
    assert [r[0].text for r in gen.generate_raw(MANY, 1)] == [r[0].text for r in plain.generate_raw(MANY, 1)]


def test_sampling_follows_the_distribution():
    """Inverse-CDF draws match the probabilities of a 3-token distribution."""
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]])).repeat(20000, 1)
    picks = decoding._sample_top_p(logits, 1.0, torch.rand(20000, generator=torch.Generator().manual_seed(0)))
    freq = torch.bincount(picks, minlength=3).float() / 20000
    assert freq.tolist() == pytest.approx([0.6, 0.3, 0.1], abs=0.015)


@pytest.mark.parametrize("field,value", [("dtype", "int3"), ("decoding", "fast"), ("batch_size", 0),
                                         ("top_p", 0.0), ("max_new_tokens", 0)])
def test_generate_config_checks_itself(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(GenerateConfig(), **{field: value})


@pytest.mark.parametrize("decoding", ["lean", "generate"])
def test_a_special_token_ends_the_answer(tiny_llama, decoding):
    """A model that opens a new turn (SmolLM2's ``<|im_start|>``) has answered: what follows is not the caption.

    The model is scripted: after the prompt it says "dog", then the special ``<s>``, then "cat" forever.
    """
    gen = _gen(tiny_llama, max_new_tokens=6, decoding=decoding)
    tok = gen.tokenizer
    dog, cat, start = (tok.convert_tokens_to_ids(t) for t in ("dog", "cat", "<s>"))
    assert start in tok.all_special_ids and start not in (tok.eos_token_id, tok.pad_token_id)
    last: list = []

    def remember(module, args, kwargs):
        last[:] = [kwargs["input_ids"][:, -1]]

    def script(module, args, logits):
        nxt = torch.where(last[0] == dog, start, torch.where(last[0] == start, cat, dog))
        logits[..., -1, :] = -1e4
        logits[torch.arange(len(nxt)), -1, nxt] = 1e4
        return logits

    hooks = [gen.model.register_forward_pre_hook(remember, with_kwargs=True),
             gen.model.lm_head.register_forward_hook(script)]
    try:
        [row] = gen.generate_raw([MANY[0]], 3)
    finally:
        for h in hooks:
            h.remove()
    assert [c.text for c in row] == ["dog"] * 3 and not any(c.truncated for c in row)


HEADED = ["<user> the black dog runs on the grass dog <assistant>", "<user> the black dog runs on the snow <assistant>",
          "<user> the black dog runs a man sits in the snow with a red bus <assistant>"]


def test_shared_head_counts_the_tokens_every_prompt_starts_with(tiny_llama):
    tok = _gen(tiny_llama).tokenizer
    enc = tok(HEADED, return_tensors="pt", padding=True)
    assert decoding.shared_head(enc.input_ids, enc.attention_mask) == 5  # "<user> the black dog runs"
    one = tok(HEADED[:1] * 2, return_tensors="pt", padding=True)
    assert decoding.shared_head(one.input_ids, one.attention_mask) == one.input_ids.shape[1] - 1  # a tail of one


def _forward_shapes(gen, monkeypatch):
    """The input shape of every forward of the generator's model, in order (a list that fills as it runs)."""
    calls = []
    real = gen.model.forward

    def spy(*args, **kw):
        calls.append(tuple(kw["input_ids"].shape))
        return real(*args, **kw)

    monkeypatch.setattr(gen.model, "forward", spy)
    return calls


@pytest.mark.parametrize("n", [1, 3])
def test_a_shared_head_prefilled_once_gives_the_same_rows(tiny_llama, monkeypatch, n):
    """Prefilling the common head once for the batch, then each tail, changes no greedy or sampled row."""
    monkeypatch.setattr(decoding, "MIN_SHARED_HEAD", 2)
    gen = _gen(tiny_llama)
    enc = gen.tokenizer(HEADED, return_tensors="pt", padding=True)
    calls = _forward_shapes(gen, monkeypatch)
    kw = dict(n=n, max_new_tokens=8, temperature=1.3, top_p=0.95, seed=5, end_ids=[], finished=None)
    shared = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, share_head=True, **kw)
    assert calls[0] == (1, 5) and calls[1] == (3, enc.input_ids.shape[1] - 5)  # the head once, then the tails
    calls.clear()
    whole = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, share_head=False, **kw)
    assert calls[0] == tuple(enc.input_ids.shape)
    assert [r.ids for r in shared] == [r.ids for r in whole]
    assert [r.logprob for r in shared] == pytest.approx([r.logprob for r in whole], abs=1e-4)


def _gqa_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("share_head", [False, True])
def test_rows_decoded_on_one_copy_of_the_prompt_are_the_repeated_caches_rows(share_head):
    """Float32, grouped-query heads, left padding, rows ending at different steps (so the batch shrinks)."""
    model = _gqa_llama()
    ids = torch.randint(3, 97, (3, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0
    mask[1, :2] = 0
    kw = dict(n=4, max_new_tokens=10, temperature=1.0, top_p=0.9, seed=0, end_ids=[2],
              finished=lambda t: t[-1] % 4 == 0, share_head=share_head)
    shared = decoding.decode(model, ids, mask, share_prompt=True, **kw)
    repeated = decoding.decode(model, ids, mask, share_prompt=False, **kw)
    assert [r.ids for r in shared] == [r.ids for r in repeated]
    assert len({len(r.ids) for r in shared}) > 2  # rows did leave the batch at different steps
    assert [r.logprob for r in shared] == pytest.approx([r.logprob for r in repeated], abs=1e-5)
    assert model.config._attn_implementation == "sdpa"  # switched back after the loop


def test_the_shared_prompt_is_read_once_not_repeated(monkeypatch):
    from groundcap.llm_finetune.generators import shared_prefix

    model = _gqa_llama()
    ids = torch.randint(3, 97, (2, 8), generator=torch.Generator().manual_seed(2))
    repeats = []
    real = shared_prefix.SharedPrefixCache.from_prefill
    monkeypatch.setattr(shared_prefix.SharedPrefixCache, "from_prefill",
                        classmethod(lambda cls, *a, **k: repeats.append(a[0]) or real(*a, **k)))
    decoding.decode(model, ids, torch.ones_like(ids), n=5, max_new_tokens=4, temperature=1.0, top_p=1.0, seed=0,
                    end_ids=[2])
    assert len(repeats) == 1 and all(layer.keys.shape[0] == 2 for layer in repeats[0].layers)  # 2 prompts, not 10
    assert shared_prefix.supports(model)
    model.config.model_type = "gemma"  # soft-capped attention: not covered, the repeated cache is used
    assert not shared_prefix.supports(model)
    with pytest.raises(RuntimeError, match="only inside"):
        shared_prefix.shared_prefix_attention(model.model.layers[0].self_attn, torch.zeros(1, 4, 1, 16), None, None,
                                              None)


VARIED = HEADED + ["<user> the black dog runs <assistant>",
                   "<user> the black dog runs on the grass and a man in a red coat walks to the bus <assistant>"]


@pytest.mark.parametrize("n,share_head", [(1, False), (3, False), (3, True)])
def test_tails_prefilled_in_groups_by_length_give_the_same_rows(tiny_llama, monkeypatch, n, share_head):
    """Prefilling the prompts two at a time in order of length, each group padded to its own longest, changes
    no greedy or sampled row: the cache is laid out as one padded prefill's."""
    monkeypatch.setattr(decoding, "MIN_SHARED_HEAD", 2)
    gen = _gen(tiny_llama)
    enc = gen.tokenizer(VARIED, return_tensors="pt", padding=True)
    lengths = enc.attention_mask.sum(-1).tolist()
    calls = _forward_shapes(gen, monkeypatch)
    kw = dict(n=n, max_new_tokens=8, temperature=1.3, top_p=0.95, seed=5, end_ids=[], finished=None,
              share_head=share_head)
    grouped = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, prefill_group=2, **kw)
    head = 5 if share_head else 0
    by_length = sorted(lengths)
    widths = [max(by_length[i:i + 2]) - head for i in range(0, len(VARIED), 2)]
    tails = calls[1:4] if share_head else calls[:3]
    assert tails == [(2, widths[0]), (2, widths[1]), (1, widths[2])]  # each group only as wide as its longest
    assert widths[0] < max(lengths) - head
    whole = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, prefill_group=0, **kw)
    assert [r.ids for r in grouped] == [r.ids for r in whole]
    assert [r.logprob for r in grouped] == pytest.approx([r.logprob for r in whole], abs=1e-4)


def test_the_generator_prefills_in_groups_of_its_setting(tiny_llama):
    """GenerateConfig.prefill_group reaches the loop, and the candidates are those of one padded prefill."""
    a = _gen(tiny_llama, max_new_tokens=6, batch_size=5, prefill_group=2).generate_raw(
        [Prompt(messages=(("user", t),)) for t in VARIED], 3)
    b = _gen(tiny_llama, max_new_tokens=6, batch_size=5, prefill_group=0).generate_raw(
        [Prompt(messages=(("user", t),)) for t in VARIED], 3)
    assert [[c.text for c in r] for r in a] == [[c.text for c in r] for r in b]


def test_a_memo_of_heads_prefills_a_single_prompts_head_once_for_later_calls(tiny_llama, monkeypatch):
    """One photo at a time (the Python API in a loop): the second call finds the head it shares with the first,
    the third and later prefill only their own tail, and no row changes."""
    from groundcap.llm_finetune.generators.prefill import HeadMemo

    monkeypatch.setattr(decoding, "MIN_SHARED_HEAD", 2)
    gen = _gen(tiny_llama)
    calls = _forward_shapes(gen, monkeypatch)
    memo = HeadMemo()
    kw = dict(n=3, max_new_tokens=6, temperature=1.3, top_p=0.95, seed=5, end_ids=[], finished=None)
    for i, text in enumerate([HEADED[0], HEADED[2], HEADED[1]]):  # 0 and 2 share only the 5-token head
        enc = gen.tokenizer([text], return_tensors="pt")
        width = enc.input_ids.shape[1]
        calls.clear()
        memoed = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, share_head=True, heads=memo, **kw)
        prefills = calls[:2] if i == 1 else calls[:1]
        if i == 0:
            assert prefills == [(1, width)] and len(memo) == 0  # nothing to share with yet
        elif i == 1:
            assert prefills == [(1, 5), (1, width - 5)] and len(memo) == 1  # "<user> the black dog runs", kept
        else:
            assert prefills == [(1, width - 5)]  # the kept head, not prefilled again
        calls.clear()
        whole = decoding.decode(gen.model, enc.input_ids, enc.attention_mask, share_head=False, **kw)
        assert [r.ids for r in memoed] == [r.ids for r in whole]
        assert [r.logprob for r in memoed] == pytest.approx([r.logprob for r in whole], abs=1e-4)


def test_a_batch_keeps_its_head_for_the_next_batch_and_for_single_prompts(tiny_llama, monkeypatch):
    from groundcap.llm_finetune.generators.prefill import HeadMemo

    monkeypatch.setattr(decoding, "MIN_SHARED_HEAD", 2)
    gen = _gen(tiny_llama)
    calls = _forward_shapes(gen, monkeypatch)
    memo = HeadMemo(size=1)
    kw = dict(n=2, max_new_tokens=4, temperature=1.0, top_p=0.9, seed=0, end_ids=[], finished=None, share_head=True)
    enc = gen.tokenizer(HEADED, return_tensors="pt", padding=True)
    decoding.decode(gen.model, enc.input_ids, enc.attention_mask, heads=memo, **kw)
    assert calls[0] == (1, 5) and len(memo) == 1
    calls.clear()
    decoding.decode(gen.model, enc.input_ids, enc.attention_mask, heads=memo, **kw)
    assert calls[0] == (3, enc.input_ids.shape[1] - 5)  # straight to the tails
    calls.clear()
    one = gen.tokenizer(VARIED[3:4], return_tensors="pt")  # starts with the batch's head
    decoding.decode(gen.model, one.input_ids, one.attention_mask, heads=memo, **kw)
    assert calls[0] == (1, one.input_ids.shape[1] - 5)
    other = gen.tokenizer(["<user> a cat <assistant>"], return_tensors="pt")
    calls.clear()
    decoding.decode(gen.model, other.input_ids, other.attention_mask, heads=memo, **kw)
    assert calls[0] == tuple(other.input_ids.shape)  # shares too little with the previous prompt: no head


def test_the_generator_keeps_its_heads_between_calls(tiny_llama, monkeypatch):
    monkeypatch.setattr(decoding, "MIN_SHARED_HEAD", 2)
    gen = _gen(tiny_llama, max_new_tokens=4)
    for text in HEADED:
        gen.generate_raw([Prompt(messages=(("user", text),))], 2)
    assert len(gen.heads) == 2  # 0 and 1 share 7 tokens; 2 shares 5 with 1
    off = _gen(tiny_llama, max_new_tokens=4, share_head=False)
    for text in HEADED:
        off.generate_raw([Prompt(messages=(("user", text),))], 2)
    assert len(off.heads) == 0

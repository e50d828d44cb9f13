"""train-llm on a tiny random Llama: a few real optimizer steps, resume, and the saved artifact."""

import json
import math

import pytest

from groundcap.config import TrainLLMConfig
from groundcap.errors import ConfigError, GroundcapError
from groundcap.llm_finetune.prompt_templates import alpaca_text
from groundcap.llm_finetune.adapters import read_adapter_meta
from groundcap.llm_finetune.train import train_llm, training_rows

datasets = pytest.importorskip("datasets")
pytest.importorskip("trl")


def _row(caption, refs, image="images/x.jpg"):
    return {"image": image, "sha256": "0" * 64, "instruction": "Write a caption.",
            "input": "Objects: a dog.", "output": caption,
            "messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "the dog"},
                         {"role": "assistant", "content": caption}],
            "facts": "{}", "references": refs, "references_clean": refs, "ref_index": 0}


@pytest.fixture
def sft_dir(tmp_path):
    refs = ["the dog runs on grass .", "a black dog runs ."]
    dsd = datasets.DatasetDict({
        # an "each" build: 4 images, one row per reference
        "train": datasets.Dataset.from_list([_row(r, refs, f"images/{i}.jpg") for i in range(4) for r in refs]),
        "validation": datasets.Dataset.from_list([_row(refs[0], refs)]),
        "test": datasets.Dataset.from_list([_row(refs[0], refs)]),
    })
    dsd.save_to_disk(str(tmp_path / "sft" / "hf"))
    (tmp_path / "sft" / "build.json").write_text(json.dumps({"data_hash": "abc", "source": "unit",
                                                                   "retrieval": {"datastore": "ds", "neighbours": 5}}))
    return tmp_path / "sft"


def test_alpaca_rows_put_the_loss_on_the_response(sft_dir):
    train = datasets.load_from_disk(str(sft_dir / "hf"))["train"]
    rows, epochs = training_rows(train, "alpaca", "each", 2.0, 0)
    assert len(rows) == 8 and epochs == 2.0
    assert rows[0]["prompt"] == alpaca_text("Write a caption.", "Objects: a dog.")
    assert rows[0]["completion"] == "the dog runs on grass ."


def test_sample_mode_draws_one_reference_per_image_per_epoch(sft_dir):
    train = datasets.load_from_disk(str(sft_dir / "hf"))["train"]
    rows, epochs = training_rows(train, "chat", "sample", 3.0, 0)
    assert len(rows) == 3 * 4 and epochs == 1.0  # each image once per epoch, however many rows it had
    assert rows[0]["completion"][0]["role"] == "assistant"
    assert rows == training_rows(train, "chat", "sample", 3.0, 0)[0]  # seeded: a resume sees the same data


def test_train_saves_a_usable_adapter_and_resumes(tiny_llama, sft_dir, tmp_path, monkeypatch):
    import torch

    loads, real_load = [], torch.load

    def spy(*args, **kwargs):  # a resume reads optimizer, scheduler and RNG state: never as a full pickle
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    cfg = TrainLLMConfig(base_model=str(tiny_llama), max_steps=2, batch_size=4, save_steps=1, lora_r=2,
                         lora_alpha=4, max_length=64, device="cpu")
    meta = train_llm(sft_dir, tmp_path / "adapter", cfg)
    assert meta["metrics"]["steps"] == 2 and meta["data"]["data_hash"] == "abc"
    assert meta["data"]["retrieval"] == {"datastore": "ds", "neighbours": 5}  # the datastore its prompts used
    assert read_adapter_meta(tmp_path / "adapter")["base_model"] == str(tiny_llama)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    # Asking for more steps resumes from the last checkpoint instead of starting over.
    more = train_llm(sft_dir, tmp_path / "adapter", TrainLLMConfig(**{**cfg.__dict__, "max_steps": 3}))
    assert more["metrics"]["steps"] == 3
    assert loads and all(w is True for w in loads), loads

    from groundcap.config import GenerateConfig
    from groundcap.llm_finetune.generators import create_generator
    from groundcap.records.prompt import Prompt

    gen = create_generator(GenerateConfig(model=str(tiny_llama), adapter=str(tmp_path / "adapter"), n=2,
                                          max_new_tokens=4))
    assert len(gen.generate_raw([Prompt(messages=(("user", "dog"),))], 2)[0]) == 2


def test_unsloth_without_cuda_is_a_clear_error(sft_dir, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(GroundcapError, match="needs a CUDA GPU"):
        train_llm(sft_dir, tmp_path / "a", TrainLLMConfig(backend="unsloth"))


def test_train_llm_cli_exits_non_zero_without_cuda_for_unsloth(sft_dir, tmp_path, capsys):
    import torch

    from groundcap.cli import main

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["train-llm", str(sft_dir), "--out", str(tmp_path / "a"), "--backend", "unsloth"]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_not_a_build_sft_folder(tmp_path):
    with pytest.raises(ConfigError, match="build-sft"):
        train_llm(tmp_path, tmp_path / "a")


@pytest.mark.slow
def test_a_few_real_steps_on_smollm2_and_flickr(flickr_dir, tmp_path):
    """The real default model on real facts -> caption pairs (minutes: not in the default run)."""
    from groundcap.cli import main

    assert main(["build-sft", str(flickr_dir), "--out", str(tmp_path / "sft"), "--limit", "16"]) == 0
    assert main(["train-llm", str(tmp_path / "sft"), "--out", str(tmp_path / "adapter"), "--max-steps", "3",
                 "--batch-size", "4"]) == 0
    meta = read_adapter_meta(tmp_path / "adapter")
    assert meta["metrics"]["steps"] == 3 and meta["base_model"] == "smollm2-135m-instruct"


def test_a_build_with_an_empty_split_loads(tmp_path):
    """Flickr8k-224 has no test split: datasets saves it without a data file and can't load the dict back."""
    import datasets

    from groundcap.llm_finetune.sft_data import _features, load_sft, save_sft

    features = _features()
    row = {"image": "a.jpg", "sha256": "0" * 64, "instruction": "Caption it.", "input": "Objects: a dog.",
           "output": "A dog.", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "A dog."}],
           "facts": "{}", "references": ["A dog ."], "references_clean": ["A dog."], "ref_index": 0}
    splits = {"train": [row, row], "validation": [row], "test": []}
    dsd = datasets.DatasetDict({s: datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in features},
                                                              features=features) for s, rows in splits.items()})
    dsd.build_info = {}
    save_sft(dsd, tmp_path / "sft")
    loaded, _ = load_sft(tmp_path / "sft")
    assert {s: len(d) for s, d in loaded.items()} == {"train": 2, "validation": 1, "test": 0}
    assert loaded["test"].features == features


@pytest.mark.parametrize("history, evaluates", [
    ([{"loss": 2.5, "step": 10}, {"eval_loss": 2.4, "step": 10}], False),  # the trainer evaluated at the end
    ([{"eval_loss": 2.6, "step": 5}, {"loss": 2.5, "step": 10}], True),  # only earlier: evaluate again
    ([{"loss": 2.5, "step": 10}], True),
])
def test_the_final_validation_loss_is_not_computed_twice(history, evaluates):
    from types import SimpleNamespace

    from groundcap.llm_finetune.train import _final_eval_loss

    calls = []
    trainer = SimpleNamespace(state=SimpleNamespace(log_history=history, global_step=10),
                              evaluate=lambda: calls.append(1) or {"eval_loss": 2.3})
    assert _final_eval_loss(trainer) == (2.3 if evaluates else 2.4)
    assert bool(calls) == evaluates


def test_init_adapter_continues_a_trained_lora(tiny_llama, sft_dir, tmp_path):
    from safetensors.torch import load_file

    cfg = TrainLLMConfig(base_model=str(tiny_llama), max_steps=2, batch_size=4, lora_r=2, lora_alpha=4,
                         max_length=64, device="cpu", learning_rate=1e-2, warmup_ratio=0.0)
    train_llm(sft_dir, tmp_path / "a", cfg)
    more = TrainLLMConfig(**{**cfg.__dict__, "init_adapter": str(tmp_path / "a"), "lora_r": 8})
    meta = train_llm(sft_dir, tmp_path / "b", more)
    assert meta["lora"]["r"] == 2  # the adapter it continued, not a new rank-8 one
    assert meta["train_config"]["init_adapter"] == str(tmp_path / "a")
    first = json.loads((tmp_path / "a" / "groundcap_adapter.json").read_text())
    assert meta["init_from"] == {"adapter": "a", "data_hash": first["data"]["data_hash"], "max_steps": 2,
                                 "learning_rate": 1e-2, "metrics": first["metrics"], "init_from": None}
    assert first["init_from"] is None and meta["data"]["best_of_n"] is None  # a new LoRA, on human captions
    a = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "b" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    lora_b = [k for k in a if "lora_B" in k]
    assert any(a[k].abs().sum() > 0 for k in lora_b)  # A itself moved off its zero start
    assert any(not (a[k] == b[k]).all() for k in lora_b)  # it trained on from A's weights


def test_init_adapter_must_be_an_adapter_folder(tiny_llama, sft_dir, tmp_path):
    with pytest.raises(ConfigError, match="not a LoRA adapter folder"):
        train_llm(sft_dir, tmp_path / "b", TrainLLMConfig(base_model=str(tiny_llama), init_adapter=str(tmp_path),
                                                          max_steps=1, device="cpu"))
    with pytest.raises(ConfigError, match="peft backend"):
        TrainLLMConfig(backend="unsloth", init_adapter="embedded")


def test_precision_is_validated():
    with pytest.raises(ConfigError, match="precision"):
        TrainLLMConfig(precision="fp16")


@pytest.mark.parametrize("precision,bf16", [("float32", False), ("bfloat16", True)])
def test_precision_sets_the_trainers_autocast_and_trains(tiny_llama, sft_dir, tmp_path, monkeypatch, precision, bf16):
    import groundcap.llm_finetune.train as train_mod

    seen = []
    make = train_mod._trainer

    def spy(*args, **kwargs):
        trainer = make(*args, **kwargs)
        seen.append(trainer.args.bf16)
        return trainer

    monkeypatch.setattr(train_mod, "_trainer", spy)
    cfg = TrainLLMConfig(base_model=str(tiny_llama), max_steps=1, batch_size=4, lora_r=2, lora_alpha=4,
                         max_length=64, device="cpu", precision=precision)
    meta = train_llm(sft_dir, tmp_path / "a", cfg)
    assert seen == [bf16]
    assert meta["train_config"]["precision"] == precision
    assert math.isfinite(meta["metrics"]["train_loss"])

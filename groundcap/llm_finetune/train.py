"""LoRA fine-tuning of the caption writer on (facts → caption) pairs: ``groundcap train-llm``.

Two backends train the same data in the same format and save the same kind
of artifact:

- ``peft``: transformers + peft + trl's ``SFTTrainer``, on the CPU or a GPU;
  the default tunes the embedded SmolLM2-135M-Instruct.
- ``unsloth``: unsloth's ``FastLanguageModel`` on a CUDA GPU (Kaggle/Colab),
  defaulting to a 4-bit Llama-3-8B; imported only on this path.

Rows are prompt-completion pairs, so the loss falls on the response tokens
only. The adapter folder carries ``groundcap_adapter.json``: base model,
template, LoRA and training config, the training data's hash and the final
metrics, so ``groundcap caption --adapter DIR`` knows how to use it.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from groundcap.assets import EMBEDDED_LLM
from groundcap.config import TrainLLMConfig, to_dict
from groundcap.errors import ConfigError, GroundcapError
from groundcap.llm_finetune.adapters import ADAPTER_META
from groundcap.llm_finetune.sft_data import load_sft
from groundcap.provenance import package_versions

__all__ = ["train_llm", "training_rows", "UNSLOTH_DEFAULT"]

UNSLOTH_DEFAULT = "unsloth/llama-3-8b-Instruct-bnb-4bit"


def training_rows(split: Any, template: str, references: str, epochs: float, seed: int) -> tuple[list[dict], float]:
    """Prompt-completion rows for trl, and the epochs to run over them.

    With ``references="sample"`` each image appears once per epoch with one
    of its references drawn at random (seeded); the draws for all epochs are
    laid out in advance, so a resumed run sees the same data.
    """
    from groundcap.llm_finetune.prompt_templates import alpaca_text

    def row(r: dict, output: str) -> dict:
        if template == "alpaca":
            return {"prompt": alpaca_text(r["instruction"], r["input"]), "completion": output}
        if template == "chat":
            msgs = [m for m in r["messages"] if m["role"] != "assistant"]
            return {"prompt": msgs, "completion": [{"role": "assistant", "content": output}]}
        raise ConfigError(f"train-llm templates are alpaca or chat, got {template!r}")

    records = list(split)
    if references == "each":
        return [row(r, r["output"]) for r in records], epochs
    if references != "sample":
        raise ConfigError(f"references must be each or sample, got {references!r}")
    # One row per image, however the data was built: an "each" build repeats an image once per reference.
    images = list({r["image"]: r for r in reversed(records)}.values())[::-1]
    rng = random.Random(seed)
    copies = max(1, round(epochs))
    rows = [row(r, rng.choice(r["references_clean"] or [r["output"]])) for _ in range(copies) for r in images]
    return rows, 1.0


def _final_eval_loss(trainer: Any) -> float:
    """The validation loss after the last step: the one the trainer logged there, else a new evaluation.

    A run cut short by ``max_steps`` is evaluated by the trainer at its end
    already; evaluating again doubled the time (6 min for 887 rows here).
    """
    state = trainer.state
    last = next((h for h in reversed(state.log_history) if "eval_loss" in h), None)
    if last is not None and last.get("step") == state.global_step:
        return float(last["eval_loss"])
    return float(trainer.evaluate()["eval_loss"])


def _last_checkpoint(ckpt_dir: Path) -> str | None:
    found = sorted(ckpt_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(found[-1]) if found else None


def train_llm(data_dir: str | Path, out_dir: str | Path, config: TrainLLMConfig | None = None) -> dict[str, Any]:
    """Trains a LoRA adapter; returns the metadata saved beside it.

    Raises:
        ConfigError: for bad data or settings.
        GroundcapError: for the unsloth backend without CUDA.
    """
    config = config or TrainLLMConfig()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dsd, build = load_sft(data_dir)
    if config.backend == "unsloth":
        model, tokenizer, base = _unsloth_model(config)
    else:  # peft; TrainLLMConfig allows no other backend
        model, tokenizer, base = _peft_model(config)
    train_rows, epochs = training_rows(dsd["train"], config.template, config.references, config.epochs, config.seed)
    eval_rows = training_rows(dsd["validation"], config.template, "each", 1, config.seed)[0] \
        if "validation" in dsd and len(dsd["validation"]) else []
    trainer = _trainer(model, tokenizer, train_rows, eval_rows, epochs, out_dir, config)
    start = time.time()
    result = trainer.train(resume_from_checkpoint=_last_checkpoint(out_dir / "checkpoints"))
    metrics = {"train_loss": round(float(result.training_loss), 4), "steps": int(result.global_step),
               "train_seconds": round(time.time() - start, 1), "examples": len(train_rows)}
    if eval_rows:
        metrics["eval_loss"] = round(float(_final_eval_loss(trainer)), 4)
    meta = {"groundcap_adapter": 1, "base_model": base, "template": config.template,
            "backend": config.backend, "train_config": to_dict(config),
            "lora": _lora_of(model, config),
            "data": {"source": Path(build["source"]).name if build.get("source") else None,  # no machine path
                     "data_hash": build.get("data_hash"),
                     "facts_config_hash": build.get("facts_config_hash"), "counts": build.get("counts"),
                     "retrieval": build.get("retrieval"),  # the datastore its prompts were built with
                     "best_of_n": build.get("best_of_n")},  # targets chosen from the writer's own candidates
            "init_from": _init_lineage(config),
            "metrics": metrics, "versions": package_versions("torch", "transformers", "peft", "trl", "unsloth")}
    _save(trainer.model, tokenizer, out_dir, meta, config)
    return meta


def _init_lineage(config: TrainLLMConfig) -> dict[str, Any] | None:
    """What an ``init_adapter`` run started from: that adapter's name, data and metrics (None for a new LoRA).

    Continued training replaces the weights, so without this the metadata of
    an adapter trained from the shipped one would not say what the shipped
    one was once it is itself shipped.
    """
    if not config.init_adapter:
        return None
    from groundcap.llm_finetune.adapters import adapter_label, read_adapter_meta, resolve_adapter

    start = resolve_adapter(config.init_adapter, generator="hf", model=config.base_model)
    parent = read_adapter_meta(start) if start is not None else {}
    parent_config = parent.get("train_config") or {}
    return {"adapter": adapter_label(start).removeprefix("+lora:"),  # a folder's name, never its path
            "data_hash": (parent.get("data") or {}).get("data_hash"),
            "max_steps": parent_config.get("max_steps"), "learning_rate": parent_config.get("learning_rate"),
            "metrics": parent.get("metrics"), "init_from": parent.get("init_from")}


def _lora_of(model: Any, config: TrainLLMConfig) -> dict[str, Any]:
    """The trained LoRA's settings: an ``init_adapter``'s own (it keeps its rank), else the config's."""
    if config.init_adapter:
        pc = model.peft_config["default"]
        return {"r": pc.r, "alpha": pc.lora_alpha, "dropout": pc.lora_dropout,
                "target_modules": sorted(pc.target_modules)}
    return {"r": config.lora_r, "alpha": config.lora_alpha, "dropout": config.lora_dropout,
            "target_modules": list(config.target_modules)}


def _peft_model(config: TrainLLMConfig) -> tuple[Any, Any, str]:
    from peft import LoraConfig, get_peft_model

    from groundcap.llm_finetune.generators.hf import load_causal_lm

    base = config.base_model or EMBEDDED_LLM
    model, tokenizer = load_causal_lm(base, device=config.device)
    tokenizer.padding_side = "right"  # training pads after the text; generation pads before
    if config.init_adapter:
        from peft import PeftModel

        from groundcap.llm_finetune.adapters import resolve_adapter

        start = resolve_adapter(config.init_adapter, generator="hf", model=config.base_model)
        if start is None or not (start / "adapter_config.json").is_file():
            raise ConfigError(f"init_adapter {config.init_adapter!r} is not a LoRA adapter folder")
        model = PeftModel.from_pretrained(model, str(start), is_trainable=True)
        model.float()  # a shipped float16 adapter trains in float32
    else:
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=list(config.target_modules), task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    model.train()
    return model, tokenizer, base


def _unsloth_model(config: TrainLLMConfig) -> tuple[Any, Any, str]:
    import torch

    if not torch.cuda.is_available():
        raise GroundcapError("train-llm --backend unsloth needs a CUDA GPU (Kaggle/Colab); none is visible here. "
                             "Use --backend peft to train on the CPU.")
    try:
        from unsloth import FastLanguageModel
    except ImportError as e:
        raise GroundcapError("the unsloth backend needs unsloth: pip install 'groundcap[gpu]'") from e
    base = config.base_model or UNSLOTH_DEFAULT
    model, tokenizer = FastLanguageModel.from_pretrained(model_name=base, max_seq_length=config.max_length,
                                                         load_in_4bit=True, dtype=None)
    model = FastLanguageModel.get_peft_model(
        model, r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules), use_gradient_checkpointing="unsloth",
        random_state=config.seed)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, base


def _trainer(model: Any, tokenizer: Any, train_rows: list[dict], eval_rows: list[dict], epochs: float,
             out_dir: Path, config: TrainLLMConfig) -> Any:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from groundcap.llm_finetune.generators.hf import resolve_dtype

    on_gpu = torch.cuda.is_available() and config.device != "cpu"
    bf16 = resolve_dtype(config.precision, "cuda" if on_gpu else "cpu") == "bfloat16"
    args = SFTConfig(
        output_dir=str(out_dir / "checkpoints"), num_train_epochs=epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=config.warmup_ratio, logging_steps=5,  # < 1: a ratio
        save_steps=config.save_steps, save_total_limit=2, seed=config.seed, data_seed=config.seed,
        eval_strategy=("steps" if config.eval_steps else "epoch") if eval_rows else "no",
        eval_steps=config.eval_steps or None, max_length=config.max_length, completion_only_loss=True,
        report_to=[], use_cpu=not on_gpu, bf16=bf16,
        dataloader_num_workers=0, save_only_model=False,
    )
    return SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(train_rows),
                      eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
                      processing_class=tokenizer)


def _save(model: Any, tokenizer: Any, out_dir: Path, meta: dict, config: TrainLLMConfig) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.backend == "unsloth" and config.export == "merged":
        model.save_pretrained_merged(str(out_dir / "merged"), tokenizer, save_method="merged_16bit")
    elif config.backend == "unsloth" and config.export == "gguf":
        model.save_pretrained_gguf(str(out_dir / "gguf"), tokenizer, quantization_method="q4_k_m")
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    cfg_path = out_dir / "adapter_config.json"
    if cfg_path.is_file():  # name the base portably, not by this machine's cache path
        cfg = json.loads(cfg_path.read_text())
        cfg["base_model_name_or_path"] = meta["base_model"]
        cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    (out_dir / ADAPTER_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")



"""Settings of the two training commands: ``train-llm`` and ``train-clip``."""

from __future__ import annotations

from dataclasses import dataclass

from groundcap.config.fields import setting
from groundcap.config.image_text import IMAGE_TEXT, ImageTextConfig
from groundcap.errors import ConfigError

__all__ = ["TrainLLMConfig", "TrainClipConfig"]


@dataclass(frozen=True)
class TrainLLMConfig:
    backend: str = setting("peft", "peft (CPU or GPU, transformers + trl) or unsloth (CUDA only).")
    base_model: str = setting("", "Model to tune; empty: the embedded SmolLM2 for peft, "
                             "unsloth/llama-3-8b-Instruct-bnb-4bit for unsloth.")
    template: str = setting("alpaca", "Prompt format the model learns: alpaca (prompt-completion) or chat (messages).")
    epochs: float = setting(2.0, "Passes over the training split.")
    max_steps: int = setting(-1, "Stop after this many optimizer steps (-1: run the epochs).")
    learning_rate: float = setting(3e-4, "Peak learning rate (linear warm-up, cosine decay).")
    warmup_ratio: float = setting(0.05, "Share of steps spent warming up.")
    batch_size: int = setting(8, "Examples per optimizer step (per device).")
    grad_accum: int = setting(1, "Gradient accumulation steps.")
    max_length: int = setting(320, "Longest tokenized example; longer ones are truncated.")
    lora_r: int = setting(16, "LoRA rank.")
    lora_alpha: int = setting(32, "LoRA alpha.")
    lora_dropout: float = setting(0.05, "LoRA dropout.")
    target_modules: tuple[str, ...] = setting(("q_proj", "k_proj", "v_proj", "o_proj"), "Modules that get adapters.")
    references: str = setting("each", "How the built train rows become examples: every row as its own example (each, "
                                 "the shipped adapter's recipe; on an `each` build that is every reference: 5x the "
                                 "steps of sample), or one row per image whose reference is drawn anew each epoch "
                                 "(sample). Not build-sft's --references, which decides the rows built.")
    seed: int = setting(0, "Seed for data order, dropout and sampling.")
    save_steps: int = setting(50, "Checkpoint every this many steps (resume picks up the last one).")
    eval_steps: int = setting(0, "Validation loss every this many steps (0: once per epoch).")
    export: str = setting("adapter", "GPU (unsloth) export: adapter, merged (16-bit weights) or gguf.")
    device: str = setting("auto", "cpu, cuda or auto.")
    precision: str = setting("auto", "Compute type of the forward and backward passes (weights and LoRA stay "
                                     "float32): bfloat16 autocast, float32, or auto (bfloat16 where the device "
                                     "computes it natively: a CUDA GPU with bf16, a CPU with AMX or AVX512-BF16).")
    init_adapter: str = setting("", "Continue training this LoRA (a train-llm folder, or embedded: the shipped one) "
                                    "instead of starting a new one; its rank and modules are kept (peft only).")

    def __post_init__(self) -> None:
        if self.init_adapter and self.backend != "peft":
            raise ConfigError("init_adapter is for the peft backend")
        if self.backend not in ("peft", "unsloth"):
            raise ConfigError(f"backend must be peft or unsloth, got {self.backend!r}")
        if self.template not in ("alpaca", "chat"):
            raise ConfigError(f"train-llm templates are alpaca or chat, got {self.template!r}")
        if self.precision not in ("auto", "bfloat16", "float32"):
            raise ConfigError(f"precision must be auto, bfloat16 or float32, got {self.precision!r}")
        if self.references not in ("each", "sample"):
            raise ConfigError(f"references must be each or sample, got {self.references!r}")


@dataclass(frozen=True)
class TrainClipConfig:
    model: str = setting(IMAGE_TEXT.model,
                    "Model to train: embedded (heads over frozen EfficientNet-Lite3 and MiniLM features) "
                    "or an open_clip architecture (ViT-B-32, open_clip:RN50, ...).")
    pretrained: str = setting(IMAGE_TEXT.pretrained,
                         "open_clip starting weights: a pretrained tag (downloads once) or a checkpoint file.")
    checkpoint: str = setting(IMAGE_TEXT.checkpoint,
                         "A train-clip output folder to start from (instead of the shipped or pretrained weights).")
    init: str = setting("pretrained", "pretrained: start from the shipped heads / --pretrained / --checkpoint; "
                                 "scratch: start from random weights.")
    epochs: int = setting(20, "Passes over the (image, caption) pairs.")
    batch_size: int = setting(128, "Pairs per step; the other pairs of a batch are the negatives.")
    learning_rate: float = setting(1e-3, "Peak learning rate (AdamW). About 1e-3 for embedded heads, 1e-5 for "
                                    "fine-tuning a whole pretrained open_clip model.")
    weight_decay: float = setting(0.1, "AdamW weight decay (not applied to biases, norms and the logit scale).")
    warmup_ratio: float = setting(0.1, "Share of steps spent warming up linearly.")
    schedule: str = setting("cosine", "Learning-rate schedule after warm-up: cosine (decay to 0) or constant.")
    lock_image: bool = setting(False, "Freeze the image side (open_clip: lock_image_tower; embedded: the image head).")
    lock_text: bool = setting(False, "Freeze the text side (open_clip: lock_text_tower; embedded: the text head).")
    wise_ft: float = setting(1.0, "WiSE-FT: save (1-a)*start + a*trained weights; 1 keeps the trained weights, "
                             "0 the starting ones.")
    embed_dim: int = setting(256, "embedded, init scratch: width of the shared embedding space.")
    hidden_dim: int = setting(0, "embedded, init scratch: hidden width of each head's MLP; 0 for a linear head.")
    dropout: float = setting(0.5, "embedded, init scratch: dropout on the frozen features entering each head.")
    seed: int = setting(0, "Seed of initialisation, batch order and augmentation.")
    device: str = setting(IMAGE_TEXT.device, "cpu, cuda or auto.")
    amp: bool = setting(True, "Mixed precision on CUDA (bf16 where supported, else fp16); ignored on the CPU.")
    workers: int = setting(0, "open_clip: processes decoding images (0: in the main process).")
    cache_dir: str = setting("", "embedded: folder caching the frozen features ('' = $GROUNDCAP_CACHE/features or "
                            "~/.cache/groundcap/features; 'none' to cache nothing).")

    def __post_init__(self) -> None:
        if self.init not in ("pretrained", "scratch"):
            raise ConfigError(f"init must be pretrained or scratch, got {self.init!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"need epochs >= 1 and batch_size >= 2, got {self.epochs} and {self.batch_size}")
        if not 0.0 <= self.wise_ft <= 1.0:
            raise ConfigError(f"wise_ft must be in [0, 1], got {self.wise_ft}")

    @property
    def image_text(self) -> ImageTextConfig:
        """The model trained: where it starts from and the device it trains on."""
        return ImageTextConfig(model=self.model, pretrained=self.pretrained, checkpoint=self.checkpoint,
                               device=self.device)


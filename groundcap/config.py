"""Configuration: one dataclass per stage, read from YAML and from CLI flags.

Library code takes these dataclasses, never an argparse Namespace. Each field
carries its help text in ``metadata["help"]``; :mod:`groundcap.config_cli`
turns them into flags (``--detect.conf`` and, where the field name is unique,
``--conf``). Each dataclass checks its own values in ``__post_init__`` and
raises :class:`~groundcap.errors.ConfigError`. Only the standard library and
:mod:`groundcap.errors` are imported here; YAML is read by
:func:`load_yaml` with PyYAML imported lazily.

>>> cfg = FactsConfig()
>>> cfg.detect.detector
'ssd-mobilenet-v2'
>>> merge(cfg, {"detect": {"conf": 0.3}}).detect.conf
0.3
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from groundcap.errors import ConfigError

__all__ = [
    "DetectConfig",
    "ColorConfig",
    "SpatialConfig",
    "SceneConfig",
    "FactsConfig",
    "PromptConfig",
    "GenerateConfig",
    "ImageTextConfig",
    "IMAGE_TEXT",
    "RerankConfig",
    "RetrieveConfig",
    "CaptionConfig",
    "OutputConfig",
    "RunConfig",
    "TrainLLMConfig",
    "TrainClipConfig",
    "merge",
    "to_dict",
    "config_hash",
    "load_yaml",
]


def _f(default: Any, help: str, **kw: Any) -> Any:  # noqa: A002 - mirrors argparse
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class DetectConfig:
    detector: str = _f("ssd-mobilenet-v2", "Detector name (see `groundcap list detectors`) or an ultralytics weights path.")
    conf: float = _f(0.4, "Minimum detection score.")
    iou: float = _f(0.5, "IoU above which boxes of the same class are merged (per-class NMS).")
    agnostic_iou: float = _f(0.8, "IoU above which boxes of different classes are merged "
                                  "(class-agnostic duplicate suppression); 1 disables it.")
    max_objects: int = _f(20, "Keep at most this many objects, highest score first.")
    classes: Optional[tuple[str, ...]] = _f(None, "Keep only these labels (comma separated on the CLI).")
    imgsz: int = _f(640, "Inference size for ultralytics models.")
    device: str = _f("cpu", "Device for torch-based detectors (cpu, cuda, cuda:0).")


#: How dominant colors are found (``ColorConfig.color_method``).
COLOR_METHODS = ("kmeans", "histogram")


@dataclass(frozen=True)
class ColorConfig:
    color_method: str = _f("kmeans", "How dominant colors are found: kmeans or histogram.")
    n_colors: int = _f(2, "Colors reported per object.")
    palette_size: int = _f(3, "Colors in the whole-image palette (used when nothing is detected).")
    center_weight: float = _f(4.0, "How much more the box center counts than its border (1 = flat).")
    min_fraction: float = _f(0.12, "Drop colors covering less than this share of an object.")
    chroma_boost: float = _f(3.0, "Rank vivid colors above larger dull ones: share x (1 + boost x chroma/10); 0 ranks by share.")
    max_pixels: int = _f(4096, "Pixels sampled per object for clustering.")

    def __post_init__(self) -> None:
        if self.color_method not in COLOR_METHODS:
            raise ConfigError(f"color_method must be one of {COLOR_METHODS}, got {self.color_method!r}")
        if self.n_colors < 0 or self.palette_size < 0:
            raise ConfigError("n_colors and palette_size must not be negative")
        if not self.center_weight > 0:
            raise ConfigError(f"center_weight must be positive (1 = flat), got {self.center_weight}")
        if self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be at least 1, got {self.max_pixels}")


@dataclass(frozen=True)
class SpatialConfig:
    max_relations: int = _f(6, "Relations kept per image, most salient first.")
    near: float = _f(0.08, "Gap, as a share of the image diagonal, under which two objects are 'next to' each other.")
    far: float = _f(0.55, "Center distance, as a share of the image diagonal, over which objects are 'far from' each other.")
    min_area: float = _f(0.002, "Objects smaller than this share of the image take part in no relation.")


@dataclass(frozen=True)
class SceneConfig:
    classifier: str = _f("efficientnet-lite3", "Whole-image classifier for context labels and scene cues, or 'none'.")
    context_top_k: int = _f(5, "Classifier labels kept.")
    context_min_score: float = _f(0.15, "Classifier labels below this score are dropped.")
    pose: bool = _f(False, "Estimate a coarse posture for each person (MoveNet).")
    ocr: str = _f("off", "Read text with tesseract: auto (when installed), on, or off. Off by default: "
                         "about 1 s per photo, 14x the rest of the facts.")

    def __post_init__(self) -> None:
        if self.classifier not in ("efficientnet-lite3", "none"):
            raise ConfigError(f"unknown classifier {self.classifier!r}; expected efficientnet-lite3 or none")
        if self.ocr not in ("auto", "on", "off"):
            raise ConfigError(f"ocr must be auto, on or off, got {self.ocr!r}")


@dataclass(frozen=True)
class FactsConfig:
    detect: DetectConfig = field(default_factory=DetectConfig)
    colors: ColorConfig = field(default_factory=ColorConfig)
    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)


@dataclass(frozen=True)
class PromptConfig:
    template: str = _f("alpaca", "Prompt template: alpaca, chat, metadata, or a path to a JSON template.")
    style: str = _f("short", "Caption length: short (one sentence) or detailed (two or three).")
    few_shot: int = _f(0, "Example (facts, caption) pairs put into the prompt (needs --examples).")
    examples: Optional[str] = _f(None, "captions.jsonl whose train split supplies few-shot examples.")
    context_labels: bool = _f(False, "Put the classifier's context labels into the prompt.")
    prior: Optional[str] = _f(None, "A prior caption to merge with the facts (also read from IMAGE.txt sidecars).")

    def __post_init__(self) -> None:
        if self.few_shot > 0 and not self.examples:
            raise ConfigError("few_shot needs examples: pass --examples captions.jsonl (its train split is used)")


#: Weight types of local language models (``GenerateConfig.dtype``).
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: Decoding loops of the hf generator (``GenerateConfig.decoding``).
DECODINGS = ("lean", "generate")


@dataclass(frozen=True)
class GenerateConfig:
    generator: str = _f("hf", "Caption generator: hf, openai, vllm or template.")
    model: str = _f("", "Model id or local path; empty picks the generator's default (hf: the embedded SmolLM2-135M-Instruct).")
    adapter: str = _f("auto", "LoRA adapter: auto (the embedded Flickr8k-tuned adapter on the embedded SmolLM2), "
                      "embedded, none, or a peft adapter folder (e.g. from train-llm).")
    n: int = _f(5, "Candidates per image: the greedy decode plus n-1 samples.")
    max_new_tokens: int = _f(40, "Longest answer, in tokens.")
    temperature: float = _f(0.7, "Sampling temperature for the non-greedy candidates.")
    top_p: float = _f(0.9, "Nucleus sampling for the non-greedy candidates.")
    seed: int = _f(0, "Sampling seed: the same seed gives the same candidates.")
    batch_size: int = _f(16, "Prompts per forward pass (left-padded).")
    device: str = _f("cpu", "Device for local models (cpu, cuda, auto).")
    dtype: str = _f("auto", "Weights and compute type of local models: auto (bfloat16 where the device computes it "
                            "natively: a CPU with AMX or AVX512-BF16, a CUDA GPU with bf16; float32 elsewhere), "
                            "float32, bfloat16 or float16.")
    decoding: str = _f("lean", "hf decoding loop: lean (one prefill per prompt, exact top-p without a vocabulary "
                               "sort, finished rows leave the batch) or generate (transformers' model.generate).")
    trust_remote_code: bool = _f(False, "Allow a hub model to run its own code (off unless you trust it).")
    base_url: str = _f("https://api.openai.com/v1", "OpenAI-compatible endpoint for the openai generator.")
    api_key_env: str = _f("OPENAI_API_KEY", "Environment variable (or .env entry) holding the API key.")
    requests_per_minute: float = _f(60.0, "Client-side rate limit for the openai generator.")
    max_retries: int = _f(4, "Retries on 429/5xx/timeouts, with exponential backoff honouring Retry-After.")
    timeout: float = _f(30.0, "Seconds before one request is abandoned.")
    concurrency: int = _f(4, "Requests in flight at once (openai generator).")

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be at least 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be at least 0, got {self.temperature}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.decoding not in DECODINGS:
            raise ConfigError(f"decoding must be one of {DECODINGS}, got {self.decoding!r}")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            # urllib would also open file:// and ftp:// URLs; an endpoint is never one.
            raise ConfigError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be positive, got {self.timeout}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {self.max_retries}")


@dataclass(frozen=True)
class ImageTextConfig:
    """The image-text (CLIP-like) model of the clip scorer, ``train-clip``, ``index`` and ``eval retrieval``.

    The one place its choices and defaults live. :class:`RerankConfig` (as
    ``clip_model``, ``clip_pretrained``, ``clip_checkpoint``) and
    :class:`TrainClipConfig` (as ``model``, ``pretrained``, ``checkpoint``,
    ``device``) keep their flat fields, so their flags, YAML keys and saved
    configs stay as they were; both take their defaults from here and give
    theirs back as one of these through ``image_text``.

    >>> RerankConfig(clip_model="ViT-B-32", clip_pretrained="openai").image_text
    ImageTextConfig(model='ViT-B-32', pretrained='openai', checkpoint='', device='auto')
    """

    model: str = _f("embedded", "Image-text model: embedded (offline: EfficientNet-Lite3 + MiniLM with trained "
                                "heads), or an open_clip architecture (ViT-B-32, open_clip:RN50, ...).")
    pretrained: str = _f("", "open_clip weights: a pretrained tag (openai, laion2b_s34b_b79k; downloads once) or a "
                             "checkpoint file; empty for none.")
    checkpoint: str = _f("", "A train-clip output folder whose weights are used; empty for the shipped (embedded) "
                             "or pretrained (open_clip) weights.")
    device: str = _f("auto", "cpu, cuda or auto.")


#: The image-text model's defaults, which every config and command naming one shares.
IMAGE_TEXT = ImageTextConfig()


@dataclass(frozen=True)
class RerankConfig:
    scorers: tuple[str, ...] = _f(("grounding", "clip", "consensus"),
                                  "Scorers that rank candidates (comma separated): grounding, clip, consensus, logprob.")
    weights: tuple[float, ...] = _f((0.3, 0.1, 2.0), "Weight of each scorer in the combined score. The default "
                                    "(tuned on Flickr8k-224 dev): the grounding check, a score in [-1, 1], mostly decides; "
                                    "among candidates it rates alike, agreement with the other candidates and the "
                                    "retrieved captions (consensus, in [0, 1]) chooses, and CLIP breaks near-ties.")
    clip_model: str = _f(IMAGE_TEXT.model,
                         "Image-text model of the clip scorer: embedded (offline: EfficientNet-Lite3 + "
                         "MiniLM with trained heads), or an open_clip architecture such as ViT-B-32.")
    clip_pretrained: str = _f(IMAGE_TEXT.pretrained,
                              "open_clip weights for the clip scorer: a pretrained tag (openai, laion2b_s34b_b79k; "
                              "downloads once) or a checkpoint file; empty for none.")
    clip_checkpoint: str = _f(IMAGE_TEXT.checkpoint,
                              "A train-clip output folder whose weights the clip scorer uses; empty for the "
                              "shipped (embedded) or pretrained (open_clip) weights.")

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.scorers):
            raise ConfigError(f"{len(self.scorers)} scorers ({', '.join(self.scorers)}) but "
                              f"{len(self.weights)} weights; give one weight per scorer")

    @property
    def image_text(self) -> ImageTextConfig:
        """The clip scorer's image-text model (on the default device)."""
        return ImageTextConfig(model=self.clip_model, pretrained=self.clip_pretrained, checkpoint=self.clip_checkpoint)


@dataclass(frozen=True)
class RetrieveConfig:
    datastore: str = _f("embedded", "Caption datastore whose nearest photos' captions join the prompt and the "
                                    "ranking: embedded (Flickr8k-224 train, shipped), none, or a `groundcap "
                                    "datastore build` folder.")
    neighbours: int = _f(5, "Nearest datastore photos retrieved per image.")

    def __post_init__(self) -> None:
        if not self.datastore:
            raise ConfigError("datastore must be embedded, none or a folder")
        if not 1 <= self.neighbours <= 100:
            raise ConfigError(f"neighbours must be between 1 and 100, got {self.neighbours}")


@dataclass(frozen=True)
class CaptionConfig:
    facts: FactsConfig = field(default_factory=FactsConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    retrieve: RetrieveConfig = field(default_factory=RetrieveConfig)


@dataclass(frozen=True)
class OutputConfig:
    formats: tuple[str, ...] = _f(("parquet", "webdataset", "csv"),
                                  "Outputs (comma separated): parquet (always), webdataset (tar shards + sizes.json), "
                                  "csv (open_clip's filepath/title TSV), hf (datasets save_to_disk), imagefolder "
                                  "(images/ + metadata.jsonl), sidecar (images/ with a .txt per image).")
    shard_size: int = _f(128, "Images per shard; a stopped run loses at most the shard in progress.")
    engine: str = _f("local", "local (threads on this machine) or ray (Ray Data; see --ray-address).")
    workers: int = _f(4, "Threads reading and decoding images (local engine).")
    queue: int = _f(2, "Batches decoded and measured ahead of the LLM (bounds memory).")
    limit: Optional[int] = _f(None, "Caption only the first N images of the input.")
    path_column: Optional[str] = _f(None, "Manifest column holding image paths (default: path, image, filepath, ...).")
    caption_column: Optional[str] = _f(None, "Manifest column holding prior captions (default: caption, text, ...).")
    progress: bool = _f(True, "Show a progress bar with images/s and an ETA.")
    ray_address: str = _f("", "Ray cluster to join (ray://host:10001 or auto); empty starts a local Ray.")
    ray_actors: int = _f(1, "Ray: actors per stage (detector, generator, scorer).")
    ray_gpus: float = _f(0.0, "Ray: GPUs given to each generator actor (0 on CPU; 1 for vLLM or a CUDA model).")

    def __post_init__(self) -> None:
        # The format names are checked against the writer registry (data/writers) when the run starts:
        # the registry sits above this module.
        if self.shard_size < 1:
            raise ConfigError("shard_size must be at least 1")


@dataclass(frozen=True)
class RunConfig(CaptionConfig):
    """Everything ``groundcap run`` needs: the captioning settings plus the ``output`` section."""

    output: OutputConfig = field(default_factory=OutputConfig)


@dataclass(frozen=True)
class TrainLLMConfig:
    backend: str = _f("peft", "peft (CPU or GPU, transformers + trl) or unsloth (CUDA only).")
    base_model: str = _f("", "Model to tune; empty: the embedded SmolLM2 for peft, "
                             "unsloth/llama-3-8b-Instruct-bnb-4bit for unsloth.")
    template: str = _f("alpaca", "Prompt format the model learns: alpaca (prompt-completion) or chat (messages).")
    epochs: float = _f(2.0, "Passes over the training split.")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: run the epochs).")
    learning_rate: float = _f(3e-4, "Peak learning rate (linear warm-up, cosine decay).")
    warmup_ratio: float = _f(0.05, "Share of steps spent warming up.")
    batch_size: int = _f(8, "Examples per optimizer step (per device).")
    grad_accum: int = _f(1, "Gradient accumulation steps.")
    max_length: int = _f(320, "Longest tokenized example; longer ones are truncated.")
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA alpha.")
    lora_dropout: float = _f(0.05, "LoRA dropout.")
    target_modules: tuple[str, ...] = _f(("q_proj", "k_proj", "v_proj", "o_proj"), "Modules that get adapters.")
    references: str = _f("each", "How the built train rows become examples: every row as its own example (each, "
                                 "the shipped adapter's recipe; on an `each` build that is every reference: 5x the "
                                 "steps of sample), or one row per image whose reference is drawn anew each epoch "
                                 "(sample). Not build-sft's --references, which decides the rows built.")
    seed: int = _f(0, "Seed for data order, dropout and sampling.")
    save_steps: int = _f(50, "Checkpoint every this many steps (resume picks up the last one).")
    eval_steps: int = _f(0, "Validation loss every this many steps (0: once per epoch).")
    export: str = _f("adapter", "GPU (unsloth) export: adapter, merged (16-bit weights) or gguf.")
    device: str = _f("auto", "cpu, cuda or auto.")

    def __post_init__(self) -> None:
        if self.backend not in ("peft", "unsloth"):
            raise ConfigError(f"backend must be peft or unsloth, got {self.backend!r}")
        if self.template not in ("alpaca", "chat"):
            raise ConfigError(f"train-llm templates are alpaca or chat, got {self.template!r}")
        if self.references not in ("each", "sample"):
            raise ConfigError(f"references must be each or sample, got {self.references!r}")


@dataclass(frozen=True)
class TrainClipConfig:
    model: str = _f(IMAGE_TEXT.model,
                    "Model to train: embedded (heads over frozen EfficientNet-Lite3 and MiniLM features) "
                    "or an open_clip architecture (ViT-B-32, open_clip:RN50, ...).")
    pretrained: str = _f(IMAGE_TEXT.pretrained,
                         "open_clip starting weights: a pretrained tag (downloads once) or a checkpoint file.")
    checkpoint: str = _f(IMAGE_TEXT.checkpoint,
                         "A train-clip output folder to start from (instead of the shipped or pretrained weights).")
    init: str = _f("pretrained", "pretrained: start from the shipped heads / --pretrained / --checkpoint; "
                                 "scratch: start from random weights.")
    epochs: int = _f(20, "Passes over the (image, caption) pairs.")
    batch_size: int = _f(128, "Pairs per step; the other pairs of a batch are the negatives.")
    learning_rate: float = _f(1e-3, "Peak learning rate (AdamW). About 1e-3 for embedded heads, 1e-5 for "
                                    "fine-tuning a whole pretrained open_clip model.")
    weight_decay: float = _f(0.1, "AdamW weight decay (not applied to biases, norms and the logit scale).")
    warmup_ratio: float = _f(0.1, "Share of steps spent warming up linearly.")
    schedule: str = _f("cosine", "Learning-rate schedule after warm-up: cosine (decay to 0) or constant.")
    lock_image: bool = _f(False, "Freeze the image side (open_clip: lock_image_tower; embedded: the image head).")
    lock_text: bool = _f(False, "Freeze the text side (open_clip: lock_text_tower; embedded: the text head).")
    wise_ft: float = _f(1.0, "WiSE-FT: save (1-a)*start + a*trained weights; 1 keeps the trained weights, "
                             "0 the starting ones.")
    embed_dim: int = _f(256, "embedded, init scratch: width of the shared embedding space.")
    hidden_dim: int = _f(0, "embedded, init scratch: hidden width of each head's MLP; 0 for a linear head.")
    dropout: float = _f(0.5, "embedded, init scratch: dropout on the frozen features entering each head.")
    seed: int = _f(0, "Seed of initialisation, batch order and augmentation.")
    device: str = _f(IMAGE_TEXT.device, "cpu, cuda or auto.")
    amp: bool = _f(True, "Mixed precision on CUDA (bf16 where supported, else fp16); ignored on the CPU.")
    workers: int = _f(0, "open_clip: processes decoding images (0: in the main process).")
    cache_dir: str = _f("", "embedded: folder caching the frozen features ('' = $GROUNDCAP_CACHE/features or "
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


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Converts a YAML/CLI value to a field's declared type, with a clear error."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(args[0], v, where) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"{where}: expected true/false, got {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    return value


def merge(cfg: Any, overrides: Mapping[str, Any], _where: str = "") -> Any:
    """Returns a copy of ``cfg`` with nested ``overrides`` applied and type-checked.

    Raises:
        ValueError: on an unknown key or a value of the wrong type.
    """
    hints = typing.get_type_hints(type(cfg))
    names = {f.name for f in dataclasses.fields(cfg)}
    changes = {}
    for key, value in overrides.items():
        where = f"{_where}{key}"
        if key not in names:
            raise ValueError(f"unknown config key {where!r}; expected one of {sorted(names)}")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}: expected a mapping of settings, got {value!r}")
            changes[key] = merge(current, value, where + ".")
        else:
            changes[key] = _coerce(hints[key], value, where)
    return dataclasses.replace(cfg, **changes)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Config as plain JSON-ready data."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(cfg: Any) -> str:
    """Short stable hash of a config, for cache keys."""
    blob = json.dumps(to_dict(cfg), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Reads a YAML (or JSON) mapping of config overrides."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping, got {type(data).__name__}")
    return data

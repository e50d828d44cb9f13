"""Settings of captioning: prompt, generation, ranking, retrieval, and a run's outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from groundcap.config.facts import FactsConfig
from groundcap.config.fields import setting
from groundcap.config.image_text import IMAGE_TEXT, ImageTextConfig
from groundcap.errors import ConfigError

__all__ = ["PromptConfig", "DTYPES", "DECODINGS", "GenerateConfig", "RerankConfig", "RetrieveConfig",
           "CaptionConfig", "OutputConfig", "RunConfig"]


@dataclass(frozen=True)
class PromptConfig:
    template: str = setting("alpaca", "Prompt template: alpaca, chat, metadata, or a path to a JSON template.")
    style: str = setting("short", "Caption length: short (one sentence) or detailed (two or three).")
    few_shot: int = setting(0, "Example (facts, caption) pairs put into the prompt (needs --examples).")
    examples: Optional[str] = setting(None, "captions.jsonl whose train split supplies few-shot examples.")
    context_labels: bool = setting(False, "Put the classifier's context labels into the prompt.")
    prior: Optional[str] = setting(None, "A prior caption to merge with the facts (also read from IMAGE.txt sidecars).")

    def __post_init__(self) -> None:
        if self.few_shot > 0 and not self.examples:
            raise ConfigError("few_shot needs examples: pass --examples captions.jsonl (its train split is used)")


#: Weight types of local language models (``GenerateConfig.dtype``).
DTYPES = ("auto", "float32", "bfloat16", "float16", "int8")
#: Decoding loops of the hf generator (``GenerateConfig.decoding``).
DECODINGS = ("lean", "generate")


@dataclass(frozen=True)
class GenerateConfig:
    generator: str = setting("hf", "Caption generator: hf, openai, vllm or template.")
    model: str = setting("", "Model id or local path; empty picks the generator's default (hf: the embedded SmolLM2-135M-Instruct).")
    adapter: str = setting("auto", "LoRA adapter: auto (the embedded Flickr8k-tuned adapter on the embedded SmolLM2), "
                      "embedded, none, or a peft adapter folder (e.g. from train-llm).")
    n: int = setting(16, "Candidates per image: the greedy decode plus n-1 samples (16 scored +2.4 CIDEr-D over 5 "
                      "on Flickr8k-224 dev, at about 1.7x the time; see docs/quality.md).")
    max_new_tokens: int = setting(40, "Longest answer, in tokens.")
    temperature: float = setting(0.7, "Sampling temperature for the non-greedy candidates.")
    top_p: float = setting(0.9, "Nucleus sampling for the non-greedy candidates.")
    seed: int = setting(0, "Sampling seed: the same seed gives the same candidates.")
    batch_size: int = setting(16, "Prompts per forward pass (left-padded).")
    device: str = setting("cpu", "Device for local models (cpu, cuda, auto).")
    dtype: str = setting("auto", "Weights and compute type of local models: auto (bfloat16 where the device computes it "
                            "natively: a CPU with AMX or AVX512-BF16, a CUDA GPU with bf16; float32 elsewhere), "
                            "float32, bfloat16, float16, or int8 (CPU: linear layers in dynamic int8 but the MLP's "
                            "output projection; for CPUs with VNNI: CIDEr-D -0.7 [-6.1, +4.6] on mini test there, "
                            "-5.6 [-11.2, -0.6] on an AVX2-only CPU; see docs/performance.md).")
    decoding: str = setting("lean", "hf decoding loop: lean (one prefill per prompt, exact top-p without a vocabulary "
                               "sort, finished rows leave the batch) or generate (transformers' model.generate).")
    share_head: bool = setting(True, "hf lean loop: prefill the prompt start that all prompts of a batch share once, "
                                 "and keep it for later calls, one-photo calls included (the same rows in float32, "
                                 "captions as good in bfloat16).")
    share_prompt: bool = setting(True, "hf lean loop, Llama models: decode a prompt's n rows against one copy of its "
                                   "keys and values instead of n copies (the same rows; less memory read per step).")
    prefill_group: int = setting(4, "hf lean loop: prefill a batch's prompts this many at a time in order of length, "
                                  "each group padded only to its own longest (0: the whole batch padded at once).")
    trust_remote_code: bool = setting(False, "Allow a hub model to run its own code (off unless you trust it).")
    base_url: str = setting("https://api.openai.com/v1", "OpenAI-compatible endpoint for the openai generator.")
    api_key_env: str = setting("OPENAI_API_KEY", "Environment variable (or .env entry) holding the API key.")
    requests_per_minute: float = setting(60.0, "Client-side rate limit for the openai generator.")
    max_retries: int = setting(4, "Retries on 429/5xx/timeouts, with exponential backoff honouring Retry-After.")
    timeout: float = setting(30.0, "Seconds before one request is abandoned.")
    concurrency: int = setting(4, "Requests in flight at once (openai generator).")

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be at least 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.prefill_group < 0:
            raise ConfigError(f"prefill_group must be 0 or more, got {self.prefill_group}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be at least 0, got {self.temperature}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.dtype == "int8" and self.device != "cpu":
            raise ConfigError(f"dtype int8 runs on the CPU only, got device {self.device!r}")
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
class RerankConfig:
    scorers: tuple[str, ...] = setting(("grounding", "clip", "cider"),
                                  "Scorers that rank candidates (comma separated): grounding, clip, cider, consensus, "
                                  "logprob.")
    weights: tuple[float, ...] = setting((0.3, 0.1, 1.0), "Weight of each scorer in the combined score. The default "
                                    "(tuned on half of Flickr8k-224 dev): CIDEr-D against the captions of the "
                                    "retrieved photos (cider, about 0 to 3) chooses, the grounding check (in [-1, 1]) "
                                    "keeps out what the facts contradict, and CLIP breaks near-ties.")
    clip_model: str = setting(IMAGE_TEXT.model,
                         "Image-text model of the clip scorer: embedded (offline: EfficientNet-Lite3 + "
                         "MiniLM with trained heads), or an open_clip architecture such as ViT-B-32.")
    clip_pretrained: str = setting(IMAGE_TEXT.pretrained,
                              "open_clip weights for the clip scorer: a pretrained tag (openai, laion2b_s34b_b79k; "
                              "downloads once) or a checkpoint file; empty for none.")
    clip_checkpoint: str = setting(IMAGE_TEXT.checkpoint,
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
    datastore: str = setting("embedded", "Caption datastore whose nearest photos' captions join the prompt and the "
                                    "ranking: embedded (Flickr8k-224 train, shipped), none, or a `groundcap "
                                    "datastore build` folder.")
    neighbours: int = setting(5, "Nearest datastore photos whose captions the prompt shows.")
    rank_neighbours: int = setting(15, "Nearest datastore photos whose captions the ranking compares candidates "
                                       "with (cider and consensus scorers); at least `neighbours` are retrieved.")

    def __post_init__(self) -> None:
        if not self.datastore:
            raise ConfigError("datastore must be embedded, none or a folder")
        if not 1 <= self.neighbours <= 100:
            raise ConfigError(f"neighbours must be between 1 and 100, got {self.neighbours}")
        if not 1 <= self.rank_neighbours <= 100:
            raise ConfigError(f"rank_neighbours must be between 1 and 100, got {self.rank_neighbours}")

    @property
    def retrieved(self) -> int:
        """Photos retrieved per image: enough for the prompt and the ranking."""
        return max(self.neighbours, self.rank_neighbours)


@dataclass(frozen=True)
class CaptionConfig:
    facts: FactsConfig = field(default_factory=FactsConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    retrieve: RetrieveConfig = field(default_factory=RetrieveConfig)


@dataclass(frozen=True)
class OutputConfig:
    formats: tuple[str, ...] = setting(("parquet", "webdataset", "csv"),
                                  "Outputs (comma separated): parquet (always), webdataset (tar shards + sizes.json), "
                                  "csv (open_clip's filepath/title TSV), hf (datasets save_to_disk), imagefolder "
                                  "(images/ + metadata.jsonl), sidecar (images/ with a .txt per image).")
    shard_size: int = setting(128, "Images per shard; a stopped run loses at most the shard in progress.")
    engine: str = setting("local", "local (threads on this machine) or ray (Ray Data; see --ray-address).")
    workers: int = setting(4, "Threads reading and decoding images (local engine).")
    queue: int = setting(2, "Batches decoded and measured ahead of the LLM (bounds memory).")
    limit: Optional[int] = setting(None, "Caption only the first N images of the input.")
    path_column: Optional[str] = setting(None, "Manifest column holding image paths (default: path, image, filepath, ...).")
    caption_column: Optional[str] = setting(None, "Manifest column holding prior captions (default: caption, text, ...).")
    progress: bool = setting(True, "Show a progress bar with images/s and an ETA.")
    ray_address: str = setting("", "Ray cluster to join (ray://host:10001 or auto); empty starts a local Ray.")
    ray_actors: int = setting(1, "Ray: actors per stage (detector, generator, scorer).")
    ray_gpus: float = setting(0.0, "Ray: GPUs given to each generator actor (0 on CPU; 1 for vLLM or a CUDA model).")
    heap_mmap_mb: float = setting(1.0, "Linux (glibc): blocks of at least this many MB are mapped from the OS and "
                                       "given back when freed, so a long run's resident memory stays flat; 0 keeps "
                                       "glibc's adaptive threshold (local engine and Ray actors).")

    def __post_init__(self) -> None:
        # The format names are checked against the writer registry (data/writers) when the run starts:
        # the registry sits above this module.
        if self.shard_size < 1:
            raise ConfigError("shard_size must be at least 1")
        if not 0.0 <= self.heap_mmap_mb <= 32.0:
            raise ConfigError(f"heap_mmap_mb must be between 0 and 32, got {self.heap_mmap_mb}")


@dataclass(frozen=True)
class RunConfig(CaptionConfig):
    """Everything ``groundcap run`` needs: the captioning settings plus the ``output`` section."""

    output: OutputConfig = field(default_factory=OutputConfig)



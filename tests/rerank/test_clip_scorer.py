"""ClipScorer: the CLIPScore formula, one text pass per image, the image cache, and registry options."""

from __future__ import annotations

import numpy as np
import pytest

from groundcap.records import Candidate, Facts, ImageInfo
from groundcap.rerank import LogprobScorer, create_scorer, list_scorers, rank
from groundcap.rerank.clip import CLIPSCORE_WEIGHT, ClipScorer
from groundcap.rerank.models import ImageTextModel


class FakeModel(ImageTextModel):
    """Images embed to a fixed unit vector; texts to fixed vectors by their first word; counts calls."""

    name = "fake"
    dim = 3
    IMAGE = np.array([1.0, 0.0, 0.0], np.float32)
    WORDS = {"dog": [0.8, 0.6, 0.0], "cat": [0.3, 0.0, 0.9539392], "car": [-0.6, 0.8, 0.0]}

    def __init__(self):
        self.image_calls = 0
        self.text_batches: list[list[str]] = []

    def embed_images(self, images):
        self.image_calls += 1
        return np.stack([self.IMAGE for _ in images])

    def embed_texts(self, texts):
        self.text_batches.append(list(texts))
        out = np.array([self.WORDS[t.split()[0]] for t in texts], np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _facts(sha: str = "a" * 64) -> Facts:
    return Facts(ImageInfo(40, 30, sha))


IMAGE = np.zeros((30, 40, 3), np.uint8)
CANDIDATES = [Candidate("dog on grass", logprob=-1.0), Candidate("", status="empty"),
              Candidate("cat asleep", logprob=-0.5), Candidate("car parked", status="fallback")]


def test_registered_and_options_reach_the_factory():
    assert "clip" in list_scorers()
    fake = FakeModel()
    scorer = create_scorer("clip", model=fake)
    assert isinstance(scorer, ClipScorer) and scorer.model is fake and scorer.name == "clip"


def test_clipscore_is_w_times_positive_cosine():
    fake = FakeModel()
    scores = ClipScorer(fake).score(IMAGE, _facts(), CANDIDATES)
    texts = fake.embed_texts(["dog", "cat", "car"])
    cos = texts @ fake.IMAGE
    assert scores[0] == pytest.approx(CLIPSCORE_WEIGHT * cos[0]) == pytest.approx(2.0)
    assert scores[2] == pytest.approx(CLIPSCORE_WEIGHT * cos[1]) == pytest.approx(0.75)
    assert cos[2] < 0 and scores[3] == 0.0  # negative cosine clips to 0; fallback candidates are scored
    assert scores[1] is None


def test_one_text_pass_per_image_with_every_usable_candidate():
    fake = FakeModel()
    ClipScorer(fake).score(IMAGE, _facts(), CANDIDATES)
    assert fake.text_batches == [["dog on grass", "cat asleep", "car parked"]]


def test_image_cache_hit_on_the_second_call():
    fake = FakeModel()
    scorer = ClipScorer(fake, cache_size=2)
    first = scorer.score(IMAGE, _facts("a" * 64), CANDIDATES)
    second = scorer.score(IMAGE, _facts("a" * 64), CANDIDATES)
    assert first == second
    assert fake.image_calls == 1 and (scorer.cache_hits, scorer.cache_misses) == (1, 1)
    scorer.score(IMAGE, _facts("b" * 64), CANDIDATES)
    scorer.score(IMAGE, _facts("c" * 64), CANDIDATES)  # evicts "a": the cache holds two
    scorer.score(IMAGE, _facts("a" * 64), CANDIDATES)
    assert fake.image_calls == 4 and len(scorer._images) == 2


def test_no_image_or_nothing_usable_gives_none_without_running_the_model():
    fake = FakeModel()
    scorer = ClipScorer(fake)
    assert scorer.score(None, _facts(), CANDIDATES) == [None] * 4
    assert scorer.score(IMAGE, _facts(), [Candidate("", status="empty")]) == [None]
    assert scorer.score(IMAGE, _facts(), []) == []
    assert fake.image_calls == 0 and fake.text_batches == []


def test_model_loads_lazily_once(monkeypatch):
    import groundcap.rerank.clip as clip_mod

    calls = []
    monkeypatch.setattr(clip_mod, "create_image_text_model",
                        lambda name, **kw: calls.append((name, kw)) or FakeModel())
    scorer = ClipScorer("open_clip:ViT-B-32", pretrained="", checkpoint="", device="cpu")
    assert calls == []
    scorer.score(IMAGE, _facts(), CANDIDATES)
    scorer.score(IMAGE, _facts(), CANDIDATES)
    assert calls == [("open_clip:ViT-B-32", {"pretrained": None, "checkpoint": None, "device": "cpu"})]


def test_rank_with_clip_and_logprob():
    ranked = rank(CANDIDATES, [ClipScorer(FakeModel()), LogprobScorer()], [1.0, 0.1], IMAGE, _facts())
    assert [c.text for c in ranked][:2] == ["dog on grass", "cat asleep"]
    assert ranked[0].scores["clip"] == pytest.approx(2.0)

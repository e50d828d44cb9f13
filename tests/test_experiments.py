"""The closed-loop-at-scale experiment's own parts: the split, the caption sets, the hits, the bootstrap."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from groundcap.data.captioned import CaptionedImage
from groundcap.data.run_shards import write_parquet_atomic
from groundcap.eval.retrieval import recall_at_k
from groundcap.records import Detection, Facts, ImageInfo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def loop():
    spec = importlib.util.spec_from_file_location("closed_loop_scale", ROOT / "experiments" / "closed_loop_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _items(n, root=Path("/x")):
    return [CaptionedImage(root / f"{i:03d}.jpg", tuple(f"ref {i} {j}" for j in range(5)), "train") for i in range(n)]


def test_split_is_seeded_disjoint_and_complete(loop):
    items = _items(50)
    a, b = loop.split_train(items, 10, seed=0, b_limit=None)
    a2, b2 = loop.split_train(list(reversed(items)), 10, seed=0, b_limit=None)
    assert [it.path for it in a] == [it.path for it in a2]  # the draw ignores the input order
    assert len(a) == 10 and len(b) == 40
    assert not {it.path for it in a} & {it.path for it in b}
    assert loop.split_train(items, 10, seed=1, b_limit=None)[0] != a
    assert len(loop.split_train(items, 10, seed=0, b_limit=5)[1]) == 5


def _cand(text, grounding, clip, greedy=False, status="ok"):
    return {"text": text, "greedy": greedy, "status": status,
            "scores": {"grounding": grounding, "clip": clip, "logprob": -1.0}}


def test_caption_sets_from_a_run(loop, tmp_path):
    items = _items(3, tmp_path)
    facts = Facts(ImageInfo(640, 480, "0"), (Detection("dog", "dog_1", (0, 0, 90, 90), 0.9, (640, 480)),))
    rows = [
        # chosen: sampled, grounded, high CLIP; the greedy one is shorter; one vetoed candidate
        {"path": str(items[0].path), "status": "ok", "caption": "A dog runs on the wet grass.",
         "candidates": json.dumps([_cand("A dog runs on the wet grass.", 1.0, 0.9),
                                   _cand("A dog runs.", 1.0, 0.5, greedy=True),
                                   _cand("A man and a dog.", -0.3, 0.8),
                                   _cand("A dog runs.", 1.0, 0.5)]),
         "facts": json.dumps(facts.to_dict())},
        # chosen caption has a low CLIP score: filtered out
        {"path": str(items[1].path), "status": "ok", "caption": "A dog sits.",
         "candidates": json.dumps([_cand("A dog sits.", 1.0, 0.1, greedy=True)]),
         "facts": json.dumps(facts.to_dict())},
        # a failed image keeps only its human caption
        {"path": str(items[2].path), "status": "error", "caption": "", "candidates": "[]", "facts": ""},
    ]
    (tmp_path / "shards").mkdir()
    write_parquet_atomic(rows, tmp_path / "shards" / "00000.parquet")
    sets, info = loop.caption_sets(tmp_path, items, 0.5, loop.read_candidates(tmp_path))
    assert sets["first"][0] == (items[0].path, "A dog runs.")
    assert sets["reranked"] == [(items[0].path, "A dog runs on the wet grass."), (items[1].path, "A dog sits.")]
    assert [c for _, c in sets["human"]] == ["ref 0 0", "ref 1 0", "ref 2 0"]
    assert sets["template"][0][1] and len(sets["template"]) == 2
    assert [p for p, _ in sets["filtered"]] == [items[0].path]  # CLIP 0.1 is below the median
    strict, _ = loop.caption_sets(tmp_path, items, 0.0, loop.read_candidates(tmp_path), strict_quantile=0.5)
    assert len(strict["filtered"]) == 2 and [p for p, _ in strict["filtered strict"]] == [items[0].path]
    assert sorted(c for p, c in sets["several"] if p == items[0].path) == ["A dog runs on the wet grass.",
                                                                          "A dog runs."]
    assert sets["short"][0] == (items[0].path, "A dog runs.")
    assert info["_statuses"] == {"ok": 2, "error": 1}


def test_dev_hits_agree_with_recall_at_k(loop, tmp_path):
    from groundcap.rerank.lit import HEADS_FILE, LitHeads, save_heads

    rng = np.random.default_rng(0)
    save_heads(LitHeads(1280, 384), tmp_path / HEADS_FILE)
    pool = object.__new__(loop.DevPool)
    pool.owner = np.repeat(np.arange(12), 5)
    pool.img = rng.normal(size=(12, 1280)).astype(np.float32)
    pool.txt = (pool.img[pool.owner, :384] + rng.normal(size=(60, 384))).astype(np.float32)
    hits = pool.hits(tmp_path)
    from groundcap.rerank.lit import EmbeddedModel, load_heads

    model = EmbeddedModel(load_heads(tmp_path / HEADS_FILE))
    ref = recall_at_k(model.embed_image_features(pool.img), model.embed_text_features(pool.txt), pool.owner)
    for k, v in loop.recall(hits).items():
        assert v == pytest.approx(ref[k], abs=0.01)


def test_bootstrap_interval_holds_the_statistic(loop):
    rng = np.random.default_rng(1)
    a, b = rng.random(300), rng.random(300) * 0.5
    stat, lo, hi = loop.bootstrap(lambda x, y: x.mean() - y.mean(), [a, b], n=500)
    assert lo < stat < hi and lo > 0  # a's mean is about 0.5, b's 0.25
    assert loop.bootstrap(lambda x, y: x.mean() - y.mean(), [a, b], n=500) == (stat, lo, hi)


def test_stage_runs_once_and_stops_at_until(loop, tmp_path):
    log, times, done = tmp_path / "log.txt", {}, tmp_path / "done"
    loop._stage("make", done, ["touch", str(done)], log, times)
    assert done.exists() and "make" in times
    times.clear()
    loop._stage("make", done, ["false"], log, times)  # skipped: its output is there
    assert times == {}
    with pytest.raises(loop._Stop):
        loop._stage("make", done, ["false"], log, times, until="make")
    with pytest.raises(SystemExit, match="exit code 1"):
        loop._stage("fail", tmp_path / "never", ["false"], log, times)


@pytest.mark.models
def test_ranked_again_and_retrieved(loop, flickr_dir, tmp_path):
    import shutil

    from groundcap.datastore import build_datastore

    rows = [json.loads(line) for line in (flickr_dir / "captions.jsonl").read_text().splitlines()[:4]]
    (tmp_path / "A" / "images").mkdir(parents=True)
    for row in rows[:3]:
        shutil.copy(flickr_dir / row["image"], tmp_path / "A" / row["image"])
    lines = [json.dumps({**r, "split": "train"}) + "\n" for r in rows[:3]]
    (tmp_path / "A" / "captions.jsonl").write_text("".join(lines))
    build_datastore(tmp_path / "A", tmp_path / "ds", split="train", feature_cache=tmp_path / "f")
    b = [CaptionedImage(flickr_dir / rows[3]["image"], tuple(rows[3]["captions"]), "train"),
         CaptionedImage(flickr_dir / rows[0]["image"], tuple(rows[0]["captions"]), "train")]
    a_caption = rows[0]["captions"][0]
    candidates = {
        # the invented one agrees word for word with a retrieved caption, but grounding outweighs that
        b[0].path.name: json.dumps([_cand(a_caption, -1.0, 0.9), _cand("A photo of something.", 1.0, 0.1),
                                    _cand("Another photo.", 0.2, 0.1, status="garbage")]),
        # equal grounding and CLIP: the candidate that agrees with the retrieved captions wins
        b[1].path.name: json.dumps([_cand("Words that share nothing.", 1.0, 0.5), _cand(a_caption, 1.0, 0.5)]),
    }
    ranked, copied = loop.ranked_again_and_retrieved(b, candidates, tmp_path / "ds", k=3)
    assert ranked == [(b[0].path, "A photo of something."), (b[1].path, a_caption)]
    assert [p for p, _ in copied] == [b[0].path, b[1].path]
    a_captions = {c for r in rows[:3] for c in r["captions"]}
    assert all(c in a_captions for _, c in copied)  # copied from A, never written

"""Caption metrics: pycocoevalcap scores, CHAIR, the human noise floor, the table.

Java starts once per tokenizer call (~0.4 s) and METEOR loads its paraphrase
table per call (~6 s), so METEOR runs only in the ``scored`` fixture and the
real-data noise floor; the other calls pass ``meteor=False``.
"""

from __future__ import annotations

import shutil
from contextlib import nullcontext as does_not_raise

import pytest

pytest.importorskip("pycocoevalcap")

from groundcap.data.captioned import read_captions_jsonl, select  # noqa: E402
from groundcap.eval import caption_metrics as C  # noqa: E402
from groundcap.eval.caption_metrics import caption_metrics, chair, human_noise_floor, score_table  # noqa: E402

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is not on PATH")

REFS = {
    "dog": ["A brown dog runs through the grass .", "A dog is running on a green lawn .",
            "A puppy runs across a grassy field .", "The brown dog is running outside .",
            "A dog running in the grass ."],
    "beach": ["Two children play in the sand at the beach .", "Kids are building a sandcastle by the ocean .",
              "Two young kids dig in the sand near the water .", "Children playing on a sandy beach .",
              "Two kids play on the beach ."],
    "bike": ["A man rides a bike down a dirt trail .", "A cyclist rides through the woods .",
             "A person on a mountain bike on a trail .", "A man is riding his bicycle on a path in the forest .",
             "A biker goes down a hill ."],
    "snow": ["A skier skis down a snowy mountain .", "A person skiing down a slope .",
             "A man in a red jacket skis in the snow .", "Someone skiing on fresh snow .",
             "A skier on a white mountain ."],
    "street": ["A woman walks down a busy city street .", "People walking on a sidewalk in the city .",
               "A lady crosses a crowded street .", "A woman in a black coat walks on the street .",
               "Pedestrians on a city street ."],
    "kitchen": ["A man cooks food in a kitchen .", "A chef is cooking at the stove .",
                "A man stands at a stove cooking dinner .", "Someone preparing a meal in the kitchen .",
                "A person cooking in a small kitchen ."],
}

# One of each kind: a reference verbatim, nonsense, empty, a line break inside, plain good ones.
MIXED = {
    "dog": "A brown dog runs through the grass .",
    "beach": "Purple quantum spreadsheets negotiate tax law",
    "bike": "",
    "snow": "A skier goes\ndown a snowy mountain .",
    "street": "A woman walks down the street .",
    "kitchen": "A man is cooking in a kitchen .",
}

# (id, better caption, worse caption): each pair differs on one image, with the rest fixed.
BETTER_WORSE = [
    ("dog", "A brown dog is running on the grass .", "An animal is outside ."),
    ("beach", "Two kids play in the sand on the beach .", "Two people stand near a car ."),
    ("bike", "A man rides a bike on a dirt trail .", "A man is standing ."),
    ("snow", "A person skiing down a snowy mountain .", "A person in a red jacket ."),
    ("street", "A woman walks down a busy city street .", "A woman sits on a bench in a park ."),
    ("kitchen", "A man is cooking in the kitchen .", "Someone holds a phone ."),
]


@pytest.fixture(scope="module")
def scored():
    return caption_metrics(MIXED, REFS, per_image=True)


@pytest.fixture(scope="module")
def better_worse():
    better = {k: b for k, b, _ in BETTER_WORSE}
    worse = {k: w for k, _, w in BETTER_WORSE}
    return caption_metrics(better, REFS, meteor=False, per_image=True), \
        caption_metrics(worse, REFS, meteor=False, per_image=True)


@needs_java
def test_result_keys_and_ranges(scored):
    assert scored["tokenizer"] == "ptb" and scored["n_images"] == len(REFS)
    for metric in C.METRICS:
        assert 0 <= scored[metric] <= 1000, metric  # CIDEr-D ×100 may exceed 100; the others may not
        assert set(scored["per_image"]["dog"]) == set(C.METRICS)
    assert all(0 <= scored[m] <= 100 for m in ("BLEU-4", "METEOR", "ROUGE-L"))


@needs_java
@pytest.mark.parametrize("image, metric, low, high", [
    ("dog", "BLEU-4", 90, 100.01),  # verbatim reference
    ("dog", "ROUGE-L", 99.9, 100.01),
    ("dog", "METEOR", 50, 100.01),
    ("dog", "CIDEr-D", 100, 1000),
    ("beach", "BLEU-4", 0, 1),  # nonsense
    ("beach", "ROUGE-L", 0, 1),
    ("beach", "METEOR", 0, 5),
    ("beach", "CIDEr-D", 0, 1),
    ("bike", "BLEU-4", 0, 0.01),  # empty: scored, 0, and METEOR did not hang
    ("bike", "ROUGE-L", 0, 0.01),
    ("bike", "METEOR", 0, 0.01),
    ("bike", "CIDEr-D", 0, 0.01),
    ("snow", "ROUGE-L", 50, 100.01),  # the line break did not split the caption
    ("snow", "METEOR", 20, 100.01),
])
def test_per_image_scores(scored, image, metric, low, high):
    assert low <= scored["per_image"][image][metric] < high


@needs_java
@pytest.mark.parametrize("image", [k for k, _, _ in BETTER_WORSE])
@pytest.mark.parametrize("metric", ["CIDEr-D", "BLEU-4", "ROUGE-L"])
def test_better_caption_scores_higher(better_worse, image, metric):
    better, worse = better_worse
    assert better["per_image"][image][metric] > worse["per_image"][image][metric]


@needs_java
@pytest.mark.parametrize("metric", ["CIDEr-D", "BLEU-4", "ROUGE-L"])
def test_better_set_scores_higher(better_worse, metric):
    better, worse = better_worse
    assert better[metric] > worse[metric]


@pytest.mark.parametrize("score", [caption_metrics, chair])
@pytest.mark.parametrize("predictions, references, expectation", [
    ({"a": "x"}, {"a": ["x"], "b": ["y"]}, pytest.raises(ValueError, match="no prediction.*'b'")),
    ({"a": "x", "c": "z"}, {"a": ["x"]}, pytest.raises(ValueError, match="no references.*'c'")),
    ({"a": ["x", "y"]}, {"a": ["x"]}, pytest.raises(ValueError, match="exactly one caption")),
    ({"a": "x"}, {"a": []}, pytest.raises(ValueError, match="no reference captions")),
    ({}, {}, pytest.raises(ValueError, match="no captions")),
])
def test_bad_ids_and_shapes(score, predictions, references, expectation):
    with expectation:
        score(predictions, references)


@pytest.mark.parametrize("predictions, expectation", [
    ({"a": ["A dog"]}, does_not_raise()),  # a one-caption list is one caption
    ({"a": "A dog"}, does_not_raise()),
    ({"a": ("A dog", "A cat")}, pytest.raises(ValueError)),
])
def test_one_caption_per_id(predictions, expectation):
    with expectation:
        assert chair(predictions, {"a": ["A dog ."]})["n_captions"] == 1


@pytest.mark.parametrize("caption, references, hallucinated, chair_i, chair_s", [
    ("A dog and a cat play .", ["A cat sleeps .", "A kitten on a sofa ."], ["dog"], 50.0, 100.0),
    ("A puppy runs .", ["A dog runs on grass ."], [], 0.0, 0.0),  # synonym in the caption
    ("A dog runs .", ["A puppy runs .", "A brown animal ."], [], 0.0, 0.0),  # synonym in a reference
    ("A man rides a horse .", ["A woman on a horse ."], [], 0.0, 0.0),  # man and woman are both person
    ("A boy throws a frisbee to a dog .", ["A child plays on the grass ."], ["dog", "frisbee"], 200 / 3, 100.0),
    ("A sunset over the sea .", ["A dog on the beach ."], [], 0.0, 0.0),  # nothing named, nothing invented
    ("", ["A dog ."], [], 0.0, 0.0),
    ("Dogs and dogs and a puppy .", ["A cat ."], ["dog"], 100.0, 100.0),  # a class counts once per caption
])
def test_chair_one_image(caption, references, hallucinated, chair_i, chair_s):
    r = chair({"x": caption}, {"x": references})
    assert r["hallucinated"].get("x", []) == hallucinated
    assert r["CHAIR_i"] == pytest.approx(chair_i) and r["CHAIR_s"] == pytest.approx(chair_s)


def test_chair_counts_over_a_set():
    r = chair({"a": "A dog and a cat .", "b": "A man on a bike .", "c": "A field ."},
              {"a": ["A dog ."], "b": ["A person rides a bicycle ."], "c": ["A dog in a field ."]})
    assert (r["n_captions"], r["n_mentions"], r["n_hallucinated"], r["n_captions_hallucinated"]) == (3, 4, 1, 1)
    assert r["hallucinated_by_class"] == {"cat": 1}
    assert r["CHAIR_i"] == pytest.approx(25.0) and r["CHAIR_s"] == pytest.approx(100 / 3)


@needs_java
def test_noise_floor_choice_of_held_out_caption():
    first = human_noise_floor(REFS, seed=None, meteor=False)
    assert set(first["held_out"].values()) == {0}
    seeded = human_noise_floor(REFS, seed=7, meteor=False)
    # drawn per image: the same image gets the same choice in a smaller set
    subset = {k: REFS[k] for k in ("dog", "snow", "kitchen")}
    assert human_noise_floor(subset, seed=7, meteor=False)["held_out"] == {k: seeded["held_out"][k] for k in subset}
    assert {"CHAIR_i", "CHAIR_s", *C.METRICS} <= set(seeded)


def test_noise_floor_needs_two_captions():
    with pytest.raises(ValueError, match="fewer than two"):
        human_noise_floor({"a": ["A dog ."], "b": ["A cat .", "A kitten ."]})


@needs_java
def test_python_tokenizer_fallback_without_java(scored, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.warns(RuntimeWarning) as caught:
        r = caption_metrics(MIXED, REFS)
    assert r["tokenizer"] == "python" and r["METEOR"] is None
    assert any("METEOR" in str(w.message) for w in caught)
    for metric in ("CIDEr-D", "BLEU-4", "ROUGE-L"):  # the imitation tokenizes these captions as Java does
        assert r[metric] == pytest.approx(scored[metric]), metric


@needs_java
def test_meteor_timeout_gives_none_not_a_hang():
    with pytest.warns(RuntimeWarning, match="METEOR not computed"):
        assert C._meteor(shutil.which("java"), ["a dog"], [["a dog runs"]], timeout=0.5) is None


@pytest.mark.parametrize("rows, expected_row", [
    ({"ours": {"CIDEr-D": 85.04, "BLEU-4": 21, "METEOR": 24.56, "ROUGE-L": 50.0, "CHAIR_i": 3.0, "CHAIR_s": 4.0}},
     "| ours | 85.0 | 21.0 | 24.6 | 50.0 | 3.0 | 4.0 |"),
    ({"no meteor": {"CIDEr-D": 85.0, "METEOR": None, "CHAIR_s": float("nan")}},
     "| no meteor | 85.0 | — | — | — | — | — |"),
    ({"a|b": {"tokenizer": "ptb"}}, "| a/b | — | — | — | — | — | — |"),
])
def test_score_table(rows, expected_row):
    lines = score_table(rows).splitlines()
    assert lines[0] == "| name | CIDEr-D | BLEU-4 | METEOR | ROUGE-L | CHAIR_i | CHAIR_s |"
    assert lines[2] == expected_row


@pytest.fixture(scope="module")
def flickr_test_refs(flickr_dir):
    items = select(read_captions_jsonl(flickr_dir / "captions.jsonl"), "test")
    return {it.path.name: list(it.captions) for it in items}


@pytest.mark.models
@needs_java
def test_python_tokenizer_matches_java_on_flickr(flickr_test_refs):
    caps = [c for cs in flickr_test_refs.values() for c in cs]
    java, _ = C._tokenize(caps, shutil.which("java"), timeout=120)
    punct = frozenset(__import__("pycocoevalcap.tokenizer.ptbtokenizer", fromlist=["x"]).PUNCTUATIONS)
    same = sum(j == C._simple_ptb_tokenize(c, punct) for c, j in zip(caps, java))
    assert same / len(caps) > 0.98


@pytest.mark.models
@needs_java
def test_human_noise_floor_on_flickr_test(flickr_test_refs):
    assert len(flickr_test_refs) == 50
    r = human_noise_floor(flickr_test_refs, seed=0)
    print("\n" + score_table({"human (held-out vs 4 refs, Flickr8k test 50)": r}))
    assert 40 < r["CIDEr-D"] < 150
    assert 10 < r["BLEU-4"] < 40 and 15 < r["METEOR"] < 40 and 40 < r["ROUGE-L"] < 65
    assert r["CHAIR_i"] < 15 and r["n_mentions"] > 0

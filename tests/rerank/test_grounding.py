"""Judging caption claims against hand-built facts, and the grounding scorer in rank().

Boxes live in a 1000x800 image (diagonal 1281 px): "next to" needs a gap under
0.08 x 1281 = 102 px and "far from" centers over 0.55 x 1281 = 704 px apart.
"""

from __future__ import annotations

import pytest

from groundcap.config import RerankConfig, SpatialConfig
from groundcap.records import (
    Candidate, ContextLabel, Detection, Facts, ImageInfo, NamedColor, ObjectColor, Relation, Scene, SceneCue,
)
from groundcap.rerank import LogprobScorer, Scorer, create_scorer, create_scorers, list_scorers, rank
from groundcap.rerank.grounding import GroundingScorer, check_claims, grounding_score

SIZE = (1000, 800)
RGB = {"black": (20, 20, 20), "white": (240, 240, 240), "dark gray": (70, 70, 70), "dark red": (128, 0, 0),
       "red": (200, 20, 20), "brown": (140, 80, 30), "blue": (30, 60, 200)}


def det(instance_id: str, box) -> Detection:
    return Detection(instance_id.rpartition("_")[0], instance_id, box, 0.9, SIZE)


def colored(instance_id: str, *basics: str) -> ObjectColor:
    return ObjectColor(instance_id, tuple(NamedColor(RGB[b], b, b, 0.5) for b in basics))


def facts(*dets: Detection, colors=(), relations=(), scene=Scene(), context=()) -> Facts:
    return Facts(ImageInfo(*SIZE, "0" * 64), dets, colors, (), relations, scene, context)


MAN = det("person_1", (100, 200, 300, 750))  # left half, tall
DOG = det("dog_1", (600, 400, 800, 700))  # right of the man, 300 px gap
DOG_LEFT = det("dog_1", (0, 500, 90, 700))  # left of the man
DOG_FAR = det("dog_1", (850, 0, 1000, 150))  # top right corner, 828 px from the man's center
HORSE = det("horse_1", (50, 450, 400, 780))  # under the man
PEOPLE = [det(f"person_{i}", (100 + 250 * i, 200, 250 + 250 * i, 700)) for i in range(3)]


def day(confidence: float) -> Scene:
    return Scene(time_of_day=SceneCue("day", confidence))


@pytest.mark.parametrize(
    "caption, image, expected",
    [
        # objects
        ("A dog.", facts(DOG), [("object", "A dog", "supported")]),
        ("A cat.", facts(DOG), [("object", "A cat", "contradicted")]),
        ("A cat.", facts(DOG, context=(ContextLabel("Persian cat", 0.4),)), [("object", "A cat", "unverifiable")]),
        ("A man.", facts(MAN), [("object", "A man", "supported")]),
        ("A puppy.", facts(DOG), [("object", "A puppy", "supported")]),
        ("A man.", facts(), [("object", "A man", "contradicted")]),
        # counts: exact numbers, vague plurals, and "a" before a larger count
        ("Two dogs.", facts(DOG), [("object", "Two dogs", "supported"), ("count", "Two dogs", "contradicted")]),
        ("Three people.", facts(*PEOPLE), [("object", "Three people", "supported"),
                                           ("count", "Three people", "supported")]),
        ("Two people.", facts(*PEOPLE), [("object", "Two people", "supported"),
                                         ("count", "Two people", "contradicted")]),
        ("A group of people.", facts(MAN), [("object", "A group of people", "supported"),
                                            ("count", "A group of people", "unverifiable")]),
        ("A group of people.", facts(*PEOPLE), [("object", "A group of people", "supported"),
                                                ("count", "A group of people", "supported")]),
        ("A man.", facts(*PEOPLE), [("object", "A man", "supported")]),
        ("A lone man.", facts(*PEOPLE), [("object", "A lone man", "supported"), ("count", "A lone man", "contradicted")]),
        ("Two cats.", facts(DOG), [("object", "Two cats", "contradicted"), ("count", "Two cats", "unverifiable")]),
        # counts add up every mention of a class: two men and a woman are three people (the zidane sample)
        ("Two men and a woman.", facts(*PEOPLE[:2]), [("object", "Two men", "supported"),
                                                      ("count", "Two men and a woman", "contradicted")]),
        ("Two men and a woman.", facts(*PEOPLE), [("object", "Two men", "supported"),
                                                  ("count", "Two men and a woman", "supported")]),
        ("A woman and her two children.", facts(*PEOPLE), [("object", "A woman", "supported"),
                                                           ("count", "A woman and her two children", "supported")]),
        ("People watch a man.", facts(*PEOPLE[:2]), [("object", "People", "supported"),
                                                     ("count", "People watch a man", "unverifiable")]),
        ("People watch a man.", facts(*PEOPLE), [("object", "People", "supported"),
                                                 ("count", "People watch a man", "supported")]),
        # ... and a definite mention of the same noun names someone already counted
        ("Two men talk and the men laugh.", facts(*PEOPLE[:2]), [("object", "Two men", "supported"),
                                                                 ("count", "Two men", "supported")]),
        # colors: same family, a far family, a near family, and nothing measured
        ("A black dog.", facts(DOG, colors=(colored("dog_1", "black"),)),
         [("object", "A black dog", "supported"), ("color", "black dog", "supported")]),
        ("A black dog.", facts(DOG, colors=(colored("dog_1", "white"),)),
         [("object", "A black dog", "supported"), ("color", "black dog", "contradicted")]),
        ("A black dog.", facts(DOG, colors=(colored("dog_1", "dark gray"),)),
         [("object", "A black dog", "supported"), ("color", "black dog", "supported")]),
        ("A red car.", facts(det("car_1", (0, 0, 500, 400)), colors=(colored("car_1", "dark red"),)),
         [("object", "A red car", "supported"), ("color", "red car", "supported")]),
        ("A maroon car.", facts(det("car_1", (0, 0, 500, 400)), colors=(colored("car_1", "red"),)),
         [("object", "A maroon car", "supported"), ("color", "maroon car", "supported")]),
        ("A red car.", facts(det("car_1", (0, 0, 500, 400)), colors=(colored("car_1", "brown"),)),
         [("object", "A red car", "supported"), ("color", "red car", "unverifiable")]),
        ("A black dog.", facts(DOG), [("object", "A black dog", "supported"), ("color", "black dog", "unverifiable")]),
        ("A man in a blue shirt.", facts(MAN, colors=(colored("person_1", "white", "blue"),)),
         [("object", "A man", "supported"), ("color", "man in a blue shirt", "supported")]),
        # relations: from the boxes, and from the facts' own relations
        ("A man to the left of a dog.", facts(MAN, DOG),
         [("object", "A man", "supported"), ("relation", "A man to the left of a dog", "supported"),
          ("object", "a dog", "supported")]),
        ("A man to the left of a dog.", facts(MAN, DOG_LEFT),
         [("object", "A man", "supported"), ("relation", "A man to the left of a dog", "contradicted"),
          ("object", "a dog", "supported")]),
        ("A dog next to a man.", facts(MAN, DOG_FAR),
         [("object", "A dog", "supported"), ("relation", "A dog next to a man", "contradicted"),
          ("object", "a man", "supported")]),
        ("A man riding a horse.", facts(MAN, HORSE),
         [("object", "A man", "supported"), ("relation", "A man riding a horse", "supported"),
          ("object", "a horse", "supported")]),
        ("A dog behind a man.", facts(MAN, DOG, relations=(Relation("person_1", "in front of", "dog_1"),)),
         [("object", "A dog", "supported"), ("relation", "A dog behind a man", "supported"),
          ("object", "a man", "supported")]),
        ("A man next to a cat.", facts(MAN),
         [("object", "A man", "supported"), ("relation", "A man next to a cat", "unverifiable"),
          ("object", "a cat", "contradicted")]),
        # the setting, against confident and unsure cues
        ("A dog at night.", facts(DOG, scene=day(0.8)), [("object", "A dog", "supported"), ("scene", "night", "contradicted")]),
        ("A dog at night.", facts(DOG, scene=day(0.3)), [("object", "A dog", "supported"), ("scene", "night", "unverifiable")]),
        ("A dog at night.", facts(DOG, scene=Scene(time_of_day=SceneCue("night", 0.7))),
         [("object", "A dog", "supported"), ("scene", "night", "supported")]),
        ("A man indoors.", facts(MAN, scene=Scene(location=SceneCue("outdoor", 0.9))),
         [("object", "A man", "supported"), ("scene", "indoors", "contradicted")]),
        ("A dog on the beach.", facts(DOG, scene=Scene(location=SceneCue("outdoor", 0.9), place=SceneCue("water", 0.6))),
         [("object", "A dog", "supported"), ("scene", "beach", "supported")]),
        ("A dog on the beach.", facts(DOG, scene=Scene(location=SceneCue("indoor", 0.9))),
         [("object", "A dog", "supported"), ("scene", "beach", "contradicted")]),
        # nothing to check
        ("An old brick wall with peeling paint.", facts(DOG), []),
    ],
)
def test_check_claims(caption, image, expected):
    claims = check_claims(image, caption)
    assert [(c.kind, c.text, c.verdict) for c in claims] == expected
    assert all(c.evidence for c in claims)


@pytest.mark.parametrize(
    "caption, image, kind, subject, evidence",
    [
        ("A man to the left of a dog.", facts(MAN, DOG_LEFT), "relation", "person_1", "person_1 right of dog_1"),
        ("A black dog.", facts(DOG, colors=(colored("dog_1", "white"),)), "color", "dog_1", "measured white"),
        ("Two dogs.", facts(DOG), "count", "dog_1", "detected a dog: dog_1"),
        ("A cat.", facts(DOG), "object", "", "no cat detected"),
        ("A dog at night.", facts(DOG, scene=day(0.8)), "scene", "", "time of day: day (0.80)"),
    ],
)
def test_claims_carry_evidence(caption, image, kind, subject, evidence):
    claim = next(c for c in check_claims(image, caption) if c.kind == kind and c.verdict != "supported")
    assert claim.subject == subject
    assert evidence in claim.evidence


@pytest.mark.parametrize(
    "caption, score",
    [
        ("A dog.", 1.0),
        ("A cat.", -1.0),
        ("A dog and a cat.", -1 / 3),  # (1 - 2) / (1 + 2)
        ("A dog and a man and a cat.", 0.0),  # two right claims pay for one wrong one
        ("An old brick wall.", 0.0),  # nothing checkable
        ("A dog and a man.", 1.0),
    ],
)
def test_grounding_score(caption, score):
    image = facts(MAN, DOG)
    assert grounding_score(check_claims(image, caption)) == pytest.approx(score)
    assert GroundingScorer().score(None, image, [Candidate(caption)]) == [pytest.approx(score)]


def test_unusable_candidates_get_none_and_no_claims():
    cands = [Candidate("A dog."), Candidate("", "empty"), Candidate("A cat.", "garbage")]
    scores, claims = GroundingScorer().score_with_claims(None, facts(DOG), cands)
    assert scores == [1.0, None, None]
    assert [len(c) for c in claims] == [1, 0, 0]


def test_rank_attaches_claims_and_orders_by_grounding():
    cands = [Candidate("A cat and a horse."), Candidate("", "empty"), Candidate("A dog next to a man.")]
    ranked = rank(cands, [GroundingScorer()], [1.0], None, facts(MAN, DOG))
    assert [c.text for c in ranked] == ["A dog next to a man.", "A cat and a horse.", ""]
    assert [c.scores.get("grounding") for c in ranked] == [1.0, -1.0, None]
    assert [c.verdict for c in ranked[0].claims] == ["supported", "unverifiable", "supported"]
    assert [c.verdict for c in ranked[1].claims] == ["contradicted", "contradicted"]
    assert ranked[2].claims == ()


class CountingScorer(GroundingScorer):
    calls = 0

    def score_with_claims(self, image, facts, candidates):
        CountingScorer.calls += 1
        return super().score_with_claims(image, facts, candidates)

    def score(self, image, facts, candidates):
        raise AssertionError("rank must get scores and claims from one call")


def test_rank_calls_a_claims_scorer_once_and_combines_weights():
    cands = [Candidate("A cat.", logprob=-0.1), Candidate("A dog.", logprob=-0.9)]
    ranked = rank(cands, [LogprobScorer(), CountingScorer()], [1.0, 1.0], None, facts(DOG))
    assert CountingScorer.calls == 1
    assert [(c.text, c.total) for c in ranked] == [("A dog.", pytest.approx(0.1)), ("A cat.", pytest.approx(-1.1))]


def test_rank_without_a_claims_scorer_keeps_claims():
    kept = check_claims(facts(DOG), "A dog.")
    ranked = rank([Candidate("A dog.", logprob=-0.5, claims=kept)], [LogprobScorer()], [1.0], None, facts(DOG))
    assert ranked[0].claims == kept


def test_scorer_default_reads_no_claims():
    class Constant(Scorer):
        name = "constant"

        def score(self, image, facts, candidates):
            return [1.0] * len(candidates)

    assert Constant().score_with_claims(None, facts(), [Candidate("A dog.")]) == ([1.0], None)


def test_relations_are_judged_by_the_facts_spatial_thresholds():
    """--facts.spatial.near reaches the claim check: a 300 px gap is "next to" at near=0.3 (384 px), not at 0.08."""
    image, candidates = facts(MAN, DOG), [Candidate("A man next to a dog.")]
    rerank = RerankConfig(scorers=("grounding",), weights=(1.0,))
    verdicts = {}
    for near in (0.08, 0.3):
        (scorer,) = create_scorers(rerank, SpatialConfig(near=near))
        _, (claims,) = scorer.score_with_claims(None, image, candidates)
        verdicts[near] = [c.verdict for c in claims if c.kind == "relation"]
    assert verdicts == {0.08: ["unverifiable"], 0.3: ["supported"]}


def test_registry_creates_the_grounding_scorer():
    assert "grounding" in list_scorers()
    assert isinstance(create_scorer("grounding"), GroundingScorer)


@pytest.mark.parametrize("options", [{"contradiction_weight": 0}, {"min_scene_confidence": 1.5}])
def test_scorer_options_validate(options):
    with pytest.raises(ValueError):
        GroundingScorer(**options)

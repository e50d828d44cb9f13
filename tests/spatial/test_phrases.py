from __future__ import annotations

import random
import re
from contextlib import nullcontext as does_not_raise

import pytest

from groundcap.config import SpatialConfig
from groundcap.detect.coco import COCO80
from groundcap.records import PREDICATES, Detection, Relation
from groundcap.spatial import display_names, relation_sentence, relations_between
from groundcap.spatial.phrases import TEMPLATES

SIZE = (640, 480)
# Three or more single characters separated by spaces: the mark of " ".join(a_string).
SPACED_OUT = re.compile(r"\b\w \w \w\b")


def det(instance_id: str, box, size=SIZE) -> Detection:
    return Detection(instance_id.rpartition("_")[0], instance_id, box, 0.9, size)


NAMES = {"dog_1": "the dog", "person_1": "the person", "horse_1": "the horse",
         "cup_1": "the cup", "laptop_1": "the laptop"}


def test_every_predicate_has_a_template():
    assert set(TEMPLATES) == set(PREDICATES)


@pytest.mark.parametrize("relation, names, expected, expectation", [
    pytest.param(Relation("dog_1", "left of", "person_1"), NAMES,
                 "the dog is to the left of the person", does_not_raise(), id="left-of"),
    pytest.param(Relation("dog_1", "right of", "person_1"), NAMES,
                 "the dog is to the right of the person", does_not_raise(), id="right-of"),
    pytest.param(Relation("dog_1", "above", "person_1"), NAMES,
                 "the dog is above the person", does_not_raise(), id="above"),
    pytest.param(Relation("dog_1", "below", "person_1"), NAMES,
                 "the dog is below the person", does_not_raise(), id="below"),
    pytest.param(Relation("person_1", "on top of", "horse_1"), NAMES,
                 "the person is on top of the horse", does_not_raise(), id="on-top-of"),
    pytest.param(Relation("cup_1", "next to", "laptop_1"), NAMES,
                 "the cup is next to the laptop", does_not_raise(), id="next-to"),
    pytest.param(Relation("dog_1", "overlapping", "person_1"), NAMES,
                 "the dog overlaps the person", does_not_raise(), id="overlapping"),
    pytest.param(Relation("cup_1", "inside", "laptop_1"), NAMES,
                 "the cup is inside the laptop", does_not_raise(), id="inside"),
    pytest.param(Relation("person_1", "in front of", "horse_1"), NAMES,
                 "the person is in front of the horse", does_not_raise(), id="in-front-of"),
    pytest.param(Relation("dog_1", "far from", "person_1"), NAMES,
                 "the dog is far from the person", does_not_raise(), id="far-from"),
    pytest.param(Relation("dog_1", "next to", "dog_2"), {"dog_1": "the dog", "dog_2": "the second dog"},
                 "the dog is next to the second dog", does_not_raise(), id="caller-names"),
    pytest.param(Relation("traffic light_2", "above", "car_1"), {},
                 "traffic light 2 is above car 1", does_not_raise(), id="unnamed-ids-spelled-out"),
    pytest.param(Relation("dog_1", "above", "cat_1"), {"dog_1": "  the dog ", "cat_1": "the cat"},
                 "the dog is above the cat", does_not_raise(), id="names-stripped"),
    pytest.param(Relation("dog_1", "above", "cat_1"), {"dog_1": ["the", "dog"], "cat_1": "the cat"},
                 None, pytest.raises(TypeError, match="dog_1"), id="list-name"),
    pytest.param(Relation("dog_1", "above", "cat_1"), {"dog_1": " ", "cat_1": "the cat"},
                 None, pytest.raises(TypeError, match="non-empty"), id="blank-name"),
])
def test_relation_sentence(relation, names, expected, expectation):
    with expectation:
        assert relation_sentence(relation, names) == expected


@pytest.mark.parametrize("detections, expected, expectation", [
    pytest.param([], {}, does_not_raise(), id="empty"),
    pytest.param([det("dog_1", (0, 0, 50, 50)), det("person_1", (100, 0, 150, 100))],
                 {"dog_1": "the dog", "person_1": "the person"}, does_not_raise(), id="one-each"),
    pytest.param([det("dog_2", (300, 0, 350, 50)), det("dog_1", (0, 10, 50, 60))],
                 {"dog_2": "the right dog", "dog_1": "the left dog"}, does_not_raise(),
                 id="two-side-by-side"),
    pytest.param([det("dog_1", (0, 0, 50, 50)), det("dog_2", (10, 300, 60, 350))],
                 {"dog_1": "dog 1", "dog_2": "dog 2"}, does_not_raise(), id="two-stacked"),
    pytest.param([det("cup_3", (400, 0, 450, 50)), det("cup_1", (0, 0, 50, 50)),
                  det("cup_2", (200, 0, 250, 50))],
                 {"cup_3": "cup 3", "cup_1": "cup 1", "cup_2": "cup 2"}, does_not_raise(),
                 id="three-numbered"),
    pytest.param([det("cup_1", (0, 0, 50, 50)), det("cup_4", (100, 0, 150, 50)),
                  det("cup_9", (200, 0, 250, 50))],
                 {"cup_1": "cup 1", "cup_4": "cup 2", "cup_9": "cup 3"}, does_not_raise(),
                 id="renumbered-without-gaps"),
    pytest.param([det("traffic light_1", (0, 0, 20, 50))], {"traffic light_1": "the traffic light"},
                 does_not_raise(), id="two-word-label"),
    pytest.param([det("skis_1", (0, 0, 20, 50)), det("skis_2", (100, 0, 120, 50))],
                 {"skis_1": "the left pair of skis", "skis_2": "the right pair of skis"},
                 does_not_raise(), id="plural-only-label"),
    pytest.param([det("dog_1", (0, 0, 50, 50)), det("dog_1", (100, 0, 150, 50))], None,
                 pytest.raises(ValueError, match="unique"), id="duplicate-ids"),
])
def test_display_names(detections, expected, expectation):
    with expectation:
        assert display_names(detections) == expected


def _random_detections(rng: random.Random, n: int) -> list[Detection]:
    counters: dict[str, int] = {}
    dets = []
    for _ in range(n):
        label = rng.choice(COCO80[:12])  # few labels, so that repeats and numbering happen
        counters[label] = counters.get(label, 0) + 1
        w, h = rng.randint(8, 300), rng.randint(8, 300)
        x, y = rng.randint(0, SIZE[0] - w), rng.randint(0, SIZE[1] - h)
        dets.append(det(f"{label}_{counters[label]}", (x, y, x + w, y + h)))
    return dets


def _assert_clean(sentence: str) -> None:
    assert not SPACED_OUT.search(sentence), sentence
    assert "_" not in sentence, sentence
    assert "  " not in sentence and sentence == sentence.strip(), sentence


@pytest.mark.parametrize("seed", range(30))
def test_sentences_from_real_relations_are_clean(seed):
    rng = random.Random(seed)
    dets = _random_detections(rng, rng.randint(2, 15))
    names = display_names(dets)
    relations = relations_between(dets, SpatialConfig(max_relations=1000, min_area=0.0))
    assert relations
    for relation in relations:
        sentence = relation_sentence(relation, names)
        _assert_clean(sentence)
        assert names[relation.subject] in sentence and names[relation.object] in sentence


@pytest.mark.parametrize("seed", range(10))
def test_sentences_for_any_predicate_and_label_are_clean(seed):
    rng = random.Random(seed)
    for _ in range(200):
        a, b = rng.sample(COCO80, 2)
        relation = Relation(f"{a}_{rng.randint(1, 12)}", rng.choice(PREDICATES), f"{b}_{rng.randint(1, 12)}")
        named = {relation.subject: f"the {a}", relation.object: f"the {b}"}
        for names in (named, {}):  # display names, and the spelled-out fallback
            _assert_clean(relation_sentence(relation, names))


def test_the_check_catches_the_old_bug():
    assert SPACED_OUT.search(" ".join("dog_1 is left of person_1"))

"""Relations between hand-built boxes in a 1000x800 image (diagonal 1281 px).

With the default config, "next to" needs a gap under 0.08 x 1281 = 102 px and
"far from" a center distance over 0.55 x 1281 = 704 px.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from contextlib import nullcontext as does_not_raise

import pytest

from groundcap.config import SpatialConfig
from groundcap.records import PREDICATES, Detection, Relation
from groundcap.spatial import relations_between
from groundcap.spatial.relations import PRIORITY

SIZE = (1000, 800)


def det(instance_id: str, box, score: float = 0.9, size=SIZE) -> Detection:
    label = instance_id.rpartition("_")[0]
    return Detection(label, instance_id, box, score, size)


def scaled(d: Detection, k: float) -> Detection:
    return dataclasses.replace(
        d, box=tuple(v * k for v in d.box), image_size=(d.image_size[0] * k, d.image_size[1] * k)
    )


def triples(relations) -> list[tuple[str, str, str]]:
    return [r.triple for r in relations]


# Each predicate: a positive case and a near miss that falls to another predicate.
PAIRS = [
    pytest.param(det("cup_1", (420, 420, 480, 480)), det("microwave_1", (300, 300, 700, 600)),
                 ("cup_1", "inside", "microwave_1"), id="inside"),
    pytest.param(det("cup_1", (285, 400, 385, 500)), det("microwave_1", (300, 300, 700, 600)),
                 ("cup_1", "overlapping", "microwave_1"), id="inside-miss-85pct-within"),
    pytest.param(det("dog_1", (100, 100, 400, 400)), det("dog_2", (110, 110, 410, 410)),
                 ("dog_1", "overlapping", "dog_2"), id="inside-miss-same-size"),
    pytest.param(det("person_1", (420, 200, 560, 520)), det("horse_1", (300, 400, 700, 700)),
                 ("person_1", "on top of", "horse_1"), id="on-top-rider"),
    pytest.param(det("cat_1", (450, 330, 550, 410)), det("couch_1", (200, 400, 800, 700)),
                 ("cat_1", "on top of", "couch_1"), id="on-top-cat-couch"),
    pytest.param(det("dog_1", (300, 250, 500, 450)), det("bed_1", (100, 300, 700, 700)),
                 ("dog_1", "on top of", "bed_1"), id="on-top-dog-lying-on-bed"),
    pytest.param(det("person_1", (380, 100, 480, 500)), det("skateboard_1", (360, 490, 500, 540)),
                 ("person_1", "on top of", "skateboard_1"), id="on-top-larger-subject"),
    pytest.param(det("cat_1", (450, 300, 550, 392)), det("couch_1", (200, 400, 800, 700)),
                 ("cat_1", "on top of", "couch_1"), id="on-top-small-gap"),
    pytest.param(det("person_1", (420, 0, 560, 300)), det("horse_1", (300, 400, 700, 700)),
                 ("person_1", "above", "horse_1"), id="on-top-miss-floating"),
    pytest.param(det("cat_1", (720, 330, 820, 410)), det("couch_1", (200, 400, 750, 700)),
                 ("cat_1", "right of", "couch_1"), id="on-top-miss-overhanging"),
    pytest.param(det("person_1", (420, 200, 560, 600)), det("horse_1", (300, 400, 700, 700)),
                 ("person_1", "overlapping", "horse_1"), id="on-top-miss-sunk-too-deep"),
    pytest.param(det("person_1", (400, 300, 700, 790)), det("car_1", (150, 350, 550, 600)),
                 ("person_1", "in front of", "car_1"), id="in-front"),
    pytest.param(det("person_1", (400, 300, 500, 790)), det("car_1", (150, 350, 550, 600)),
                 ("person_1", "in front of", "car_1"), id="in-front-smaller-subject"),
    pytest.param(det("person_1", (500, 300, 600, 790)), det("car_1", (150, 350, 550, 600)),
                 ("person_1", "next to", "car_1"), id="in-front-miss-smaller-barely-over"),
    pytest.param(det("cup_1", (300, 200, 360, 280)), det("person_1", (200, 100, 500, 300)),
                 ("cup_1", "inside", "person_1"), id="in-front-miss-held-cup-not-lower"),
    pytest.param(det("dog_1", (50, 450, 250, 650)), det("bed_1", (100, 300, 700, 700)),
                 ("dog_1", "overlapping", "bed_1"), id="in-front-miss-object-mostly-within"),
    pytest.param(det("person_1", (450, 250, 800, 610)), det("car_1", (150, 350, 550, 600)),
                 ("car_1", "next to", "person_1"), id="in-front-miss-same-ground-line"),
    pytest.param(det("dog_1", (100, 100, 400, 400)), det("dog_2", (200, 150, 500, 450)),
                 ("dog_1", "overlapping", "dog_2"), id="overlapping"),
    pytest.param(det("dog_1", (100, 100, 400, 400)), det("cat_1", (370, 120, 670, 420)),
                 ("cat_1", "next to", "dog_1"), id="overlapping-miss-touching"),
    pytest.param(det("cup_1", (100, 400, 160, 480)), det("laptop_1", (200, 300, 500, 500)),
                 ("cup_1", "next to", "laptop_1"), id="next-to"),
    pytest.param(det("cup_1", (0, 400, 60, 480)), det("laptop_1", (200, 300, 500, 500)),
                 ("cup_1", "left of", "laptop_1"), id="next-to-miss-gap"),
    pytest.param(det("cup_1", (100, 200, 160, 260)), det("laptop_1", (200, 300, 500, 500)),
                 ("cup_1", "left of", "laptop_1"), id="next-to-miss-other-band"),
    pytest.param(det("bird_1", (10, 10, 60, 60)), det("dog_1", (900, 700, 980, 780)),
                 ("bird_1", "far from", "dog_1"), id="far-from"),
    pytest.param(det("bird_1", (100, 300, 150, 350)), det("dog_1", (740, 300, 820, 380)),
                 ("bird_1", "left of", "dog_1"), id="far-from-miss-650px"),
    pytest.param(det("cup_1", (100, 100, 150, 150)), det("laptop_1", (500, 100, 800, 300)),
                 ("cup_1", "left of", "laptop_1"), id="left-of"),
    pytest.param(det("cup_1", (850, 100, 900, 150)), det("laptop_1", (100, 100, 400, 300)),
                 ("cup_1", "right of", "laptop_1"), id="right-of"),
    pytest.param(det("kite_1", (400, 50, 450, 100)), det("person_1", (380, 500, 480, 780)),
                 ("kite_1", "above", "person_1"), id="above"),
    pytest.param(det("sports ball_1", (400, 700, 450, 750)), det("person_1", (380, 100, 480, 500)),
                 ("sports ball_1", "below", "person_1"), id="below"),
    pytest.param(det("sports ball_1", (490, 450, 540, 500)), det("person_1", (380, 100, 480, 500)),
                 ("sports ball_1", "next to", "person_1"), id="below-miss-beside-feet"),
    pytest.param(det("sports ball_1", (400, 510, 450, 560)), det("person_1", (380, 100, 480, 500)),
                 ("person_1", "on top of", "sports ball_1"), id="below-miss-stood-on"),
]


@pytest.mark.parametrize("a, b, expected", PAIRS)
def test_pair_relation(a, b, expected):
    assert triples(relations_between([a, b])) == [expected]
    assert triples(relations_between([b, a])) == [expected]


def test_every_predicate_is_covered_and_ranked():
    covered = {p.values[2][1] for p in PAIRS}
    assert covered == set(PREDICATES)
    assert sorted(PRIORITY) == sorted(PREDICATES)


@pytest.mark.parametrize("detections, expectation", [
    pytest.param([], does_not_raise(), id="empty"),
    pytest.param([det("dog_1", (0, 0, 100, 100))], does_not_raise(), id="single"),
    pytest.param([det("dog_1", (0, 0, 100, 100)), det("cat_1", (0, 0, 1, 1))], does_not_raise(),
                 id="other-below-min-area"),
    pytest.param([det("dog_1", (0, 0, 100, 100)), det("dog_1", (200, 0, 300, 100))],
                 pytest.raises(ValueError, match="unique"), id="duplicate-id"),
    pytest.param([det("dog_1", (0, 0, 100, 100)), det("cat_1", (200, 0, 300, 100), size=(500, 500))],
                 pytest.raises(ValueError, match="different sizes"), id="mixed-image-sizes"),
])
def test_no_relations_or_error(detections, expectation):
    with expectation:
        assert relations_between(detections) == ()


@pytest.mark.parametrize("side_px, takes_part", [
    pytest.param(40, True, id="2x-min-area"),  # 1600 / 800000 = 0.002
    pytest.param(39, False, id="just-under-min-area"),
])
def test_min_area(side_px, takes_part):
    small = det("cup_1", (100, 400, 100 + side_px, 400 + side_px))
    big = det("laptop_1", (200, 300, 500, 500))
    assert bool(relations_between([small, big])) is takes_part


def _random_scene(seed: int, n: int, size=SIZE) -> list[Detection]:
    rng = random.Random(seed)
    labels = ["person", "dog", "cup", "car", "traffic light", "horse", "chair"]
    counters: dict[str, int] = {}
    dets = []
    for _ in range(n):
        label = rng.choice(labels)
        counters[label] = counters.get(label, 0) + 1
        w, h = rng.randint(20, 400), rng.randint(20, 400)
        x, y = rng.randint(0, size[0] - w), rng.randint(0, size[1] - h)
        dets.append(Detection(label, f"{label}_{counters[label]}", (x, y, x + w, y + h),
                              round(rng.uniform(0.3, 1.0), 3), size))
    return dets


@pytest.mark.parametrize("seed", range(20))
def test_at_most_one_relation_per_pair_and_no_mirrors(seed):
    config = SpatialConfig(max_relations=1000)
    relations = relations_between(_random_scene(seed, 12), config)
    pairs = [frozenset((r.subject, r.object)) for r in relations]
    assert len(pairs) == len(set(pairs))
    assert all(r.predicate in PREDICATES for r in relations)


@pytest.mark.parametrize("seed", range(5))
def test_every_pair_above_min_area_gets_a_relation(seed):
    dets = _random_scene(seed, 10)
    kept = [d for d in dets if d.area_fraction >= SpatialConfig().min_area]
    relations = relations_between(dets, SpatialConfig(max_relations=1000))
    assert len(relations) == len(kept) * (len(kept) - 1) // 2


@pytest.mark.parametrize("max_relations, expected_len", [
    pytest.param(0, 0, id="zero"),
    pytest.param(3, 3, id="three"),
    pytest.param(6, 6, id="default"),
    pytest.param(100, 28, id="more-than-pairs"),  # 8 objects, 28 pairs
])
def test_cap_and_order(max_relations, expected_len):
    relations = relations_between(_random_scene(7, 8), SpatialConfig(max_relations=max_relations))
    assert len(relations) == expected_len
    keys = [(-r.salience, r.subject, r.object) for r in relations]
    assert keys == sorted(keys)


def test_cap_keeps_the_most_salient():
    everything = relations_between(_random_scene(3, 10), SpatialConfig(max_relations=1000))
    top = relations_between(_random_scene(3, 10), SpatialConfig(max_relations=4))
    assert top == everything[:4]


def test_equal_salience_ties_break_by_instance_id():
    # Four identical cups in a row: every neighbouring pair is equally salient.
    cups = [det(f"cup_{k}", (100 + 150 * k, 300, 200 + 150 * k, 400)) for k in (1, 2, 3, 4)]
    relations = relations_between(cups[::-1], SpatialConfig(max_relations=3))
    assert [r.triple for r in relations] == [
        ("cup_1", "next to", "cup_2"), ("cup_2", "next to", "cup_3"), ("cup_3", "next to", "cup_4"),
    ]


@pytest.mark.parametrize("a, b, c, d", [
    pytest.param(det("person_1", (100, 100, 300, 500)), det("dog_1", (320, 300, 520, 500)),
                 det("chair_1", (100, 100, 300, 500)), det("bench_1", (320, 300, 520, 500)),
                 id="people-and-animals-weigh-more"),
    pytest.param(det("cup_1", (100, 100, 300, 300), score=0.9), det("bowl_1", (320, 100, 520, 300)),
                 det("vase_1", (100, 100, 300, 300), score=0.5), det("book_1", (320, 100, 520, 300)),
                 id="surer-weighs-more"),
    pytest.param(det("cup_1", (100, 100, 300, 300)), det("bowl_1", (320, 100, 520, 300)),
                 det("vase_1", (100, 100, 200, 200)), det("book_1", (320, 100, 420, 200)),
                 id="larger-weighs-more"),
])
def test_salience_prefers(a, b, c, d):
    # Same layout for both pairs, placed in separate images so they cannot interact.
    [first] = relations_between([a, b])
    [second] = relations_between([c, d])
    assert first.salience > second.salience > 0


LAYOUT = [
    det("person_1", (420, 200, 560, 520)), det("horse_1", (300, 400, 700, 700)),
    det("dog_1", (720, 560, 860, 700)), det("cup_1", (20, 20, 60, 70)),
    det("car_1", (10, 500, 250, 700)), det("kite_1", (800, 30, 880, 110)),
]


@pytest.mark.parametrize("factor", [1, 3, 8])
def test_scale_invariance(factor):
    config = SpatialConfig(max_relations=100)
    base = relations_between(LAYOUT, config)
    big = relations_between([scaled(d, factor) for d in LAYOUT], config)
    assert triples(big) == triples(base)
    assert [r.salience for r in big] == pytest.approx([r.salience for r in base])
    if factor == 8:  # a power of two scales floats exactly, so everything is identical
        assert big == base


def test_deterministic_and_order_independent():
    first = relations_between(LAYOUT)
    for permutation in itertools.islice(itertools.permutations(LAYOUT), 0, 720, 37):
        assert relations_between(list(permutation)) == first
    assert relations_between(LAYOUT) == first


def test_near_and_far_follow_the_config():
    cup, laptop = det("cup_1", (0, 400, 60, 480)), det("laptop_1", (200, 300, 500, 500))  # gap 140 px
    assert triples(relations_between([cup, laptop])) == [("cup_1", "left of", "laptop_1")]
    wider = SpatialConfig(near=0.15)
    assert triples(relations_between([cup, laptop], wider)) == [("cup_1", "next to", "laptop_1")]
    assert triples(relations_between([cup, laptop], SpatialConfig(far=0.1))) == [
        ("cup_1", "far from", "laptop_1")
    ]


def test_returns_relations():
    relations = relations_between(LAYOUT)
    assert relations and all(isinstance(r, Relation) and isinstance(r.salience, float) for r in relations)

from __future__ import annotations

import re
from contextlib import nullcontext as does_not_raise

import pytest

from groundcap.detect.coco import COCO80
from groundcap.spatial import count_phrase, number_word, pluralize
from groundcap.spatial.counts import article, join_words

# Every COCO label whose plural is not the label plus "s".
IRREGULAR_PLURALS = {
    "person": "people",
    "bus": "buses",
    "knife": "knives",
    "mouse": "mice",
    "sheep": "sheep",
    "skis": "skis",
    "scissors": "scissors",
    "broccoli": "broccoli",
    "wine glass": "wine glasses",
    "couch": "couches",
    "sandwich": "sandwiches",
    "toothbrush": "toothbrushes",
    "bench": "benches",
}
# A few regular ones that naive rules get wrong.
REGULAR_PLURALS = {
    "tie": "ties",
    "cell phone": "cell phones",
    "sports ball": "sports balls",
    "hair drier": "hair driers",
    "teddy bear": "teddy bears",
    "traffic light": "traffic lights",
    "hot dog": "hot dogs",
    "tv": "tvs",
    "giraffe": "giraffes",
}
# Labels that read the same in the plural.
INVARIANT = {"sheep", "skis", "scissors", "broccoli"}


def test_coco_has_80_labels():
    assert len(COCO80) == len(set(COCO80)) == 80
    assert set(IRREGULAR_PLURALS) <= set(COCO80)
    assert set(REGULAR_PLURALS) <= set(COCO80)


@pytest.mark.parametrize("label", COCO80)
def test_every_coco_label_has_a_plural(label):
    plural = pluralize(label, 2)
    expected = IRREGULAR_PLURALS.get(label) or REGULAR_PLURALS.get(label) or label + "s"
    assert plural == expected
    assert (plural == label) is (label in INVARIANT)
    assert pluralize(label, 1) == label
    assert pluralize(label, 0) == plural
    assert "_" not in plural and "  " not in plural


@pytest.mark.parametrize("n, expected, expectation", [
    pytest.param(0, "zero", does_not_raise(), id="zero"),
    pytest.param(1, "one", does_not_raise(), id="one"),
    pytest.param(7, "seven", does_not_raise(), id="seven"),
    pytest.param(10, "ten", does_not_raise(), id="ten"),
    pytest.param(11, "11", does_not_raise(), id="eleven-as-digits"),
    pytest.param(120, "120", does_not_raise(), id="digits"),
    pytest.param(-1, None, pytest.raises(ValueError, match="negative"), id="negative"),
    pytest.param(2.0, None, pytest.raises(TypeError, match="int"), id="float"),
    pytest.param(True, None, pytest.raises(TypeError, match="int"), id="bool"),
    pytest.param("2", None, pytest.raises(TypeError, match="int"), id="string"),
])
def test_number_word(n, expected, expectation):
    with expectation:
        assert number_word(n) == expected


@pytest.mark.parametrize("phrase, expected", [
    pytest.param("umbrella", "an", id="umbrella"),
    pytest.param("orange", "an", id="orange"),
    pytest.param("apple", "an", id="apple"),
    pytest.param("elephant", "an", id="elephant"),
    pytest.param("oven", "an", id="oven"),
    pytest.param("airplane", "an", id="airplane"),
    pytest.param("person", "a", id="person"),
    pytest.param("hot dog", "a", id="hot-dog"),
    pytest.param("unicorn", "a", id="u-as-you"),
    pytest.param("hour", "an", id="silent-h"),
])
def test_article(phrase, expected):
    assert article(phrase) == expected


@pytest.mark.parametrize("counts, expected, expectation", [
    pytest.param({"dog": 2, "person": 1}, "two dogs and a person", does_not_raise(), id="brief-example"),
    pytest.param({"person": 1, "dog": 2}, "a person and two dogs", does_not_raise(), id="keeps-order"),
    pytest.param({"umbrella": 1}, "an umbrella", does_not_raise(), id="an-umbrella"),
    pytest.param({"orange": 1, "apple": 1}, "an orange and an apple", does_not_raise(), id="an-fruit"),
    pytest.param({"person": 12}, "12 people", does_not_raise(), id="digits-past-ten"),
    pytest.param({"person": 10}, "ten people", does_not_raise(), id="ten-in-words"),
    pytest.param({"car": 3, "bus": 2, "truck": 1}, "three cars, two buses and a truck", does_not_raise(),
                 id="three-items-no-oxford-comma"),
    pytest.param({"cup": 1, "fork": 1, "knife": 2, "wine glass": 4},
                 "a cup, a fork, two knives and four wine glasses", does_not_raise(), id="four-items"),
    pytest.param({"scissors": 1}, "a pair of scissors", does_not_raise(), id="pair-singular"),
    pytest.param({"skis": 3}, "three pairs of skis", does_not_raise(), id="pair-plural"),
    pytest.param({"broccoli": 2}, "two pieces of broccoli", does_not_raise(), id="mass-noun"),
    pytest.param({"sheep": 5, "mouse": 2}, "five sheep and two mice", does_not_raise(), id="irregular"),
    pytest.param({"dog": 0, "cat": 1}, "a cat", does_not_raise(), id="zero-left-out"),
    pytest.param({}, "", does_not_raise(), id="empty-mapping"),
    pytest.param([], "", does_not_raise(), id="empty-list"),
    pytest.param(["dog", "person", "dog"], "two dogs and a person", does_not_raise(), id="label-list"),
    pytest.param(("tie",), "a tie", does_not_raise(), id="label-tuple"),
    pytest.param("dog", None, pytest.raises(TypeError, match="string"), id="bare-string"),
    pytest.param({"dog": -1}, None, pytest.raises(ValueError, match="negative"), id="negative"),
    pytest.param({"dog": 1.5}, None, pytest.raises(TypeError, match="int"), id="float-count"),
    pytest.param({"dog": 0.0}, None, pytest.raises(TypeError, match="int"), id="float-zero"),
])
def test_count_phrase(counts, expected, expectation):
    with expectation:
        assert count_phrase(counts) == expected


@pytest.mark.parametrize("items, expected, expectation", [
    pytest.param([], "", does_not_raise(), id="none"),
    pytest.param(["a dog"], "a dog", does_not_raise(), id="one"),
    pytest.param(["a dog", "a cat"], "a dog and a cat", does_not_raise(), id="two"),
    pytest.param(["a", "b", "c"], "a, b and c", does_not_raise(), id="three"),
    pytest.param("dog", None, pytest.raises(TypeError, match="string"), id="string-not-list"),
])
def test_join_words(items, expected, expectation):
    with expectation:
        assert join_words(items) == expected


@pytest.mark.parametrize("n", [1, 2, 3, 11, 25])
def test_no_spaced_out_characters_for_any_label(n):
    text = count_phrase({label: n for label in COCO80})
    assert not re.search(r"\b\w \w \w\b", text)
    assert "_" not in text

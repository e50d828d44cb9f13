import pytest

from groundcap.detect.coco import COCO80
from groundcap.text.vocab import coco_synonyms, color_family, colors_attached, mentioned_classes, setting_votes


def test_synonym_table_covers_every_coco_class():
    assert set(coco_synonyms()) == set(COCO80)
    assert all(words for words in coco_synonyms().values())


@pytest.mark.parametrize("caption, expected", [
    ("A black dog runs on the grass .", {"dog"}),
    ("Two girls sit on a bench next to a bike", {"person", "bench", "bicycle"}),
    ("A man is flying a kite at the beach", {"person", "kite"}),
    ("A woman holds a cell phone near a traffic light", {"person", "cell phone", "traffic light"}),
    ("The sunset over the ocean", set()),
    ("An orange ball", {"sports ball"}),  # the color, not the fruit
    ("A hot dog stand", {"hot dog"}),  # the phrase wins over "dog"
])
def test_mentioned_classes(caption, expected):
    assert mentioned_classes(caption) == expected


@pytest.mark.parametrize("caption, expected", [
    ("A black and white dog", {"dog": {"black", "white"}}),
    ("A man in a red shirt", {"person": {"red"}}),
    ("A girl wearing a pink dress plays", {"person": {"pink"}}),
    ("A dog chases a red ball", {"sports ball": {"red"}}),
    ("A brown dog and a grey cat", {"dog": {"brown"}, "cat": {"gray"}}),
    ("A dog runs", {}),
])
def test_colors_attached(caption, expected):
    assert colors_attached(caption) == expected


@pytest.mark.parametrize("basic, family", [
    ("dark blue", {"blue"}), ("light gray", {"gray"}), ("tan", {"brown"}), ("teal", {"blue", "green"}),
])
def test_color_family(basic, family):
    assert color_family(basic) == family


def test_setting_votes_count_captions_not_words():
    caps = ["A dog in the snow on a snowy hill", "A dog outside", "A dog inside a room"]
    assert setting_votes(caps, ("outdoor", "indoor")) == {"outdoor": 2, "indoor": 1}


def test_dark_is_not_night():
    assert setting_votes(["A dark dog runs"], ("night",)) == {"night": 0}

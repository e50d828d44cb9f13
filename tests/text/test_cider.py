"""CIDEr-D as a similarity: the same numbers as pycocoevalcap's metric, with the idf of any caption corpus."""

from __future__ import annotations

import random

import pytest

from groundcap.text.cider import CiderCorpus, cider_words

REFS = [("A dog runs through the snow .", "A brown dog running in snow .", "The dog is in the snow ."),
        ("A man climbs a rock .", "A climber on a cliff face .", "A man rock climbing ."),
        ("Two children play on the beach .", "Kids playing in the sand .", "Two kids at the beach ."),
        ("A girl in a pink dress jumps .", "A little girl jumping .", "A girl jumps on a bed ."),
        ("A black dog swims in a lake .", "A dog swimming .", "A black dog in the water .")]


def test_words_are_lower_case_without_punctuation_and_split_clitics():
    assert cider_words("The DOG's ball, on a t-shirt!") == ("the", "dog", "'s", "ball", "on", "a", "t-shirt")
    assert cider_words("...") == ()


def test_matches_pycocoevalcap_per_image_when_the_corpus_is_the_references():
    from pycocoevalcap.cider.cider import Cider

    rng = random.Random(0)
    gts, res = {}, {}
    for i, caps in enumerate(REFS * 3):  # 15 images, some hypotheses copied from another image
        gts[i] = [" ".join(cider_words(c)) for c in caps]
        res[i] = [" ".join(cider_words(rng.choice(REFS)[rng.randrange(3)]))]
    _, each = Cider().compute_score(gts, res)
    corpus = CiderCorpus(gts.values())
    assert len(corpus) == 15
    assert [corpus.score(res[i][0], gts[i]) for i in gts] == pytest.approx(list(each), abs=1e-9)


def test_idf_weighs_rare_words_and_the_length_penalty_works():
    corpus = CiderCorpus(REFS)
    refs = REFS[0]
    on_topic = corpus.score("A dog runs through the snow", refs)
    assert on_topic > corpus.score("A man runs through the snow", refs) > corpus.score("A man on a beach", refs)
    padded = "A dog runs through the snow on a very cold and grey winter day near some old trees"
    assert corpus.score(padded, refs) < on_topic
    assert corpus.score("anything", []) == 0.0


def test_an_empty_corpus_weighs_every_ngram_alike():
    flat = CiderCorpus([])
    assert flat.score("a dog in the snow", ["a dog in the snow"]) == pytest.approx(10.0)
    assert 0 < flat.score("a dog in snow", ["a dog in the snow"]) < 10.0
    one = CiderCorpus([("a dog in the snow .",)])  # one photo: its n-grams must not all weigh 0
    assert one.score("a dog in the snow", ["a dog in the snow"]) == pytest.approx(10.0)

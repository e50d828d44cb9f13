"""Captions taken from the neighbours: the nearest one's and the consensus (Devlin et al. 2015)."""

from __future__ import annotations

import pytest

from groundcap.datastore.consensus import consensus_caption, consensus_scores, nearest_caption
from groundcap.records import Neighbour


def _n(key: str, sim: float, *captions: str) -> Neighbour:
    return Neighbour(key, captions, sim)


def test_consensus_picks_the_caption_the_other_photos_agree_with():
    near = [_n("odd", 0.95, "a red car parked in the snow ."),
            _n("a", 0.90, "a brown dog runs on the grass .", "a dog outside ."),
            _n("b", 0.85, "a brown dog running on grass ."),
            _n("c", 0.80, "two dogs run on the grass .")]
    assert nearest_caption(near) == "a red car parked in the snow ."
    assert consensus_caption(near) == "a brown dog runs on the grass ."


def test_own_photo_captions_do_not_vote_for_each_other():
    # "x" has two identical captions: compared with each other they would win; they must not be.
    near = [_n("x", 0.9, "a man on a bike .", "a man on a bike ."),
            _n("y", 0.8, "a woman sings on stage ."), _n("z", 0.7, "a woman singing on a stage .")]
    scores = dict(consensus_scores(near))
    assert scores["a man on a bike ."] < 0.2 < scores["a woman singing on a stage ."]  # 1.0 if they voted
    assert consensus_caption(near) == "a woman singing on a stage ."


def test_order_and_ties_follow_similarity_not_input_order():
    near = [_n("far", 0.2, "a cat ."), _n("close", 0.9, "a dog .")]
    assert nearest_caption(near) == "a dog ."
    assert consensus_caption(near) == "a dog ."  # both score 0: the nearer photo's caption wins


def test_a_single_neighbour_compares_its_own_captions():
    near = [_n("only", 0.9, "a girl jumps .", "a girl jumps into a pool .", "a boy sleeps .")]
    assert consensus_caption(near) == "a girl jumps ."


@pytest.mark.parametrize("fn", [nearest_caption, consensus_caption])
def test_no_neighbours_is_a_clear_error(fn):
    with pytest.raises(ValueError, match="no neighbours"):
        fn([])


def test_the_cider_agreement_weighs_the_rare_words_the_photos_share():
    from groundcap.datastore.baselines import memoised_agreement
    from groundcap.text.cider import CiderCorpus

    # Two photos share the corpus' commonest phrase; three share "skateboard", which the idf makes count.
    corpus = CiderCorpus([(f"a man is standing on the {w} .",) for w in ("beach", "grass", "street", "sand", "road",
                                                                         "hill", "bridge", "dock")]
                         + [("a boy on a skateboard .",)])
    near = [_n("a", 0.9, "a man is standing on the street ."), _n("b", 0.85, "a man is standing on the grass ."),
            _n("c", 0.8, "a boy rides a skateboard ."), _n("d", 0.75, "a skateboarder on a skateboard ."),
            _n("e", 0.7, "a boy on a skateboard .")]
    cider = memoised_agreement(corpus)
    assert cider("a b c", "x y") == cider("x y", "a b c") == 0.0
    assert consensus_caption(near) == "a man is standing on the street ."  # n-gram F1: the filler wins
    assert consensus_caption(near, cider) == "a boy on a skateboard ."

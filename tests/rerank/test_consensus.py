"""The consensus (minimum Bayes risk) scorer: agreement among an image's own candidates."""

from __future__ import annotations

import pytest

from groundcap.records import Candidate
from groundcap.rerank import create_scorer, rank
from groundcap.rerank.consensus import ConsensusScorer, ngram_agreement


@pytest.mark.parametrize("a, b, expected", [
    ("a dog on grass", "A dog on grass.", 1.0),
    ("a dog", "two cats", 0.0),
    ("", "a dog", 0.0),
    ("a dog runs", "a dog sits", (2 * 2 / 6 + 2 * 1 / 4) / 4),  # 2 of 3 unigrams, 1 of 2 bigrams shared
])
def test_ngram_agreement(a, b, expected):
    assert ngram_agreement(a, b) == pytest.approx(expected)
    assert ngram_agreement(b, a) == pytest.approx(expected)


def test_the_odd_one_out_ranks_last_and_unusable_get_none():
    cands = [Candidate("A red car parked in the snow."), Candidate("A dog runs on the grass."),
             Candidate("", "garbage"), Candidate("A brown dog runs on the grass."),
             Candidate("A dog running on grass.")]
    scores = ConsensusScorer().score(None, None, cands)
    assert scores[2] is None
    assert min(s for s in scores if s is not None) == scores[0]
    ranked = rank(cands, [create_scorer("consensus")], [1.0], None, None)
    assert ranked[0].text == "A dog runs on the grass." and ranked[-1].status == "garbage"
    assert ranked[-2].text.startswith("A red car")


def test_too_few_usable_candidates_give_no_scores():
    cands = [Candidate("A dog."), Candidate("A cat."), Candidate("", "empty")]
    assert ConsensusScorer().score(None, None, cands) == [None, None, None]
    assert ConsensusScorer(min_candidates=2).score(None, None, cands)[:2] == [0.125, 0.125]  # "a" shared: unigram F1 0.5, /4


def test_retrieved_captions_join_the_consensus():
    from groundcap.records import Neighbour


    cands = [Candidate("A dog runs on the grass."), Candidate("A dog runs through the snow."),
             Candidate("A dog plays on the grass.")]
    snow = (Neighbour("a.jpg", ("A dog runs through deep snow .", "A brown dog in the snow ."), 0.9),)
    scorer = ConsensusScorer()
    alone = scorer.score(None, None, cands)
    assert alone.index(max(alone)) != 1  # among themselves, the two grass captions agree most
    with_neighbours, _ = scorer.score_in_context(None, None, cands, snow)
    assert with_neighbours.index(max(with_neighbours)) == 1
    assert rank(cands, [scorer], [1.0], None, None, snow)[0].text == "A dog runs through the snow."
    assert ConsensusScorer(retrieved_weight=0.0).score_in_context(None, None, cands, snow)[0] == alone


def test_retrieved_captions_score_even_two_candidates():
    from groundcap.records import Neighbour

    two = [Candidate("A dog in snow."), Candidate("A cat on a sofa.")]
    assert ConsensusScorer().score(None, None, two) == [None, None]
    scores, _ = ConsensusScorer().score_in_context(None, None, two, (Neighbour("a", ("a dog in the snow",), 0.5),))
    assert scores[0] > 5 * scores[1]  # they share only "a"


def test_retrieved_weight_is_checked():
    with pytest.raises(ValueError, match="retrieved_weight"):
        ConsensusScorer(retrieved_weight=1.5)

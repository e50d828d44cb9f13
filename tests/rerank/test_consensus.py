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

"""The cider scorer: CIDEr-D of each candidate against the retrieved photos' captions."""

from __future__ import annotations

from groundcap.records import Candidate, Neighbour
from groundcap.rerank import create_scorer, create_scorers, rank
from groundcap.rerank.cider import CiderScorer
from groundcap.text.cider import CiderCorpus

CORPUS = [("A dog runs through the snow .", "A dog in the snow ."), ("A dog runs on the grass .", "A dog on grass ."),
          ("A man climbs a rock .", "A climber on a cliff ."), ("Two kids on a beach .", "Children in the sand .")]
SNOW = (Neighbour("a.jpg", ("A dog runs through deep snow .", "A brown dog in the snow ."), 0.9),
        Neighbour("b.jpg", ("Two dogs play in the snow .",), 0.7))


def test_the_candidate_the_neighbours_captions_support_wins():
    cands = [Candidate("A dog runs on the grass."), Candidate("A dog runs through the snow."),
             Candidate("", "empty"), Candidate("A dog plays on the grass.")]
    scorer = CiderScorer(CORPUS)
    scores, claims = scorer.score_in_context(None, None, cands, SNOW)
    assert claims is None and scores[2] is None
    assert scores.index(max(s for s in scores if s is not None)) == 1
    assert rank(cands, [scorer], [1.0], None, None, SNOW)[0].text == "A dog runs through the snow."
    # the number is CIDEr-D against the neighbours' captions under the corpus' idf
    refs = [c for n in SNOW for c in n.captions]
    assert scores[1] == CiderCorpus(CORPUS).score("A dog runs through the snow.", refs)


def test_without_neighbours_the_other_candidates_are_the_references():
    cands = [Candidate("A red car parked in the snow."), Candidate("A dog runs on the grass."),
             Candidate("A brown dog runs on the grass."), Candidate("A dog running on grass.")]
    scores = CiderScorer(CORPUS).score(None, None, cands)
    assert min(scores) == scores[0] and all(s is not None for s in scores)
    assert CiderScorer().score(None, None, cands[:2]) == [None, None]  # two candidates: no consensus
    assert CiderScorer().score_in_context(None, None, cands[:1], SNOW)[0][0] > 0  # but neighbours suffice


def test_the_registry_builds_it_with_the_datastore_corpus():
    from groundcap.config import RerankConfig

    assert create_scorer("cider").name == "cider"
    built = create_scorers(RerankConfig(), corpus=CORPUS)
    assert [s.name for s in built] == ["grounding", "clip", "cider"]
    assert len(built[2].corpus) == 4

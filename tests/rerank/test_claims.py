"""Reading claims out of captions, and the Claim record on a Candidate.

Each parse row is a caption and the statements expected from it, as
``(kind, text, label, value)`` plus the object label for relations.
"""

from __future__ import annotations

import json

import pytest

from groundcap.records import Candidate, CaptionResult, Claim, Facts, ImageInfo
from groundcap.rerank.claims import parse_claims


def parsed(caption: str) -> list[tuple[str, ...]]:
    return [(s.kind, s.text, s.label, s.value) + ((s.other,) if s.kind == "relation" else ())
            for s in parse_claims(caption)]


@pytest.mark.parametrize(
    "caption, expected",
    [
        # objects, through the synonym table
        ("A dog.", [("object", "A dog", "dog", "")]),
        ("A puppy sleeps.", [("object", "A puppy", "dog", "")]),
        ("A man.", [("object", "A man", "person", "")]),
        ("A dog and another dog.", [("object", "A dog", "dog", "")]),  # one object claim per label
        ("A black dog and a white dog.", [("object", "A black dog", "dog", ""), ("color", "black dog", "dog", "black"),
                                          ("color", "white dog", "dog", "white")]),
        ("A black dog meets a black dog.", [("object", "A black dog", "dog", ""),  # said twice, claimed once
                                            ("color", "black dog", "dog", "black")]),
        ("A hot dog.", [("object", "A hot dog", "hot dog", "")]),  # the longest phrase wins
        # counts: stated numbers, vague plurals, group words, explicit singles
        ("Two dogs.", [("object", "Two dogs", "dog", ""), ("count", "Two dogs", "dog", "2")]),
        ("3 cats.", [("object", "3 cats", "cat", ""), ("count", "3 cats", "cat", "3")]),
        ("Three people.", [("object", "Three people", "person", ""), ("count", "Three people", "person", "3")]),
        ("A group of people.", [("object", "A group of people", "person", ""),
                                ("count", "A group of people", "person", "2+")]),
        ("Dogs play.", [("object", "Dogs", "dog", ""), ("count", "Dogs", "dog", "2+")]),
        ("A crowd.", [("object", "A crowd", "person", ""), ("count", "A crowd", "person", "2+")]),
        ("A pair of shoes and a pair of skis.", [("object", "a pair of skis", "skis", "")]),  # skis come in pairs
        ("A lone skier.", [("object", "A lone skier", "person", ""), ("count", "A lone skier", "person", "1")]),
        ("Some sheep.", [("object", "Some sheep", "sheep", "")]),  # the noun does not say how many
        # colors before the noun, and after a person's noun (clothes)
        ("A black dog.", [("object", "A black dog", "dog", ""), ("color", "black dog", "dog", "black")]),
        ("A maroon car.", [("object", "A maroon car", "car", ""), ("color", "maroon car", "car", "red")]),
        ("A black and white cat.", [("object", "A black and white cat", "cat", ""),
                                    ("color", "black and white cat", "cat", "black"),
                                    ("color", "white cat", "cat", "white")]),
        ("A man in a red shirt.", [("object", "A man", "person", ""),
                                   ("color", "man in a red shirt", "person", "red")]),
        ("A dog with a red collar.", [("object", "A dog", "dog", "")]),  # a collar is not the dog
        ("A dog with brown fur.", [("object", "A dog", "dog", ""), ("color", "dog with brown fur", "dog", "brown")]),
        ("A woman with blonde hair.", [("object", "A woman", "person", "")]),  # hair is not the box
        ("A man holding a red umbrella.", [("object", "A man", "person", ""),
                                          ("object", "a red umbrella", "umbrella", ""),
                                          ("color", "red umbrella", "umbrella", "red")]),
        # relations between two objects in one clause
        ("A man to the left of a dog.", [("object", "A man", "person", ""),
                                         ("relation", "A man to the left of a dog", "person", "left of", "dog"),
                                         ("object", "a dog", "dog", "")]),
        ("A man riding a horse.", [("object", "A man", "person", ""),
                                   ("relation", "A man riding a horse", "person", "on top of", "horse"),
                                   ("object", "a horse", "horse", "")]),
        ("A cat is sitting on the couch.", [("object", "A cat", "cat", ""),
                                            ("relation", "A cat is sitting on the couch", "cat", "on top of", "couch"),
                                            ("object", "the couch", "couch", "")]),
        ("A dog behind a man.", [("object", "A dog", "dog", ""),
                                 ("relation", "A dog behind a man", "dog", "behind", "person"),
                                 ("object", "a man", "person", "")]),
        ("A dog, a man to the left.", [("object", "A dog", "dog", ""), ("object", "a man", "person", "")]),
        ("A man and a dog.", [("object", "A man", "person", ""), ("object", "a dog", "dog", "")]),
        # the setting
        ("A dog at night.", [("object", "A dog", "dog", ""), ("scene", "night", "", "time_of_day=night")]),
        ("Indoors.", [("scene", "Indoors", "", "location=indoor")]),
        ("A dog on the beach.", [("object", "A dog", "dog", ""),
                                 ("scene", "beach", "", "place=water,location=outdoor")]),
        ("A cat inside a car.", [("object", "A cat", "cat", ""),  # a relation here, not "indoors"
                                 ("relation", "A cat inside a car", "cat", "inside", "car"),
                                 ("object", "a car", "car", "")]),
        # not claims: non-COCO nouns, modifiers, negations
        ("An old brick wall with peeling paint.", []),
        ("People wait at a bus stop.", [("object", "People", "person", ""), ("count", "People", "person", "2+")]),
        ("A baseball player.", [("object", "player", "person", "")]),
        ("A man skis past a tree.", [("object", "A man", "person", "")]),  # "skis" is the verb here
        ("A black cat hides as he sees it.", [("object", "A black cat", "cat", ""),  # "he" may be the cat
                                              ("color", "black cat", "cat", "black")]),
        ("A man in black is sitting.", [("object", "A man", "person", ""), ("color", "man in black", "person", "black")]),
        ("A skier in a blue hat.", [("object", "A skier", "person", "")]),  # a hat hardly colors the box
        ("There are no people in the room.", [("scene", "room", "", "place=indoor room,location=indoor")]),
        ("", []),
    ],
)
def test_parse_claims(caption, expected):
    assert parsed(caption) == expected


def test_statements_keep_their_offsets():
    caption = "Near the door, two cats sleep."
    for s in parse_claims(caption):
        assert caption[s.start:s.start + len(s.text)] == s.text


CLAIM = Claim("color", "black dog", "contradicted", "dog_1 measured white", "dog_1")


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: Claim("colour", "black dog", "supported"), "unknown claim kind"),
        (lambda: Claim("color", "black dog", "true"), "unknown claim verdict"),
        (lambda: Claim("color", "  ", "supported"), "caption text"),
    ],
)
def test_claim_validates(make, error):
    with pytest.raises(ValueError, match=error):
        make()


def test_claim_and_candidate_round_trip_through_json():
    assert Claim.from_dict(json.loads(json.dumps(CLAIM.to_dict()))) == CLAIM
    cand = Candidate("A black dog.", scores={"grounding": -1.0}, total=-1.0, claims=[CLAIM])
    assert cand.claims == (CLAIM,)
    back = Candidate.from_dict(json.loads(json.dumps(cand.to_dict())))
    assert back == cand
    result = CaptionResult("A black dog.", 0, (cand,), Facts(ImageInfo(10, 10, "0")))
    assert CaptionResult.from_dict(json.loads(json.dumps(result.to_dict()))).best.claims == (CLAIM,)


def test_candidate_without_claims_reads_as_before():
    old = {"text": "A dog.", "status": "ok", "logprob": -0.5}
    assert Candidate.from_dict(old).claims == ()
    assert Candidate.from_dict({**old, "claims": None}).claims == ()
    with pytest.raises(TypeError, match="Claim records"):
        Candidate("A dog.", claims=[CLAIM.to_dict()])

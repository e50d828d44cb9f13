"""Reading the metadata JSON a model wrote: the first object, one repair, then the schema."""

from __future__ import annotations

import json

import pytest

from groundcap.llm_finetune.metadata import CaptionMetadata, parse_metadata, repair_json

CLEAN = {"title": "Dog on grass", "description": "A brown dog runs on the grass.",
         "keywords": ["dog", "grass"], "tags": ["pets"], "ocr_texts": []}
FULL = dict(CLEAN)
MINIMAL = {**CLEAN, "keywords": [], "tags": [], "ocr_texts": []}

# (case, raw answer, status, expected data or None, fragment of the detail)
CASES = [
    ("clean JSON", json.dumps(CLEAN), "ok", FULL, ""),
    ("code fence", "```json\n" + json.dumps(CLEAN, indent=2) + "\n```", "ok", FULL, ""),
    ("prose around it", "Here is the metadata:\n" + json.dumps(CLEAN) + "\nHope this helps!", "ok", FULL, ""),
    ("braces in prose first", "Use {curly} braces: " + json.dumps(CLEAN), "ok", FULL, ""),
    ("two objects, first wins", json.dumps(CLEAN) + "\n" + json.dumps({**CLEAN, "title": "Other"}),
     "ok", FULL, ""),
    ("trailing commas", '{"title": "Dog on grass", "description": "A brown dog runs on the grass.", '
                        '"keywords": ["dog", "grass",], "tags": ["pets"],}', "ok", FULL, "repaired"),
    ("smart quotes", "{\u201ctitle\u201d: \u201cDog on grass\u201d, \u201cdescription\u201d: "
                     "\u201cA brown dog runs on the grass.\u201d, \u201ckeywords\u201d: [\u201cdog\u201d, "
                     "\u201cgrass\u201d], \u201ctags\u201d: [\u201cpets\u201d]}", "ok", FULL, "repaired"),
    ("single quotes", "{'title': 'Dog on grass', 'description': 'A brown dog runs on the grass.', "
                      "'keywords': ['dog', 'grass'], 'tags': ['pets'], 'ocr_texts': []}", "ok", FULL, "repaired"),
    ("apostrophe in single quotes", "{'title': 'Dog on grass', 'description': \"The dog's run.\", "
                                    "'keywords': ['dog's ball']}",
     "ok", {**MINIMAL, "description": "The dog's run.", "keywords": ["dog's ball"]}, "repaired"),
    ("unclosed brace", '{"title": "Dog on grass", "description": "A brown dog runs on the grass.", '
                       '"keywords": ["dog", "grass"], "tags": ["pets"]', "ok", FULL, "repaired"),
    ("cut off mid-list and string", '```json\n{"title": "Dog on grass", "description": '
                                    '"A brown dog runs on the grass.", "keywords": ["dog", "gra',
     "ok", {**MINIMAL, "keywords": ["dog", "gra"]}, "repaired"),
    ("keywords as a string", json.dumps({**CLEAN, "keywords": "dog, grass,, ", "tags": "pets"}),
     "ok", FULL, ""),
    ("missing lists", '{"title": "Dog on grass", "description": "A brown dog runs on the grass."}',
     "ok", MINIMAL, ""),
    ("null lists", json.dumps({**CLEAN, "keywords": None, "tags": None, "ocr_texts": None}), "ok", MINIMAL, ""),
    ("duplicates and spaces", json.dumps({**CLEAN, "keywords": [" dog ", "dog", "grass"], "title": " Dog  on grass "}),
     "ok", FULL, ""),
    ("extra keys are ignored", json.dumps({**CLEAN, "caption": "x"}), "ok", FULL, "ignored keys: caption"),
    ("missing title", json.dumps({k: v for k, v in CLEAN.items() if k != "title"}),
     "invalid_json", None, "missing title"),
    ("empty description", json.dumps({**CLEAN, "description": "  "}), "invalid_json", None, "description is empty"),
    ("title not a string", json.dumps({**CLEAN, "title": {"text": "Dog"}}),
     "invalid_json", None, "title must be a string"),
    ("number in keywords", json.dumps({**CLEAN, "keywords": ["dog", 3]}),
     "invalid_json", None, "keywords[1] must be a string"),
    ("tags an object", json.dumps({**CLEAN, "tags": {"a": 1}}), "invalid_json", None, "tags must be a list"),
    ("not JSON at all", "A brown dog runs on the grass.", "invalid_json", None, "no JSON object"),
    ("nested garbage", '{{{[[["title": }}}]]] ,,, {', "invalid_json", None, "not JSON after one repair"),
    ("a list, not an object", '["Dog on grass", "A brown dog"]', "invalid_json", None, "no JSON object"),
    ("object without the schema", '{"caption": "A dog."}', "invalid_json", None, "missing title"),
    ("empty string", "", "invalid_json", None, "empty answer"),
    ("whitespace only", " \n ", "invalid_json", None, "empty answer"),
]


@pytest.mark.parametrize("case, raw, status, data, detail", CASES, ids=[c[0] for c in CASES])
def test_parse_metadata(case, raw, status, data, detail):
    got, got_status, got_detail = parse_metadata(raw)
    assert (got, got_status) == (data, status)
    assert detail in got_detail
    if status == "invalid_json":
        assert got_detail  # an invalid answer always says why


@pytest.mark.parametrize("raw, expected", [
    ('{"a": 1,}', '{"a": 1}'),
    ("```json\n{'a': 'b'}\n```", '{"a": "b"}'),
    ('{"a": [1, 2', '{"a": [1, 2]}'),
    ('{"a": "unterminated', '{"a": "unterminated"}'),
    ('{"a": ', '{"a": null}'),
    ("{'a': 'say \"hi\"'}", '{"a": "say \\"hi\\""}'),
    ('{"it\'s": "fine"}', '{"it\'s": "fine"}'),
])
def test_repair_json(raw, expected):
    assert repair_json(raw) == expected
    json.loads(repair_json(raw))


def test_caption_metadata_round_trip():
    meta = CaptionMetadata.from_dict(CLEAN)
    assert meta.keywords == ("dog", "grass") and meta.to_dict() == CLEAN
    assert CaptionMetadata.from_dict(meta.to_dict()) == meta
    with pytest.raises(ValueError, match="title"):
        CaptionMetadata("", "A dog.")


def test_huge_garbage_is_refused_quickly():
    data, status, _ = parse_metadata("{" * 50_000 + "x")
    assert (data, status) == (None, "invalid_json")

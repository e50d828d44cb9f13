import json

import pytest

from groundcap.cli import main
from groundcap.data.captioned import read_captions_jsonl, select
from groundcap.eval import baseline as seed
from groundcap.eval.facts_agreement import evaluate_facts
from groundcap.records import Detection


def test_read_captions_and_select(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    f = tmp_path / "captions.jsonl"
    f.write_text('{"image": "a.jpg", "captions": ["one", "two"], "split": "test"}\n\n'
                 '{"image": "b.jpg", "captions": "three"}\n')
    items = read_captions_jsonl(f)
    assert [it.captions for it in items] == [("one", "two"), ("three",)]
    assert [it.split for it in select(items, "test")] == ["test"]
    assert select(items, limit=1, seed=3) == select(items, limit=1, seed=3)


@pytest.mark.parametrize("line, error", [
    ('{"captions": ["x"]}', "expected an object"),
    ("not json", "expected an object"),
    ('{"image": "../../etc/passwd", "captions": ["x"]}', "leaves"),
])
def test_bad_captions_lines(tmp_path, line, error):
    f = tmp_path / "captions.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(ValueError, match=error):
        read_captions_jsonl(f)


def test_seed_relations_depend_on_pixels():
    a = Detection("dog", "dog_1", (0, 0, 40, 40), 0.9, (200, 200))
    b = Detection("cat", "cat_1", (60, 0, 100, 40), 0.9, (200, 200))
    assert seed.seed_relations([a, b]) == {("dog_1", "left of", "cat_1")}
    small = [Detection(d.label, d.instance_id, tuple(v / 4 for v in d.box), 0.9, (50, 50)) for d in (a, b)]
    assert seed.seed_relations(small) == {("dog_1", "next to", "cat_1")}  # the fixed 50 px "near"


def test_seed_naming_is_rgb_nearest():
    assert seed.rgb_nearest_css3((255, 0, 0))[0] == "red"


@pytest.mark.models
def test_evaluate_on_real_flickr_photos(flickr_dir):
    items = select(read_captions_jsonl(flickr_dir / "captions.jsonl"), "train", limit=12, seed=1)
    report = evaluate_facts(items)
    d = report.to_dict()
    assert d["images"] == 12
    rows = {r["metric"]: r for r in d["rows"]}
    assert 0.5 < rows["label_precision"]["ours"] <= 1.0  # most detected objects are in the captions
    assert rows["relation_stability"]["ours"] in (None, 1.0)
    assert "| label precision" in report.markdown()


@pytest.mark.models
def test_eval_facts_cli(flickr_dir, tmp_path, capsys):
    out = tmp_path / "table.json"
    assert main(["eval", "facts", str(flickr_dir), "--split", "test", "--limit", "5", "--json", str(out)]) == 0
    assert "| metric |" in capsys.readouterr().out
    assert json.loads(out.read_text())["images"] == 5

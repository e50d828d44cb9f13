"""groundcap eval compare: paired bootstrap intervals between saved predictions."""

from __future__ import annotations

import json

import pytest

from groundcap.cli import main
from groundcap.errors import ConfigError
from groundcap.eval.compare import paired_bootstrap, read_predictions


def test_an_interval_covers_the_mean_difference_and_narrows_with_agreement():
    a = {str(i): float(i % 7) for i in range(200)}
    b = {k: v - 1.0 for k, v in a.items()}  # A is exactly one point better everywhere
    d = paired_bootstrap(a, b)
    assert (d["diff"], d["low"], d["high"], d["images"]) == (1.0, 1.0, 1.0, 200)
    noisy = {k: v + (3.0 if int(k) % 2 else -3.0) for k, v in b.items()}  # +1 on average, with noise
    d = paired_bootstrap(a, noisy)
    assert d["low"] < d["diff"] < d["high"] and d["high"] - d["low"] > 0.5


def test_different_photo_sets_are_refused():
    with pytest.raises(ValueError, match="different images"):
        paired_bootstrap({"a": 1.0}, {"b": 1.0})


def test_read_predictions_of_both_file_kinds(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"predictions": {"x.jpg": "A dog."}}))
    (tmp_path / "ds.json").write_text(json.dumps({"baselines": {"consensus": {"predictions": {"x.jpg": "A cat."}}}}))
    assert read_predictions(str(tmp_path / "run.json")) == ("run", {"x.jpg": "A dog."})
    assert read_predictions(f"{tmp_path / 'ds.json'}:consensus") == ("ds:consensus", {"x.jpg": "A cat."})
    with pytest.raises(ConfigError, match="no baseline 'nearest'"):
        read_predictions(f"{tmp_path / 'ds.json'}:nearest")
    with pytest.raises(ConfigError, match="holds no predictions"):
        read_predictions(str(tmp_path / "ds.json"))


def test_compare_command_on_real_references(flickr_dir, tmp_path, capsys):
    from groundcap.data.captioned import read_captions_jsonl

    items = [it for it in read_captions_jsonl(flickr_dir / "captions.jsonl") if it.split == "test"][:12]
    human = {it.path.name: it.captions[0] for it in items}
    bad = {it.path.name: "A picture." for it in items}
    (tmp_path / "human.json").write_text(json.dumps({"predictions": human}))
    (tmp_path / "bad.json").write_text(json.dumps({"predictions": bad}))
    assert main(["eval", "compare", str(flickr_dir), str(tmp_path / "bad.json"), str(tmp_path / "human.json"),
                 "--samples", "2000", "--json", str(tmp_path / "cmp.json")]) == 0
    out = json.loads((tmp_path / "cmp.json").read_text())
    d = out["differences"]["human"]
    assert out["images"] == 12 and d["low"] > 0  # a human caption beats "A picture." on these photos
    assert "human" in capsys.readouterr().out


def test_runs_joined_with_plus_are_scored_as_their_per_photo_mean(flickr_dir, tmp_path):
    from groundcap.data.captioned import read_captions_jsonl

    items = [it for it in read_captions_jsonl(flickr_dir / "captions.jsonl") if it.split == "test"][:12]
    (tmp_path / "human.json").write_text(json.dumps({"predictions": {it.path.name: it.captions[0] for it in items}}))
    (tmp_path / "bad.json").write_text(json.dumps({"predictions": {it.path.name: "A picture." for it in items}}))
    bad, human = str(tmp_path / "bad.json"), str(tmp_path / "human.json")
    assert main(["eval", "compare", str(flickr_dir), bad, human, f"{bad}+{human}", "--samples", "500",
                 "--json", str(tmp_path / "cmp.json")]) == 0
    out = json.loads((tmp_path / "cmp.json").read_text())
    assert out["systems"]["bad+human"] == pytest.approx((out["systems"]["bad"] + out["systems"]["human"]) / 2, abs=0.01)
    assert out["differences"]["bad+human"]["diff"] == pytest.approx(out["differences"]["human"]["diff"] / 2, abs=1e-3)

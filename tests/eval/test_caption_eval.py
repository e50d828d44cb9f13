"""``groundcap eval captions``: saved candidates can be ranked again without generating."""

from __future__ import annotations

import json

import pytest

from groundcap.cli import main
from groundcap.eval.caption_eval import read_results
from groundcap.errors import ConfigError

pytestmark = pytest.mark.models  # runs the shipped SSD on three photos


def test_out_saves_candidates_and_candidates_reranks_them(flickr_dir, tmp_path, capsys):
    first = tmp_path / "first.json"
    assert main(["eval", "captions", str(flickr_dir), "--limit", "3", "--generator", "template",
                 "--no-meteor", "--out", str(first)]) == 0
    saved = json.loads(first.read_text())
    assert len(saved["results"]) == 3
    for key, result in saved["results"].items():
        assert result["caption"] == saved["predictions"][key]
        assert result["candidates"] and result["facts"]["image"]["width"] > 0

    again = tmp_path / "again.json"
    assert main(["eval", "captions", str(flickr_dir), "--limit", "3", "--candidates", str(first),
                 "--no-meteor", "--out", str(again), "--name", "reranked"]) == 0
    assert "reranked" in capsys.readouterr().out
    reranked = read_results(again)
    assert {k: r.caption for k, r in reranked.items()} == saved["predictions"]


def test_candidates_from_another_image_set_is_refused(flickr_dir, tmp_path):
    first = tmp_path / "first.json"
    assert main(["eval", "captions", str(flickr_dir), "--limit", "2", "--generator", "template",
                 "--no-meteor", "--out", str(first)]) == 0
    assert main(["eval", "captions", str(flickr_dir), "--limit", "3", "--sample-seed", "7",
                 "--candidates", str(first), "--no-meteor"]) == 2


def test_results_file_without_candidates_is_a_clear_error(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"predictions": {"a.jpg": "A dog."}}))
    with pytest.raises(ConfigError, match="no candidates"):
        read_results(old)


def test_eval_shows_progress_on_stderr_even_without_a_terminal(flickr_dir, capsys):
    assert main(["eval", "captions", str(flickr_dir), "--limit", "2", "--generator", "template", "--no-meteor"]) == 0
    assert "captioning: 100%" in capsys.readouterr().err
    assert main(["eval", "captions", str(flickr_dir), "--limit", "2", "--generator", "template", "--no-meteor",
                 "--no-progress"]) == 0
    assert "captioning" not in capsys.readouterr().err

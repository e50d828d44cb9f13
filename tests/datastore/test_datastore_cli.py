"""``groundcap datastore build | search | eval`` end to end on the tiny set."""

from __future__ import annotations

import json

import pytest

from groundcap.cli import main

pytestmark = pytest.mark.models


def test_build_search_eval(tiny_set, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GROUNDCAP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "store"
    assert main(["datastore", "build", str(tiny_set), "--out", str(out), "--split", "train"]) == 0
    printed = capsys.readouterr()
    assert "3 photos" in printed.out and "not found 1" in printed.out.replace("_", " ")
    assert "broken.jpg" in printed.err

    first = json.loads((tiny_set / "captions.jsonl").read_text().splitlines()[0])
    assert main(["datastore", "search", str(out), str(tiny_set / first["image"]), "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["1", "1.000", first["image"].split("/")[-1]]
    assert len(lines) == 3 and lines[-1].startswith("consensus: ")

    scores = tmp_path / "scores.json"
    assert main(["datastore", "eval", str(tiny_set), "--split", "train", "--datastore", str(out), "-k", "2",
                 "--no-meteor", "--out", str(scores)]) == 0
    printed = capsys.readouterr()
    assert "| nearest (efficientnet-lite3) |" in printed.out and "consensus (k=2" in printed.out
    assert "cider" not in printed.out  # nearest and consensus unless asked
    assert "nearest captions" in printed.err  # the progress bar
    saved = json.loads(scores.read_text())
    nearest = saved["baselines"]["nearest"]
    train = {json.loads(line)["image"].split("/")[-1] for line in (tiny_set / "captions.jsonl").read_text().splitlines()
             if json.loads(line)["split"] == "train"} - {"broken.jpg", "gone.jpg"}
    assert set(nearest["predictions"]) == set(nearest["neighbours"]) == train
    assert "error: " in printed.err  # the broken and the missing photo are reported, not fatal
    # a photo never retrieves itself in eval: its own captions are not its prediction
    for key in nearest["predictions"]:
        assert [n["key"] for n in nearest["neighbours"][key]] and all(
            n["key"] != key for n in nearest["neighbours"][key])
    assert "CIDEr-D" in nearest["scores"] and saved["config"]["datastore"]["count"] == 3


def test_errors_exit_2(tmp_path, capsys):
    assert main(["datastore", "build", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no captions.jsonl" in capsys.readouterr().err
    assert main(["datastore", "search", str(tmp_path), "x.jpg"]) == 2
    assert "no caption datastore" in capsys.readouterr().err

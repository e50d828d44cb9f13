"""Reading what a datastore is built from: captions.jsonl splits and run folders' priors."""

from __future__ import annotations

import json

import pytest

from groundcap.datastore.sources import read_source
from groundcap.errors import ConfigError


def _jsonl(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_one_split_and_the_description_has_no_machine_path(tmp_path):
    src = _jsonl(tmp_path / "set", [{"image": "images/a.jpg", "captions": ["x .", " "], "split": "train"},
                                    {"image": "images/b.jpg", "captions": ["y ."], "split": "dev"}])
    rows, described = read_source(src, "train")
    assert [(r.key, r.captions) for r in rows] == [("a.jpg", ("x .",))]
    assert described["name"] == "set" and described["files"] == ["captions.jsonl"] and described["split"] == "train"
    assert len(described["sha256"]) == 64 and described["bytes"] == (src / "captions.jsonl").stat().st_size
    assert str(tmp_path) not in json.dumps(described)
    assert [r.key for r in read_source(src / "captions.jsonl")[0]] == ["a.jpg", "b.jpg"]


@pytest.mark.parametrize("make, split, message", [
    (lambda p: p, "all", "no captions.jsonl"),
    (lambda p: p / "nowhere", "all", "no such file"),
    (lambda p: _jsonl(p / "s", [{"image": "a.jpg", "captions": ["x"], "split": "dev"}]), "train",
     r"no images of split 'train' \(splits there: dev\)"),
])
def test_bad_sources_are_clear_errors(tmp_path, make, split, message):
    with pytest.raises(ConfigError, match=message):
        read_source(make(tmp_path), split)


def test_run_folder_rows_with_priors(tmp_path):
    from groundcap.data.run_shards import write_parquet_atomic

    (tmp_path / "run" / "shards").mkdir(parents=True)
    write_parquet_atomic([{"key": "k1", "path": "img/a.jpg", "prior": "a dog on grass .", "caption": "generated"},
                          {"key": "k2", "path": "img/b.jpg", "prior": "", "caption": "generated"}],
                         tmp_path / "run" / "shards" / "00000.parquet")
    rows, described = read_source(tmp_path / "run")
    assert [(r.key, r.path.name, r.captions) for r in rows] == [("k1", "a.jpg", ("a dog on grass .",))]
    assert described["kind"] == "run" and described["files"] == ["shards/00000.parquet"]
    with pytest.raises(ConfigError, match="no split"):
        read_source(tmp_path / "run", "train")

"""Tests for groundcap.data.facts_cache: layout, hits and misses, config keys, atomic and corrupt files."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from groundcap.config import ColorConfig, FactsConfig, config_hash
from groundcap.data.facts_cache import FactsCache, file_sha256
from groundcap.errors import ImageError
from groundcap.facts import FactsExtractor
from groundcap.records import Facts

from fakes import FLICKR, StubExtractor

NAMES = ["1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg", "1002674143_1b742ab4b8.jpg"]


class CountingExtractor(FactsExtractor):
    """The real extractor, counting how often it runs."""

    calls = 0

    def extract(self, source: Any) -> Facts:
        self.calls += 1
        return super().extract(source)


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    srcs = [FLICKR / "images" / n for n in NAMES]
    if not all(p.is_file() for p in srcs):
        pytest.skip("../shared/data/flickr8k-mini is not beside the checkout")
    (tmp_path / "img").mkdir()
    for s in srcs:
        shutil.copyfile(s, tmp_path / "img" / s.name)
    return [tmp_path / "img" / s.name for s in srcs]


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_layout_and_round_trip(tmp_path: Path, photos: list[Path]) -> None:
    ex = StubExtractor()
    facts = ex.extract(photos[0])
    cache = FactsCache(tmp_path / "cache")
    sha = hashlib.sha256(photos[0].read_bytes()).hexdigest()
    assert facts.image.sha256 == sha == file_sha256(photos[0])
    path = cache.put(facts)
    assert path == tmp_path / "cache" / config_hash(FactsConfig()) / sha[:2] / f"{sha}.json"
    assert cache.get(sha) == facts
    assert json.loads((cache.dir / "config.json").read_text())["detect"]["detector"] == "ssd-mobilenet-v2"
    assert cache.get("f" * 64) is None


def test_second_pass_is_all_hits_and_never_extracts(tmp_path: Path, photos: list[Path]) -> None:
    ex = StubExtractor()
    first = FactsCache(tmp_path / "cache")
    got = first.facts_for(photos, ex)
    assert (first.hits, first.misses, ex.calls) == (0, 3, 3)
    again = FactsCache(tmp_path / "cache")  # a new process, the same folder
    assert again.facts_for(photos, ex) == got
    assert (again.hits, again.misses, ex.calls) == (3, 0, 3)


def test_config_change_is_a_miss(tmp_path: Path, photos: list[Path]) -> None:
    FactsCache(tmp_path / "cache").facts_for(photos, StubExtractor())
    other = FactsConfig(colors=ColorConfig(n_colors=3))
    ex = StubExtractor(other)
    cache = FactsCache(tmp_path / "cache", other)
    cache.facts_for(photos, ex)
    assert (cache.hits, cache.misses, ex.calls) == (0, 3, 3)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [config_hash(FactsConfig()), config_hash(other)])


def test_extractor_of_another_config_is_refused(tmp_path: Path, photos: list[Path]) -> None:
    ex = StubExtractor(FactsConfig(colors=ColorConfig(n_colors=3)))
    with pytest.raises(ValueError, match="not this cache's"):
        FactsCache(tmp_path / "cache").facts_for(photos, ex)


@pytest.mark.parametrize("write_bad, reason", [
    (lambda p, f: p.write_bytes(b"\x00\xff garbage"), "binary junk"),
    (lambda p, f: p.write_text(json.dumps(f.to_dict())[:40]), "cut off mid-write by an old writer"),
    (lambda p, f: p.write_text('{"image": {"width": 0}}'), "JSON that is not facts"),
    (lambda p, f: p.write_text("[]"), "JSON of the wrong shape"),
    (lambda p, f: p.write_text(json.dumps({**f.to_dict(), "image": {**f.image.to_dict(), "sha256": "a" * 64}})),
     "the facts of another image"),
])
def test_corrupt_entry_is_a_miss_and_is_rewritten(tmp_path: Path, photos: list[Path], write_bad: Any,
                                                  reason: str, caplog: pytest.LogCaptureFixture) -> None:
    ex = StubExtractor()
    cache = FactsCache(tmp_path / "cache")
    (facts,) = cache.facts_for(photos[:1], ex)
    path = cache.path_for(facts.image.sha256)
    write_bad(path, facts)
    with caplog.at_level(logging.WARNING, logger="groundcap.data"):
        assert cache.get(facts.image.sha256) is None, reason
        assert cache.facts_for(photos[:1], ex) == [facts]
    assert "treated as a miss" in caplog.text
    assert (cache.misses, ex.calls) == (2, 2)
    assert Facts.from_dict(json.loads(path.read_text())) == facts


def test_failed_write_leaves_no_partial_file(tmp_path: Path, photos: list[Path], monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    ex = StubExtractor()
    cache = FactsCache(tmp_path / "cache")
    facts = ex.extract(photos[0])

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        cache.put(facts)
    assert all_files(tmp_path / "cache") == []  # neither a .json nor a temporary file
    with caplog.at_level(logging.WARNING, logger="groundcap.data"):
        assert cache.facts_for(photos[:1], ex)[0].image.sha256 == facts.image.sha256  # still answered
    assert "could not write the facts cache" in caplog.text
    assert all_files(tmp_path / "cache") == []


def test_written_files_are_whole_json(tmp_path: Path, photos: list[Path]) -> None:
    cache = FactsCache(tmp_path / "cache")
    cache.facts_for(photos, StubExtractor())
    files = all_files(cache.dir)
    assert len(files) == 4 and "config.json" in files and not any(".tmp" in f for f in files)
    for f in files:
        json.loads((cache.dir / f).read_text())


def test_bad_images_come_back_as_errors(tmp_path: Path, photos: list[Path]) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "page.jpg").write_text("<html>not found</html>")
    paths = [photos[0], tmp_path / "missing.jpg", tmp_path / "empty.jpg", tmp_path / "page.jpg", tmp_path]
    cache = FactsCache(tmp_path / "cache")
    out = cache.facts_for(paths, StubExtractor())
    assert isinstance(out[0], Facts)
    assert [e.reason for e in out[1:]] == ["not_found", "empty_file", "not_an_image", "is_directory"]
    assert all(isinstance(e, ImageError) and str(paths[i + 1]) in str(e) for i, e in enumerate(out[1:]))
    assert (cache.hits, cache.misses, cache.errors) == (0, 2, 4)


def test_same_content_under_another_name_is_a_hit_with_its_own_source(tmp_path: Path, photos: list[Path]) -> None:
    twin = tmp_path / "twin.jpg"
    shutil.copyfile(photos[0], twin)
    ex = StubExtractor()
    cache = FactsCache(tmp_path / "cache")
    a, b = cache.facts_for([photos[0], twin], ex)
    assert (cache.hits, cache.misses, ex.calls) == (1, 1, 1)
    assert (a.image.source, b.image.source) == (str(photos[0]), str(twin))
    assert a.detections == b.detections


@pytest.mark.parametrize("key", ["", "abc", "G" * 64, "A" * 64, "0" * 63, "../" + "0" * 61])
def test_path_for_refuses_non_hashes(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="hex sha256"):
        FactsCache(tmp_path).path_for(key)


@pytest.mark.models
def test_real_extractor_runs_once_per_image(tmp_path: Path, photos: list[Path]) -> None:
    ex = CountingExtractor()
    cold = FactsCache(tmp_path / "cache", ex.config).facts_for(photos, ex)
    warm_cache = FactsCache(tmp_path / "cache", ex.config)
    warm = warm_cache.facts_for(photos, ex)
    assert ex.calls == 3 and warm_cache.hits == 3
    assert [f.to_dict() for f in warm] == [f.to_dict() for f in cold]
    assert all(f.models and f.image.sha256 == file_sha256(p) for f, p in zip(warm, photos))

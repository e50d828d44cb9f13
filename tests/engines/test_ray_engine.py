"""Tests for groundcap.engines.ray_data: the Ray engine writes the local engine's rows.

A real local Ray (2 CPUs), real photos, the embedded SmolLM2 and the default
facts and scorers; only the ``time_*`` columns may differ between engines.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fakes import FLICKR
from groundcap.batch import run
from groundcap.config import GenerateConfig, OutputConfig, RunConfig
from groundcap.engines import create_engine
from groundcap.engines.ray_data import _cpus_per_actor
from groundcap.errors import ConfigError

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    images = sorted((FLICKR / "images").glob("*.jpg"))[:5]
    if len(images) < 5:
        pytest.skip("../shared/data/flickr8k-mini is not beside the checkout")
    src = tmp_path / "src"
    src.mkdir()
    for path in images:
        shutil.copy(path, src / path.name)
    (src / images[0].with_suffix(".txt").name).write_text("A dog runs on the grass.")
    (src / "truncated.jpg").write_bytes(images[1].read_bytes()[:2000])
    (src / "notes.jpg").write_text("not an image")
    return src


def shard_rows(out: Path) -> list[dict]:
    return [r for path in sorted((out / "shards").glob("*.parquet")) for r in pq.read_table(path).to_pylist()]


def test_ray_rows_equal_local_rows_but_for_timings(local_ray, photos, tmp_path):
    cfg = RunConfig(generate=GenerateConfig(n=2, max_new_tokens=12, batch_size=2),
                    output=OutputConfig(shard_size=3, progress=False, formats=("parquet",)))
    run(photos, tmp_path / "local", cfg)
    run(photos, tmp_path / "ray", replace(cfg, output=replace(cfg.output, engine="ray")))
    local, on_ray = shard_rows(tmp_path / "local"), shard_rows(tmp_path / "ray")

    assert [p.name for p in sorted((tmp_path / "ray" / "shards").glob("*.parquet"))] == \
        ["00000.parquet", "00001.parquet", "00002.parquet"]
    assert len(on_ray) == len(local) == 7
    for column in local[0]:
        if not column.startswith("time_"):
            assert [r[column] for r in on_ray] == [r[column] for r in local], column
    status = {r["source"]: r["status"] for r in on_ray}
    assert status["truncated.jpg"] == "truncated"
    assert status["notes.jpg"] == "not_an_image"
    assert sum(s in ("ok", "fallback") for s in status.values()) == 5
    assert all(r["time_facts"] > 0 for r in on_ray if r["status"] == "ok")
    assert ray.is_initialized()  # the engine left the test's Ray running


def test_empty_job_list_starts_nothing(local_ray):
    engine = create_engine(RunConfig(output=OutputConfig(engine="ray")))
    assert list(engine.run([])) == []
    assert engine.models is None


@pytest.mark.parametrize("total, actors, gpu, expected", [
    (2, 1, False, 0.66),
    (48, 4, False, 1.0),
    (16, 4, True, 1.0),
    (4, 2, True, 0.5),
    (1, 4, False, 0.08),
])
def test_cpus_per_actor_lets_every_pool_fit(total, actors, gpu, expected):
    assert _cpus_per_actor(total, actors, gpu) == expected


def test_without_ray_the_engine_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'groundcap\[scale\]'"):
        create_engine(RunConfig(output=OutputConfig(engine="ray")))

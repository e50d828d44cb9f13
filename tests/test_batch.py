"""groundcap run: every output read back by its consumer's own reader; resume after a stop or kill -9."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes import FLICKR
from groundcap.batch import plan_jobs, run
from groundcap.config import GenerateConfig, OutputConfig, RerankConfig, RunConfig
from groundcap.data.inputs import InputItem
from groundcap.data.run_dir import RunDir, RunLockedError
from groundcap.engines.local import LocalEngine

pytestmark = pytest.mark.models

ALL = ("parquet", "webdataset", "csv", "hf", "imagefolder", "sidecar")
N_GOOD = 7


def config(**output) -> RunConfig:
    """SSD facts, the template writer and the grounding check: real stages, seconds per run."""
    out = OutputConfig(**{"shard_size": 3, "progress": False, "formats": ALL, **output})
    return RunConfig(generate=GenerateConfig(generator="template", batch_size=2),
                     rerank=RerankConfig(("grounding",), (1.0,)), output=out)


@pytest.fixture(scope="module")
def captioner():
    from groundcap.pipeline import Captioner

    return Captioner(config())


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """Seven Flickr photos (one with a sidecar caption), a truncated JPEG and an HTML page named .jpg."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    names = sorted(p.name for p in (FLICKR / "images").glob("*.jpg"))[:N_GOOD]
    for i, name in enumerate(names):
        shutil.copy(FLICKR / "images" / name, (src / "sub" if i % 3 == 0 else src) / name)
    (src / names[1]).with_suffix(".txt").write_text("a dog runs through the grass\n")
    (src / "cut.jpg").write_bytes((FLICKR / "images" / names[0]).read_bytes()[:2000])
    (src / "page.jpg").write_text("<html>not found</html>")
    return src


def go(src, out, captioner, cfg=None, **kw):
    cfg = cfg or config()
    return run(src, out, cfg, engine=LocalEngine(cfg, captioner=captioner), **kw)


def rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [{k: v for k, v in r.items() if not k.startswith("time_")}
            for p in sorted((out / "shards").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_every_format_is_read_back_by_its_consumer(photos, tmp_path, captioner):
    out = tmp_path / "out"
    summary = go(photos, out, captioner)
    assert summary.processed == N_GOOD + 2 and summary.counts == {"ok": N_GOOD, "truncated": 1, "not_an_image": 1}

    import pandas as pd

    df = pd.read_parquet(out / "shards")
    assert len(df) == N_GOOD + 2 and df["key"].is_unique
    bad = df.set_index("source").loc[["cut.jpg", "page.jpg"]]
    assert list(bad["status"]) == ["truncated", "not_an_image"] and all(bad["error"].str.len() > 0)
    good = df[df["status"] == "ok"]
    assert (good["caption"].str.len() > 0).all() and (good["width"] > 0).all() and (good["time_facts"] > 0).all()
    assert (good["time_retrieve"] > 0).all()  # the embedded datastore is searched for every captioned photo
    assert all(json.loads(c)[0]["text"] == cap for c, cap in zip(good["candidates"], good["caption"]))
    assert "a dog runs through the grass" in set(df["prior"])

    import webdataset as wds

    n_tars = len(list((out / "webdataset").glob("*.tar")))
    tars = str(out / "webdataset" / f"{{00000..{n_tars - 1:05d}}}.tar")  # the brace form open_clip's --train-data takes
    samples = list(wds.WebDataset(tars, shardshuffle=False).decode("pil", only=["jpg", "txt", "json"]).to_tuple("__key__", "jpg", "txt", "json"))
    assert sorted(k for k, *_ in samples) == sorted(good["key"])
    key, img, txt, meta = samples[0]
    assert img.size == (meta["width"], meta["height"]) and txt == meta["caption"] and meta["facts"]["detections"] is not None

    from open_clip_train.data import CsvDataset, get_dataset_size

    assert get_dataset_size(tars) == (N_GOOD, n_tars)
    import open_clip

    csv = CsvDataset(str(out / "captions.csv"), lambda im: im.size, "filepath", "title",
                     tokenizer=open_clip.get_tokenizer("RN50"))
    assert len(csv) == N_GOOD
    size, tokens = csv[0]
    assert size[0] > 0 and int(tokens[0]) != 0

    import datasets

    hf = datasets.load_from_disk(str(out / "hf"))
    assert len(hf) == N_GOOD and sorted(hf["key"]) == sorted(good["key"]) and hf[0]["image"].size[0] > 0
    folder = datasets.load_dataset("imagefolder", data_dir=str(out / "images"), split="train",
                                   cache_dir=str(tmp_path / "hf-cache"))
    assert len(folder) == N_GOOD and set(folder["text"]) == set(good["caption"])
    for k, cap in zip(good["key"], good["caption"]):
        assert (out / "images" / f"{k}.txt").read_text().strip() == cap

    meta = json.loads((out / "config.json").read_text())
    assert meta["counts"] == summary.counts and meta["config"]["output"]["shard_size"] == 3
    assert meta["models"]["detector"].startswith("ssd") and "groundcap" in meta["versions"]


class StopAfter:
    """Wraps an engine and raises KeyboardInterrupt (as Ctrl-C would) after ``n`` shards were handed out."""

    def __init__(self, engine, n):
        self.engine, self.n = engine, n

    def run(self, jobs, tick):
        for i, out in enumerate(self.engine.run(jobs, tick)):
            if i == self.n:
                raise KeyboardInterrupt
            yield out


def _same_outputs(a: Path, b: Path) -> None:
    assert rows(a) == rows(b)
    for name in ("captions.csv", "config.json", "webdataset/sizes.json", "images/metadata.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    tars = sorted(p.name for p in (a / "webdataset").glob("*.tar"))
    assert tars == sorted(p.name for p in (b / "webdataset").glob("*.tar"))
    for t in tars:
        assert (a / "webdataset" / t).read_bytes() == (b / "webdataset" / t).read_bytes(), t


def test_a_stopped_run_resumes_to_the_uninterrupted_result(photos, tmp_path, captioner):
    go(photos, tmp_path / "whole", captioner)
    cfg = config()
    with pytest.raises(KeyboardInterrupt):
        run(photos, tmp_path / "cut", cfg, engine=StopAfter(LocalEngine(cfg, captioner=captioner), 1))
    assert RunDir(tmp_path / "cut").committed() == [0]  # the shard in progress was dropped, not half-written
    again = go(photos, tmp_path / "cut", captioner)
    assert again.skipped == 3 and again.processed == N_GOOD + 2 - 3
    _same_outputs(tmp_path / "whole", tmp_path / "cut")
    assert go(photos, tmp_path / "cut", captioner).processed == 0  # nothing left to do


def test_retry_failed_redoes_only_the_failed_rows_in_place(photos, tmp_path, captioner):
    out = tmp_path / "out"
    go(photos, out, captioner)
    before = rows(out)
    shutil.copy(FLICKR / "images" / sorted(p.name for p in (FLICKR / "images").glob("*.jpg"))[9], photos / "cut.jpg")
    assert go(photos, out, captioner).processed == 0  # a plain rerun leaves failures alone
    summary = go(photos, out, captioner, retry_failed=True)
    assert summary.processed == 2 and summary.counts == {"ok": N_GOOD + 1, "not_an_image": 1}
    after = rows(out)
    assert [r["source"] for r in after] == [r["source"] for r in before]
    changed = [a["source"] for a, b in zip(after, before) if a != b]
    assert changed == ["cut.jpg"]


def test_overwrite_starts_over_and_keeps_foreign_files(photos, tmp_path, captioner):
    out = tmp_path / "out"
    go(photos, out, captioner, config(limit=3))
    (out / "notes.txt").write_text("mine")
    summary = go(photos, out, captioner, overwrite=True)
    assert summary.skipped == 0 and summary.processed == N_GOOD + 2
    assert (out / "notes.txt").read_text() == "mine"


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    with RunDir(tmp_path / "out"):
        with pytest.raises(RunLockedError):
            RunDir(tmp_path / "out").open()


def test_shards_are_cut_in_input_order():
    items = [InputItem(f"{i}.jpg") for i in range(7)]
    jobs = plan_jobs(items, 3, first_index=4)
    assert [j.index for j in jobs] == [4, 5, 6] and [len(j.items) for j in jobs] == [3, 3, 1]


def test_a_manifest_with_captions_and_an_hf_dataset(photos, tmp_path, captioner):
    images = sorted(photos.rglob("*.jpg"))[:3]
    manifest = tmp_path / "list.csv"
    manifest.write_text("image,caption\n" + "".join(f"{p},a photo {i}\n" for i, p in enumerate(images)))
    go(manifest, tmp_path / "m", captioner)
    assert {r["prior"] for r in rows(tmp_path / "m")} == {"a photo 0", "a photo 1", "a photo 2"}

    import datasets

    ds = datasets.Dataset.from_dict({"image": [str(p) for p in images]}).cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "ds"))
    go(tmp_path / "ds", tmp_path / "h", captioner, config(formats=("parquet", "csv")))
    got = rows(tmp_path / "h")
    assert [r["source"] for r in got] == ["train/0", "train/1", "train/2"] and {r["status"] for r in got} == {"ok"}
    import pandas as pd

    csv = pd.read_csv(tmp_path / "h" / "captions.csv", sep="\t")  # no files of their own: copies under images/
    assert len(csv) == 3 and all(Path(p).is_file() and Path(p).parent.name == "images" for p in csv["filepath"])


@pytest.mark.parametrize("after_shards", [0, 2])
def test_kill_9_then_rerun_gives_the_uninterrupted_rows(photos, tmp_path, captioner, after_shards):
    """A real ``kill -9`` of the CLI once ``after_shards`` shards are committed (0: while models load)."""
    go(photos, tmp_path / "whole", captioner)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "groundcap.cli", "run", str(photos), "--out", str(out), "--generator", "template",
           "--batch-size", "2", "--scorers", "grounding", "--weights", "1", "--shard-size", "3",
           "--formats", ",".join(ALL), "--progress", "false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "shards").glob("0*.parquet"))) >= after_shards:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(list((out / "shards").glob("0*.parquet"))) < 3  # it really stopped short
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 1  # 1: some inputs failed (by design)
    _same_outputs(tmp_path / "whole", out)


def test_the_cli_summary_and_exit_code(photos, tmp_path, capsys):
    from groundcap.cli import main

    code = main(["run", str(photos), "--out", str(tmp_path / "o"), "--generator", "template", "--scorers",
                 "grounding", "--weights", "1", "--formats", "parquet", "--progress", "false", "--limit", "2"])
    text = capsys.readouterr().out
    assert code == 0 and "2 images (ok 2)" in text and "images/s" in text
    assert dataclasses.is_dataclass(RunConfig) and not (tmp_path / "o" / "captions.csv").exists()

"""The image index: build from a run folder or captions source, search by text or image, filter, heatmap."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lancedb")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
from PIL import Image  # noqa: E402

from groundcap.errors import ConfigError, GroundcapError, ModelLoadError  # noqa: E402
from groundcap.records import Detection, Facts, ImageInfo  # noqa: E402
from groundcap.rerank import index_cli  # noqa: E402
from groundcap.rerank.index import (  # noqa: E402
    index_vectors,
    is_image_query,
    open_index,
    search,
    similarity_heatmap,
    where_clause,
)
from groundcap.rerank.index_build import build_index  # noqa: E402
from groundcap.rerank.index_table import IndexRow  # noqa: E402

COLORS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (20, 40, 220), "yellow": (230, 220, 30)}


class FakeModel:
    """An ImageTextModel double: images embed as their mean colour, texts as the colour words they name."""

    dim = 8

    def __init__(self, name: str = "fake-color") -> None:
        self.name = name

    def embed_images(self, images):
        out = np.zeros((len(images), self.dim), np.float32)
        for i, img in enumerate(images):
            out[i, :3] = np.asarray(img, np.float32).reshape(-1, 3).mean(axis=0) / 255.0
            out[i, 3] = 0.05
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_texts(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                if word in COLORS:
                    out[i, :3] += np.asarray(COLORS[word], np.float32) / 255.0
                else:  # other words add a little hashed noise outside the colour dimensions
                    out[i, 4 + hashlib.sha256(word.encode()).digest()[0] % 4] += 0.05
            out[i, 3] += 0.05
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _image(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path)
    return path


def _facts(width: int, height: int, *labels: str) -> str:
    dets = tuple(Detection(lab, f"{lab}_1", (1, 1, width - 1, height - 1), 0.9, (width, height)) for lab in labels)
    return json.dumps(Facts(ImageInfo(width, height, "0" * 64), dets).to_dict())


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A `groundcap run`-like folder: two shards, 4 good rows, 1 failed row, 1 corrupt and 1 missing image."""
    run = tmp_path / "run"
    for name, rgb in COLORS.items():
        _image(run / "images" / f"{name}.png", rgb)
    (run / "images" / "corrupt.jpg").write_bytes(b"this is not a jpeg")
    shard0 = {"key": ["red", "green", "failed"], "path": ["images/red.png", "images/green.png", "images/x.png"],
              "status": ["ok", "ok", "detect_error"],
              "caption": ["a red dog", "a green dog with a man", ""],
              "facts": [_facts(24, 16, "dog"), _facts(24, 16, "dog", "person"), None]}
    shard1 = {"key": ["blue", "yellow", "corrupt", "missing"],
              "path": [str((run / "images" / "blue.png").resolve()), "images/yellow.png", "images/corrupt.jpg",
                       "images/missing.png"],
              "status": ["ok"] * 4, "caption": ["a blue cat", "a yellow wall", "?", "?"],
              "facts": [_facts(24, 16, "cat"), "", "", ""]}
    (run / "shards").mkdir()
    pq.write_table(pa.table(shard0), run / "shards" / "00000.parquet")
    pq.write_table(pa.table(shard1), run / "shards" / "00001.parquet")
    return run


@pytest.fixture
def built(run_dir: Path):
    model = FakeModel()
    summary = build_index(run_dir, model, run_dir / "index")
    return summary, open_index(run_dir / "index"), model


def test_the_index_module_keeps_its_public_names():
    """Building lives in index_build and the records in index_table; ``groundcap.rerank.index`` names them all."""
    from groundcap.rerank import index, index_build, index_table

    assert all(hasattr(index, name) for name in index.__all__)
    assert index.build_index is index_build.build_index and index.IndexRow is index_table.IndexRow


def test_build_from_run_dir_counts_skipped_rows(built, run_dir):
    summary, index, _ = built
    assert (summary.indexed, summary.rows, len(index)) == (4, 4, 4)
    assert summary.skipped == {"not_an_image": 1, "not_found": 1, "not_ok": 1}
    assert summary.model == index.model == "fake-color" and index.dim == 8 and not summary.ann
    rows = {r["key"]: r for r in index.table.to_arrow().to_pylist()}
    assert rows["green"]["objects"] == ["dog", "person"] and rows["yellow"]["objects"] == []
    assert (rows["red"]["width"], rows["red"]["height"], rows["red"]["caption"]) == (24, 16, "a red dog")
    assert Path(rows["red"]["path"]) == (run_dir / "images" / "red.png").resolve()


def test_text_query_ranks_matching_image_first(built):
    _, index, model = built
    hits = search(index, "a blue thing on the grass", model, k=3)
    assert [h.key for h in hits][0] == "blue" and len(hits) == 3
    assert hits[0].score > hits[1].score >= hits[2].score
    assert hits[0].caption == "a blue cat" and hits[0].objects == ("cat",)


def test_image_query_returns_itself_first(built, run_dir):
    _, index, model = built
    query = run_dir / "images" / "green.png"
    assert is_image_query(str(query)) and not is_image_query("green.png is a file name")
    hits = search(index, str(query), model, k=2)
    assert hits[0].key == "green" and hits[0].score == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("objects, status, where, expected", [
    (["dog"], None, None, {"red", "green"}),
    (["dog", "person"], "ok", None, {"green"}),
    ([], None, "array_has(objects, 'cat')", {"blue"}),
    (["dog"], None, "caption LIKE '%man%' OR key = 'red'", {"red", "green"}),
    ([], None, "width > 100", set()),
])
def test_filters_restrict_results(built, objects, status, where, expected):
    _, index, model = built
    hits = search(index, "red", model, k=10, where=where_clause(objects, status, where))
    assert {h.key for h in hits} == expected


@pytest.mark.parametrize("model, k, where, message", [
    (FakeModel("another-model"), 3, None, "built with model 'fake-color'"),
    (FakeModel(), 0, None, "k must be at least 1"),
    (FakeModel(), 3, "no_such_column = 1", "invalid filter"),
])
def test_search_errors(built, model, k, where, message):
    _, index, _ = built
    with pytest.raises(ConfigError, match=message):
        search(index, "red", model, k=k, where=where)


def test_rebuild_overwrites_and_append_checks_model(run_dir, built):
    assert build_index(run_dir, FakeModel(), run_dir / "index").rows == 4
    rows = [IndexRow("extra", run_dir / "images" / "red.png", "again red")]
    assert build_index(rows, FakeModel(), run_dir / "index", append=True).rows == 5
    with pytest.raises(ConfigError, match="fake-color"):
        build_index(rows, FakeModel("other"), run_dir / "index", append=True)
    with pytest.raises(ConfigError, match="no image index"):
        open_index(run_dir / "images")


def test_missing_lancedb_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lancedb", None)  # makes `import lancedb` fail
    with pytest.raises(GroundcapError, match=r"groundcap\[index\]"):
        build_index([], FakeModel(), tmp_path / "idx")


def test_build_from_captions_jsonl(tmp_path):
    for name, rgb in COLORS.items():
        _image(tmp_path / "imgs" / f"{name}.jpg", rgb)
    lines = [{"image": f"imgs/{n}.jpg", "captions": [f"first {n}", "second"]} for n in COLORS]
    (tmp_path / "captions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    model = FakeModel()
    summary = build_index(tmp_path / "captions.jsonl", model, tmp_path / "idx")
    assert summary.indexed == 4 and summary.skipped == {}
    hit = search(open_index(tmp_path / "idx"), "yellow", model, k=1)[0]
    assert (hit.key, hit.caption, hit.objects) == ("imgs/yellow.jpg", "first yellow", ())


def test_large_table_gets_an_ann_index(tmp_path):
    rng = np.random.default_rng(0)
    rows = [IndexRow(f"k{i}", _image(tmp_path / f"{i}.png", tuple(int(v) for v in rng.integers(0, 256, 3)), (4, 4)))
            for i in range(300)]
    model = FakeModel()
    summary = build_index(rows, model, tmp_path / "idx", ann_min_rows=256)
    index = open_index(tmp_path / "idx")
    assert summary.ann and index.table.list_indices()
    hit = search(index, str(rows[7].path), model, k=1)[0]
    assert hit.score == pytest.approx(1.0, abs=1e-3)


def test_heatmap_png(built, tmp_path):
    _, index, _ = built
    vectors, paths = index_vectors(index, ["blue", "red", "nope"])
    assert [Path(p).name for p in paths] == ["blue.png", "red.png"] and vectors.shape == (2, 8)
    vectors, paths = index_vectors(index)
    png = similarity_heatmap(vectors, [Path(p).name for p in paths], tmp_path / "out" / "heat.png")
    with Image.open(png) as img:
        assert img.format == "PNG" and img.size[0] > 0 and img.size[1] > 0
    with pytest.raises(ValueError, match="labels"):
        similarity_heatmap(vectors, ["one"], tmp_path / "bad.png")


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    index_cli.add_index_parser(sub)
    index_cli.add_search_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_index_then_search(run_dir, tmp_path, monkeypatch, capsys):
    made = []
    monkeypatch.setattr(index_cli, "_create_model", lambda name, *a: made.append(name) or FakeModel())
    assert _cli(["index", str(run_dir), "--heatmap", str(tmp_path / "all.png")]) == 0
    out = capsys.readouterr().out
    assert "indexed 4 images" in out and "not_ok 1" in out
    assert (tmp_path / "all.png").stat().st_size > 0

    assert _cli(["search", "a red dog", "--index", str(run_dir), "-k", "5", "--object", "dog", "--json",
                 "--heatmap", str(tmp_path / "hits.png")]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["key"] for h in hits] == ["red", "green"] and [h["rank"] for h in hits] == [1, 2]
    assert hits[0]["objects"] == ["dog"] and hits[0]["score"] > hits[1]["score"]
    assert made == ["embedded", "embedded"]  # search reloads the model the index was built with
    with Image.open(tmp_path / "hits.png") as img:
        assert img.size[0] > 0

    assert _cli(["search", str(run_dir / "images" / "blue.png"), "--index", str(run_dir / "index")]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:2] == ["1", "1.000"]
    assert _cli(["search", "red", "--index", str(run_dir), "--where", "width > 999"]) == 1
    assert _cli(["search", "red", "--index", str(tmp_path / "nowhere")]) == 2
    assert "no image index" in capsys.readouterr().err


@pytest.mark.models
def test_real_model_on_flickr(flickr_dir, tmp_path):
    models = pytest.importorskip("groundcap.rerank.models")
    try:
        model = models.create_image_text_model("embedded", device="cpu")
    except (ModelLoadError, ImportError) as e:  # its weights or extras may not be installed here
        pytest.skip(f"embedded image-text model unavailable: {e}")
    from groundcap.data.caption_sources import read_captioned

    items = read_captioned(flickr_dir)[:6]
    rows = [IndexRow(it.path.name, it.path, it.captions[0]) for it in items]
    index_dir = tmp_path / "idx"
    assert build_index(rows, model, index_dir).indexed == 6
    index = open_index(index_dir)
    hits = search(index, str(items[2].path), model, k=3)
    assert hits[0].key == items[2].path.name and hits[0].score == pytest.approx(1.0, abs=1e-3)
    by_caption = search(index, items[4].captions[0], model, k=6)
    scores = [h.score for h in by_caption]
    assert len(by_caption) == 6 and scores == sorted(scores, reverse=True)

"""Tests for groundcap.llm_finetune.sft_data and its ``build-sft`` command."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from groundcap.config import FactsConfig, config_hash
from groundcap.data.captioned import CaptionedImage, read_captions_jsonl
from groundcap.data.facts_cache import FactsCache
from groundcap.llm_finetune.prompt_templates import alpaca_input, alpaca_instruction, load_template
from groundcap.llm_finetune.sft_cli import add_build_sft_parser, default_cache_dir, run_build_sft
from groundcap.llm_finetune.sft_data import build_sft, clean_reference, data_hash, save_sft
from groundcap.records import Facts

from fakes import FLICKR, StubExtractor

#: Six photos: three train, one dev, one test, one in no split.
SPLITS = ["train", "train", "dev", "train", "test", "none"]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A captions.jsonl source of six real photos with their real Flickr captions."""
    if not (FLICKR / "captions.jsonl").is_file():
        pytest.skip("../shared/data/flickr8k-mini is not beside the checkout")
    real = read_captions_jsonl(FLICKR / "captions.jsonl")[:6]
    (tmp_path / "src" / "images").mkdir(parents=True)
    with (tmp_path / "src" / "captions.jsonl").open("w") as fh:
        for it, split in zip(real, SPLITS):
            shutil.copyfile(it.path, tmp_path / "src" / "images" / it.path.name)
            row = {"image": f"images/{it.path.name}", "captions": list(it.captions), "split": split}
            fh.write(json.dumps(row) + "\n")
    return tmp_path / "src"


def items_of(source: Path) -> list[CaptionedImage]:
    return read_captions_jsonl(source / "captions.jsonl")


def build(src: Path, cache_dir: Path, **kw: Any) -> Any:
    ex = kw.pop("extractor", None) or StubExtractor()
    return build_sft(items_of(src), ex, FactsCache(cache_dir, ex.config), root=src, **kw)


@pytest.mark.parametrize("references, train_rows", [("each", 15), ("sample", 3)])
def test_splits_and_counts(source: Path, tmp_path: Path, references: str, train_rows: int) -> None:
    dsd = build(source, tmp_path / "cache", references=references)
    assert list(dsd) == ["train", "validation", "test"]
    assert {s: len(ds) for s, ds in dsd.items()} == {"train": train_rows, "validation": 1, "test": 1}
    info = dsd.build_info
    assert info["images"] == {"train": 3, "validation": 1, "test": 1}
    assert info["dropped"] == {"no_split": 1, "image_error": 0, "no_reference": 0}
    assert all(len(r) == 5 for r in dsd["train"]["references"])
    assert all(r["output"] == r["references_clean"][r["ref_index"]] for split in dsd.values() for r in split)
    for split in ("validation", "test"):
        assert dsd[split][0]["ref_index"] == 0
    if references == "each":
        assert dsd["train"]["ref_index"] == [0, 1, 2, 3, 4] * 3
        assert dsd["train"]["image"][:6] == [dsd["train"][0]["image"]] * 5 + [dsd["train"][5]["image"]]


def test_alpaca_fields_and_messages_match_the_captioning_prompts(source: Path, tmp_path: Path) -> None:
    dsd = build(source, tmp_path / "cache", style="detailed")
    chat = load_template("chat")
    for row in (r for split in dsd.values() for r in split):
        facts = Facts.from_dict(json.loads(row["facts"]))
        assert facts.image.sha256 == row["sha256"] and facts.image.source == row["image"]
        assert row["instruction"] == alpaca_instruction("detailed")
        assert row["input"] == alpaca_input(facts)
        expected = [{"role": r, "content": c} for r, c in chat.render(facts, style="detailed").messages]
        assert row["messages"] == expected + [{"role": "assistant", "content": row["output"]}]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["image"].startswith("images/") and (source / row["image"]).is_file()


def test_context_labels_reach_both_prompt_forms(source: Path, tmp_path: Path) -> None:
    row = build(source, tmp_path / "cache", context_labels=True)["train"][0]
    facts = Facts.from_dict(json.loads(row["facts"]))
    assert row["input"] == alpaca_input(facts, context_labels=True)
    assert row["messages"][1]["content"] == load_template("chat").render(facts, context_labels=True).messages[1][1]


@pytest.mark.parametrize("raw, clean", [
    ("A child in a pink dress is climbing up a set of stairs in an entry way .",
     "A child in a pink dress is climbing up a set of stairs in an entry way."),
    ("a black dog and a spotted dog are fighting", "A black dog and a spotted dog are fighting."),
    ("Two dogs , one brown ,  play\tin the  snow .", "Two dogs, one brown, play in the snow."),
    ("  is that a dog ? ", "Is that a dog?"),
    ("A dog jumps !", "A dog jumps!"),
    ("A boy on a bike ,", "A boy on a bike."),
    ("3 dogs run", "3 dogs run."),
    (" . ", ""),
    ("", ""),
])
def test_clean_reference(raw: str, clean: str) -> None:
    assert clean_reference(raw) == clean


def test_targets_are_cleaned(source: Path, tmp_path: Path) -> None:
    dsd = build(source, tmp_path / "cache")
    for r in dsd["train"]:
        assert r["output"] == clean_reference(r["output"]) and " ." not in r["output"]
    raw = {it.path.name: list(it.captions) for it in items_of(source)}
    for row in (r for split in dsd.values() for r in split):
        assert row["references"] == raw[Path(row["image"]).name]  # as written, for scoring
        assert row["references_clean"] == [clean_reference(c) for c in row["references"]]
    assert any(" ." in c for r in dsd["train"]["references"] for c in r)  # Flickr's spacing was there


def test_sample_pick_depends_on_seed_only(source: Path, tmp_path: Path) -> None:
    picks = {seed: build(source, tmp_path / "cache", references="sample", seed=seed)["train"]["ref_index"]
             for seed in range(6)}
    assert picks[0] == build(source, tmp_path / "cache", references="sample", seed=0)["train"]["ref_index"]
    assert len({tuple(p) for p in picks.values()}) > 1


def test_same_inputs_give_the_same_bytes(source: Path, tmp_path: Path) -> None:
    cold_ex, warm_ex = StubExtractor(), StubExtractor()
    cold = save_sft(build(source, tmp_path / "cache", extractor=cold_ex), tmp_path / "a")
    warm_dsd = build(source, tmp_path / "cache", extractor=warm_ex)
    assert warm_dsd.build_stats == {"cache_hits": 5, "cache_misses": 0} and warm_ex.calls == 0
    warm = save_sft(warm_dsd, tmp_path / "b")
    assert cold == warm
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "build.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_save_sft_files_and_build_json(source: Path, tmp_path: Path) -> None:
    import datasets

    dsd = build(source, tmp_path / "cache", references="sample", source=str(source))
    build_json = save_sft(dsd, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "build.json", "hf", "test.jsonl", "train.jsonl", "validation.jsonl"]
    assert json.loads((tmp_path / "out" / "build.json").read_text()) == build_json
    assert build_json["rows"] == {"train": 3, "validation": 1, "test": 1}
    assert build_json["source"] == str(source) and build_json["references"] == "sample"
    assert build_json["facts_config_hash"] == config_hash(FactsConfig())
    assert build_json["facts_config"]["detect"]["detector"] == "ssd-mobilenet-v2"
    assert build_json["data_hash"] == data_hash(dsd["train"])
    lines = (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == dsd["train"].to_list()
    loaded = datasets.load_from_disk(str(tmp_path / "out" / "hf"))
    assert loaded["train"].to_list() == dsd["train"].to_list() and loaded["test"].features == dsd["test"].features
    save_sft(dsd, tmp_path / "out")  # writing over an older build is fine


def test_data_hash_follows_the_train_pairs(source: Path, tmp_path: Path) -> None:
    each = build(source, tmp_path / "cache")["train"]
    rows = each.to_list()
    assert data_hash(rows) == data_hash(each) == data_hash({"sha256": r["sha256"], "output": r["output"]} for r in rows)
    changed = [dict(rows[0], output=rows[0]["output"] + "!"), *rows[1:]]
    assert data_hash(changed) != data_hash(rows)
    assert data_hash(rows[::-1]) != data_hash(rows)
    assert data_hash(build(source, tmp_path / "cache", references="sample")["train"]) != data_hash(rows)


def test_unusable_images_and_captions_are_dropped_and_counted(source: Path, tmp_path: Path) -> None:
    items = items_of(source)
    (source / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 20)
    items += [CaptionedImage(source / "images" / "broken.jpg", ("a dog .",), "train"),
              CaptionedImage(items[0].path, (" . ", ""), "test")]
    ex = StubExtractor()
    dsd = build_sft(items, ex, None, root=source)
    assert dsd.build_info["dropped"] == {"no_split": 1, "image_error": 1, "no_reference": 1}
    assert dsd.build_info["errors"] == [{"image": "images/broken.jpg", "reason": "truncated"}]
    assert dsd.build_stats == {"cache_hits": 0, "cache_misses": 7}
    assert ex.calls == 7  # without a cache every kept image is extracted


def test_captions_that_clean_to_nothing_leave_references_clean_only(source: Path) -> None:
    it = items_of(source)[0]
    dsd = build_sft([CaptionedImage(it.path, (" . ", "a cat sits ."), "train")], StubExtractor(), None, root=source)
    (row,) = dsd["train"].to_list()
    assert (row["references"], row["references_clean"]) == ([" . ", "a cat sits ."], ["A cat sits."])
    assert (row["output"], row["ref_index"]) == ("A cat sits.", 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"references": "all"}, "references must be one of each, sample"),
    ({"style": "poetic"}, "style must be one of"),
])
def test_bad_options(source: Path, tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(source, tmp_path / "cache", **kwargs)


def test_unknown_split_and_outside_root_are_refused(source: Path, tmp_path: Path) -> None:
    it = items_of(source)[0]
    with pytest.raises(ValueError, match="unknown split 'restval'"):
        build_sft([CaptionedImage(it.path, it.captions, "restval")], StubExtractor(), None)
    with pytest.raises(ValueError, match="not under the source root"):
        build_sft([it], StubExtractor(), None, root=tmp_path / "elsewhere")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GROUNDCAP_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "facts"
    monkeypatch.delenv("GROUNDCAP_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "groundcap" / "facts"


@pytest.mark.models
def test_build_sft_command_end_to_end(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    add_build_sft_parser(parser.add_subparsers())
    argv = ["build-sft", str(source), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
            "--references", "sample", "--conf", "0.3", "--datastore", "none"]  # facts-only prompts, checked below
    args = parser.parse_args(argv)
    assert args.func is run_build_sft and run_build_sft(args) == 0
    first = capsys.readouterr().out
    assert "0 hits, 5 misses" in first and "train:     3 images      3 rows" in first
    assert run_build_sft(parser.parse_args(argv)) == 0
    assert "5 hits, 0 misses" in capsys.readouterr().out
    build_json = json.loads((tmp_path / "out" / "build.json").read_text())
    assert build_json["facts_config"]["detect"]["conf"] == 0.3 and build_json["dropped"]["no_split"] == 1
    row = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert row["input"] == alpaca_input(Facts.from_dict(json.loads(row["facts"])))


class KeyedStore:
    """A datastore stand-in over the source's own photos: photo i is nearest photos i+1, i+2, ... (by name)."""

    def __init__(self, names: list[str]):
        import numpy as np

        self.names, self.path, self.embedding_name, self.dim = names, Path("fake-store"), "fake", len(names)
        self.vectors = np.eye(len(names), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.names)

    def embed(self, paths):
        import numpy as np

        return np.stack([self.vectors[self.names.index(Path(p).name)] for p in paths])

    def neighbours_of_vectors(self, queries, k, exclude):
        from groundcap.records import Neighbour

        out = []
        for q, banned in zip(queries, exclude):
            i = int(q.argmax())
            order = [self.names[(i + d) % len(self.names)] for d in range(len(self.names))]
            near = [n for n in order if n not in banned][:k]
            out.append(tuple(Neighbour(n, (f"caption of {n}",), 0.9 - 0.1 * r) for r, n in enumerate(near)))
        return out


def test_retrieved_neighbours_go_into_every_prompt_but_never_the_photo_itself(source: Path, tmp_path: Path) -> None:
    names = [it.path.name for it in items_of(source)]
    dsd = build(source, tmp_path / "cache", references="each", datastore=KeyedStore(names), neighbours=2,
                neighbour_pool=4)
    assert dsd.build_info["retrieval"] == {"datastore": "fake-store", "photos": 6, "embedding": "fake",
                                           "neighbours": 2, "neighbour_pool": 4}
    for split in dsd.values():
        for row in split:
            own = Path(row["image"]).name
            shown = [ln[len("- Caption of "):-1] for ln in row["input"].splitlines() if ln.startswith("- Caption of")]
            assert len(shown) == 2 and own not in shown
            assert "Captions of similar photos" in row["messages"][-2]["content"]
    validation = dsd["validation"][0]
    i = names.index(Path(validation["image"]).name)
    assert f"- Caption of {names[(i + 1) % 6]}.\n- Caption of {names[(i + 2) % 6]}." in validation["input"]
    # train rows draw their two from the four nearest, per row, so the five rows of one photo differ
    first = [r["input"] for r in dsd["train"] if r["image"] == dsd["train"][0]["image"]]
    assert len(first) == 5 and len(set(first)) > 1


def test_without_a_datastore_the_prompts_are_unchanged(source: Path, tmp_path: Path) -> None:
    dsd = build(source, tmp_path / "cache")
    assert dsd.build_info["retrieval"] is None
    assert not any("Captions of similar photos" in r["input"] for r in dsd["train"])


def test_build_sft_defaults_agree_with_train_llm_captioning_and_the_shipped_adapter() -> None:
    from groundcap.config import GenerateConfig, RetrieveConfig, TrainLLMConfig
    from groundcap.llm_finetune.adapters import embedded_adapter_dir

    parser = argparse.ArgumentParser()
    add_build_sft_parser(parser.add_subparsers())
    args = parser.parse_args(["build-sft", "data/", "--out", "sft/"])
    shipped = json.loads((embedded_adapter_dir() / "groundcap_adapter.json").read_text())
    assert args.references == TrainLLMConfig().references == shipped["train_config"]["references"] == "each"
    assert args.seed == TrainLLMConfig().seed == GenerateConfig().seed == shipped["train_config"]["seed"]
    assert args.neighbours == RetrieveConfig().neighbours == shipped["data"]["retrieval"]["neighbours"]
    assert args.datastore == RetrieveConfig().datastore == "embedded"  # the shipped adapter's: flickr8k-224 (embedded)
    assert args.neighbour_pool == shipped["data"]["retrieval"]["neighbour_pool"]

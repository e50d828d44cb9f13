"""best-of-n: the writer's best candidate per train photo becomes the target, and a cut-off run resumes."""

import json

import pytest

from groundcap.llm_finetune.best_of_n import best_of_n, pick_best, row_prompt
from groundcap.llm_finetune.sft_data import load_sft
from groundcap.records import Candidate

datasets = pytest.importorskip("datasets")

REFS = {
    "images/0.jpg": ["a black dog runs on the grass .", "a dog runs through the grass .", "the black dog is running ."],
    "images/1.jpg": ["a man rides a red bike .", "a man on a bicycle .", "a person rides a red bicycle down a street ."],
    "images/2.jpg": ["two children play in the snow .", "kids playing in snow .", "two kids in the snow ."],
}


def _row(image):
    refs = REFS[image]
    return {"image": image, "sha256": "0" * 64, "instruction": "Write a caption.", "input": f"Objects: {image}.",
            "output": refs[0], "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": refs[0]}],
            "facts": "{}", "references": refs, "references_clean": refs, "ref_index": 0}


@pytest.fixture
def sft_dir(tmp_path):
    dsd = datasets.DatasetDict({
        "train": datasets.Dataset.from_list([_row(i) for i in REFS]),
        "validation": datasets.Dataset.from_list([_row("images/0.jpg")]),
        "test": datasets.Dataset.from_list([_row("images/1.jpg")]),
    })
    dsd.save_to_disk(str(tmp_path / "sft" / "hf"))
    (tmp_path / "sft" / "build.json").write_text(json.dumps({"data_hash": "abc", "retrieval": {"neighbours": 5}}))
    return tmp_path / "sft"


#: What the fake writer says for each photo: one good caption per photo, never the first.
SAYS = {
    "images/0.jpg": ["A cat sits on a red car.", "A black dog runs through the grass.", "A dog."],
    "images/1.jpg": ["Two children play in the snow.", "", "A man rides a red bicycle."],
    "images/2.jpg": ["A man on a bicycle.", "Two kids play in the snow."],
}


class FakeWriter:
    def __init__(self, fail_after=None):
        self.calls, self.fail_after = [], fail_after

    def __call__(self, prompts):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("cut off")
        self.calls.append(len(prompts))
        out = []
        for p in prompts:
            image = p.text.split("Objects: ")[1].split(".jpg")[0] + ".jpg"
            out.append([Candidate(t, "ok" if t else "empty") for t in SAYS[image]])
        return out


def test_the_prompt_is_the_alpaca_text_captioning_uses():
    from groundcap.llm_finetune.prompt_templates import alpaca_text

    p = row_prompt({"instruction": "Write a caption.", "input": "Objects: a dog."})
    assert p.text == alpaca_text("Write a caption.", "Objects: a dog.") and p.template == "alpaca"


def test_pick_best_takes_the_candidate_closest_to_the_references():
    best = pick_best({k: v for k, v in SAYS.items()}, REFS)
    assert best["images/0.jpg"]["text"] == "A black dog runs through the grass." and best["images/0.jpg"]["index"] == 1
    assert best["images/1.jpg"]["text"] == "A man rides a red bicycle."
    assert best["images/2.jpg"]["index"] == 1
    assert all(b["cider"] >= b["first_cider"] for b in best.values())
    assert best["images/0.jpg"]["cider"] > best["images/0.jpg"]["first_cider"]


def test_ties_go_to_the_first_candidate():
    best = pick_best({"images/0.jpg": ["A dog runs.", "A dog runs."]}, {"images/0.jpg": REFS["images/0.jpg"]})
    assert best["images/0.jpg"]["index"] == 0


def test_best_of_n_writes_a_build_sft_folder_with_the_best_as_output(sft_dir, tmp_path):
    build = best_of_n(sft_dir, tmp_path / "bon", FakeWriter(), batch=2, progress=False)
    dsd, saved = load_sft(tmp_path / "bon")
    outputs = dict(zip(dsd["train"]["image"], dsd["train"]["output"]))
    assert outputs == {"images/0.jpg": "A black dog runs through the grass.",
                       "images/1.jpg": "A man rides a red bicycle.", "images/2.jpg": "Two kids play in the snow."}
    assert len(dsd["validation"]) == 1 and dsd["validation"]["output"] == [REFS["images/0.jpg"][0]]  # unchanged
    stats = saved["best_of_n"]
    assert stats["photos"] == 3 and stats["first_kept"] == 0 and stats["best_cider"] > stats["first_cider"]
    assert saved["retrieval"] == {"neighbours": 5} and saved["data_hash"] != "abc" and build == saved
    lines = (tmp_path / "bon" / "candidates.jsonl").read_text().splitlines()
    assert [json.loads(x)["candidates"] for x in lines][1] == ["Two children play in the snow.",
                                                              "A man rides a red bicycle."]  # the empty one dropped


def test_a_cut_off_run_resumes_without_writing_again(sft_dir, tmp_path):
    with pytest.raises(RuntimeError, match="cut off"):
        best_of_n(sft_dir, tmp_path / "bon", FakeWriter(fail_after=1), batch=2, progress=False)
    assert len((tmp_path / "bon" / "candidates.jsonl").read_text().splitlines()) == 2  # the first batch is kept
    with (tmp_path / "bon" / "candidates.jsonl").open("a") as fh:
        fh.write('{"image": "images/2.jp')  # a torn line from the kill
    writer = FakeWriter()
    best_of_n(sft_dir, tmp_path / "bon", writer, batch=2, progress=False)
    assert writer.calls == [1]  # only the photo that was not finished
    dsd, _ = load_sft(tmp_path / "bon")
    assert len(dsd["train"]) == 3


def test_the_cli_runs_a_real_tiny_model_and_refuses_to_train_on_garbage(tiny_llama, sft_dir, tmp_path, capsys):
    """A random model's words are not captions: each photo is written down, none becomes a target."""
    from groundcap.cli import main

    assert main(["best-of-n", str(sft_dir), "--out", str(tmp_path / "bon"), "--model", str(tiny_llama),
                 "--adapter", "none", "--n", "3", "--max-new-tokens", "4", "--limit", "2"]) == 2
    assert "no candidates were written for the 2 train photos" in capsys.readouterr().err
    lines = [json.loads(x) for x in (tmp_path / "bon" / "candidates.jsonl").read_text().splitlines()]
    assert [x["image"] for x in lines] == ["images/0.jpg", "images/1.jpg"]


def test_the_cli_says_what_is_wrong_with_the_folder(tmp_path, capsys):
    from groundcap.cli import main

    assert main(["best-of-n", str(tmp_path), "--out", str(tmp_path / "bon"), "--generator", "template"]) == 2
    assert "build-sft" in capsys.readouterr().err

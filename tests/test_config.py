import argparse
import dataclasses

import pytest

from groundcap.config import (
    CaptionConfig,
    ColorConfig,
    DetectConfig,
    FactsConfig,
    GenerateConfig,
    OutputConfig,
    PromptConfig,
    RerankConfig,
    RetrieveConfig,
    RunConfig,
    SceneConfig,
    TrainClipConfig,
    TrainLLMConfig,
    config_hash,
    merge,
    to_dict,
)
from groundcap.config_cli import add_config_flags, config_from_args
from groundcap.errors import ConfigError


def parse(argv):
    p = argparse.ArgumentParser()
    add_config_flags(p, FactsConfig)
    return config_from_args(FactsConfig, p.parse_args(argv))


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"detect": {"conf": "x"}}, "expected float"),
        ({"detect": {"nope": 1}}, "unknown config key 'detect.nope'"),
        ({"detect": 3}, "expected a mapping"),
        ({"scene": {"pose": "maybe"}}, "expected true/false"),
        ({"detect": {"max_objects": 2.5}}, "expected int"),
    ],
)
def test_merge_rejects_bad_values(overrides, error):
    with pytest.raises(ValueError, match=error):
        merge(FactsConfig(), overrides)


def test_merge_coerces_types():
    cfg = merge(FactsConfig(), {"detect": {"conf": "0.25", "classes": "dog, cat"}, "scene": {"pose": "yes"}})
    assert cfg.detect.conf == 0.25 and cfg.detect.classes == ("dog", "cat") and cfg.scene.pose is True


def test_every_field_has_help_and_a_flag():
    p = argparse.ArgumentParser()
    add_config_flags(p, FactsConfig)
    text = p.format_help()
    for section in ("detect", "colors", "spatial", "scene"):
        for name in to_dict(FactsConfig())[section]:
            assert f"--{section}.{name.replace('_', '-')}" in text


def test_flags_override_yaml_which_overrides_defaults(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detect:\n  conf: 0.2\n  max_objects: 3\nspatial:\n  max_relations: 2\n")
    cfg = parse(["--config", str(f), "--conf", "0.6"])
    assert cfg.detect.conf == 0.6  # flag wins
    assert cfg.detect.max_objects == 3  # from the file
    assert cfg.spatial.max_relations == 2
    assert cfg.colors == FactsConfig().colors  # untouched


def test_bad_yaml_is_a_config_error(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detect:\n  confidence: 0.2\n")
    with pytest.raises(ConfigError, match="detect.confidence"):
        parse(["--config", str(f)])


def test_config_hash_changes_with_config():
    assert config_hash(FactsConfig()) == config_hash(FactsConfig())
    assert config_hash(FactsConfig()) != config_hash(FactsConfig(detect=DetectConfig(conf=0.3)))


@pytest.mark.parametrize(
    "cls, values, error",
    [
        (ColorConfig, {"color_method": "median-cut"}, "color_method must be one of"),
        (ColorConfig, {"n_colors": -1}, "n_colors and palette_size must not be negative"),
        (ColorConfig, {"palette_size": -1}, "n_colors and palette_size must not be negative"),
        (ColorConfig, {"center_weight": 0.0}, r"center_weight must be positive \(1 = flat\), got 0.0"),
        (ColorConfig, {"max_pixels": 0}, "max_pixels must be at least 1, got 0"),
        (SceneConfig, {"classifier": "resnet"}, "unknown classifier 'resnet'; expected efficientnet-lite3 or none"),
        (SceneConfig, {"ocr": "maybe"}, "ocr must be auto, on or off, got 'maybe'"),
        (PromptConfig, {"few_shot": 2}, "few_shot needs examples: pass --examples"),
        (GenerateConfig, {"n": 0}, "n must be at least 1, got 0"),
        (GenerateConfig, {"max_new_tokens": 0}, "max_new_tokens must be at least 1"),
        (GenerateConfig, {"batch_size": 0}, "batch_size must be at least 1"),
        (GenerateConfig, {"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        (GenerateConfig, {"temperature": -1.0}, "temperature must be at least 0"),
        (GenerateConfig, {"dtype": "int4"}, "dtype must be one of"),
        (GenerateConfig, {"decoding": "beam"}, "decoding must be one of"),
        (GenerateConfig, {"base_url": "file:///etc/passwd"}, "base_url must start with http:// or https://"),
        (GenerateConfig, {"timeout": 0.0}, "timeout must be positive, got 0.0"),
        (GenerateConfig, {"max_retries": -1}, "max_retries must be 0 or more, got -1"),
        (RerankConfig, {"scorers": ("grounding", "clip")}, r"2 scorers \(grounding, clip\) but 3 weights; give one"),
        (RerankConfig, {"weights": (1.0,)}, r"3 scorers \(grounding, clip, cider\) but 1 weights"),
        (RetrieveConfig, {"datastore": ""}, "datastore must be embedded, none or a folder"),
        (RetrieveConfig, {"neighbours": 0}, "neighbours must be between 1 and 100, got 0"),
        (RetrieveConfig, {"neighbours": 101}, "neighbours must be between 1 and 100, got 101"),
        (RetrieveConfig, {"rank_neighbours": 0}, "rank_neighbours must be between 1 and 100, got 0"),
        (OutputConfig, {"shard_size": 0}, "shard_size must be at least 1"),
        (TrainLLMConfig, {"backend": "deepspeed"}, "backend must be peft or unsloth, got 'deepspeed'"),
        (TrainLLMConfig, {"template": "metadata"}, "train-llm templates are alpaca or chat, got 'metadata'"),
        (TrainLLMConfig, {"references": "all"}, "references must be each or sample, got 'all'"),
        (TrainClipConfig, {"init": "random"}, "init must be pretrained or scratch, got 'random'"),
        (TrainClipConfig, {"schedule": "step"}, "schedule must be cosine or constant, got 'step'"),
        (TrainClipConfig, {"epochs": 0}, "need epochs >= 1 and batch_size >= 2, got 0 and 128"),
        (TrainClipConfig, {"batch_size": 1}, "need epochs >= 1 and batch_size >= 2, got 20 and 1"),
        (TrainClipConfig, {"wise_ft": 1.5}, r"wise_ft must be in \[0, 1\], got 1.5"),
    ],
)
def test_configs_refuse_bad_values(cls, values, error):
    with pytest.raises(ConfigError, match=error):
        cls(**values)
    with pytest.raises(ConfigError, match=error):  # merge (YAML, flags) checks through the same __post_init__
        merge(cls(), values)


@pytest.mark.parametrize("cls", [FactsConfig, CaptionConfig, RunConfig, TrainLLMConfig, TrainClipConfig])
def test_defaults_are_valid(cls):
    assert to_dict(cls()) == to_dict(merge(cls(), {}))


def test_valid_edge_values_pass():
    assert GenerateConfig(temperature=0.0, top_p=1.0, max_retries=0, base_url="http://localhost:8000/v1").top_p == 1.0
    assert RerankConfig(scorers=("logprob",), weights=(1.0,)).scorers == ("logprob",)
    assert PromptConfig(few_shot=2, examples="captions.jsonl").few_shot == 2
    assert TrainClipConfig(wise_ft=0.0, batch_size=2).wise_ft == 0.0


def parse_caption(argv, cls=CaptionConfig):
    p = argparse.ArgumentParser()
    add_config_flags(p, cls)
    return config_from_args(cls, p.parse_args(argv))


def test_a_bad_flag_value_is_a_config_error_with_the_same_message():
    with pytest.raises(ConfigError, match=r"2 scorers \(grounding, clip\) but 3 weights"):
        parse_caption(["--scorers", "grounding,clip"])
    with pytest.raises(ConfigError, match="shard_size must be at least 1"):
        parse_caption(["--shard-size", "0"], RunConfig)


def test_a_files_scorers_meet_a_flags_weights_before_the_check(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("rerank:\n  scorers: [grounding, logprob]\n")
    cfg = parse_caption(["--config", str(f), "--weights", "1,0.5"])
    assert (cfg.rerank.scorers, cfg.rerank.weights) == (("grounding", "logprob"), (1.0, 0.5))


def test_a_file_section_that_is_no_mapping_is_still_refused_beside_a_flag(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detect: 3\n")
    with pytest.raises(ConfigError, match="detect: expected a mapping"):
        parse(["--config", str(f), "--conf", "0.3"])


def test_one_image_text_config_gives_every_command_its_defaults():
    from groundcap.config import IMAGE_TEXT, ImageTextConfig
    from groundcap.rerank.clip_cli import add_eval_retrieval_parser, add_train_clip_parser
    from groundcap.rerank.index_cli import add_index_parser

    assert IMAGE_TEXT == ImageTextConfig() == RerankConfig().image_text
    assert TrainClipConfig().image_text == ImageTextConfig()
    tuned = TrainClipConfig(model="ViT-B-32", pretrained="openai", checkpoint="ck", device="cpu").image_text
    assert tuned == ImageTextConfig(model="ViT-B-32", pretrained="openai", checkpoint="ck", device="cpu")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_index_parser(sub)
    add_train_clip_parser(sub)
    eval_sub = sub.add_parser("eval").add_subparsers()
    add_eval_retrieval_parser(eval_sub)
    for argv in (["index", "run"], ["eval", "retrieval", "data"]):
        args = parser.parse_args(argv)
        assert (args.model, args.pretrained or "", args.checkpoint or "", args.device) == dataclasses.astuple(IMAGE_TEXT)
    clip = config_from_args(TrainClipConfig, parser.parse_args(["train-clip", "data", "--out", "o"]))
    assert clip.image_text == IMAGE_TEXT
    # The old flags and YAML keys still name the model (the saved config keeps its flat keys).
    rerank = parse_caption(["--clip-model", "ViT-B-32", "--clip-pretrained", "openai"]).rerank
    assert rerank.image_text == ImageTextConfig(model="ViT-B-32", pretrained="openai")
    assert {"clip_model", "clip_pretrained", "clip_checkpoint"} <= set(to_dict(RerankConfig()))

import argparse

import pytest

from groundcap.config import DetectConfig, FactsConfig, config_hash, merge, to_dict
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

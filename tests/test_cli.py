import json

import pytest

from groundcap.cli import main


def test_list_detectors(capsys):
    assert main(["list", "detectors"]) == 0
    assert "ssd-mobilenet-v2" in capsys.readouterr().out


def test_help_lists_config_flags(capsys):
    with pytest.raises(SystemExit):
        main(["facts", "--help"])
    out = capsys.readouterr().out
    for flag in ("--detect.conf", "--conf", "--max-objects", "--classes", "--color-method", "--config"):
        assert flag in out


@pytest.mark.models
def test_facts_text_and_json(bus_path, capsys):
    assert main(["facts", str(bus_path)]) == 0
    out = capsys.readouterr().out
    assert "Objects: " in out and "a bus" in out and "Setting: outdoors" in out
    assert main(["facts", str(bus_path), "--json", "--max-objects", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "ok" and len(record["facts"]["detections"]) == 2


@pytest.mark.models
def test_bad_file_gets_a_status_and_the_good_one_still_runs(bus_path, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"")
    assert main(["facts", str(bad), str(bus_path), "--json"]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["status"] for r in rows] == ["empty_file", "ok"]
    assert "broken.jpg" in captured.err


@pytest.mark.models
def test_yaml_config_and_flag_precedence(bus_path, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("detect:\n  classes: [bus]\n  conf: 0.9\n")
    assert main(["facts", str(bus_path), "--json", "--config", str(cfg), "--conf", "0.5"]) == 0
    facts = json.loads(capsys.readouterr().out)["facts"]
    assert [d["label"] for d in facts["detections"]] == ["bus"]


def test_bad_config_is_a_usage_error(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("detect:\n  nope: 1\n")
    assert main(["facts", "x.jpg", "--config", str(cfg)]) == 2
    assert "detect.nope" in capsys.readouterr().err


def test_unknown_detector_is_a_usage_error(capsys):
    assert main(["facts", "x.jpg", "--detector", "nonsense"]) == 2
    assert "unknown detector" in capsys.readouterr().err


@pytest.mark.models
def test_caption_with_the_template_generator(bus_path, capsys):
    assert main(["caption", str(bus_path), "--generator", "template"]) == 0
    out = capsys.readouterr().out
    assert "bus" in out and "*1. [ok, grounding 1.00, clip " in out
    assert "+ object 'Three people': supported" in out and "\n       x " not in out  # no contradicted claim


@pytest.mark.models
def test_caption_json_record(bus_path, capsys):
    assert main(["caption", str(bus_path), "--generator", "template", "--json", "-n", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "ok" and record["caption"] and record["candidates"][0]["status"] == "ok"
    assert record["facts"]["detections"]


def test_caption_unknown_generator_is_a_usage_error(capsys):
    assert main(["caption", "x.jpg", "--generator", "nope"]) == 2
    assert "unknown generator" in capsys.readouterr().err


@pytest.mark.models
def test_a_caption_and_a_run_print_no_library_warnings(bus_path, tmp_path):
    """The default path (SSD, EfficientNet, the embedded SmolLM2 + LoRA, the grounding and CLIP heads) is quiet."""
    import shutil
    import subprocess
    import sys

    from groundcap.llm_finetune.generators.hf import embedded_model_dir

    embedded_model_dir()  # the one-time conversion announces itself; it is not what this test is about
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(bus_path, images / "bus.jpg")
    for argv in (["caption", str(bus_path), "-n", "2"],
                 ["run", str(images), "--out", str(tmp_path / "out"), "-n", "2", "--output.progress", "false"]):
        done = subprocess.run([sys.executable, "-m", "groundcap.cli", *argv], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        noise = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert noise == [], noise

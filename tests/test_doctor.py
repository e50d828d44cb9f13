"""groundcap doctor: one line per check, exit 1 only when the default path is broken."""

from __future__ import annotations

import importlib.util
import json

import pytest

from groundcap.cli import main
from groundcap.doctor import Check, run_checks

REQUIRED = ["python", "versions", "opencv", "ssd-mobilenet-v2", "efficientnet-lite3", "movenet", "smollm2+adapter",
            "minilm", "image-text heads", "datastore", "cache dir"]
OPTIONAL = ["java", "pycocoevalcap", "ultralytics", "open_clip", "lancedb", "ray", "chromium"]


@pytest.mark.models
def test_doctor_loads_every_shipped_model_on_this_install(capsys):
    assert main(["doctor", "--json"]) == 0
    checks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["name"] for c in checks] == REQUIRED + OPTIONAL
    assert all(c["ok"] for c in checks if c["required"])
    by_name = {c["name"]: c for c in checks}
    assert "+lora:embedded" in by_name["smollm2+adapter"]["detail"]
    assert "torch 2.14.1" in by_name["versions"]["detail"]


def test_an_opencv_5_fails_the_doctor_with_the_fix(monkeypatch, capsys):
    import cv2

    monkeypatch.delattr(cv2.dnn, "readNetFromTensorflow")
    monkeypatch.setattr(cv2, "__version__", "5.1.0")
    assert main(["doctor", "--no-models"]) == 1
    out = capsys.readouterr()
    (line,) = [ln for ln in out.out.splitlines() if " opencv " in ln]
    assert line.startswith("FAIL") and "cv2 5.1.0 has no TensorFlow importer" in line
    assert "fix: OpenCV 5.1.0" in line and "'opencv-python-headless>=4.8,<5'" in line
    assert "1 required check(s) failed" in out.err


def test_an_unwritable_cache_dir_fails(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GROUNDCAP_CACHE", str(blocker / "cache"))
    (cache,) = [c for c in run_checks(models=False) if c.name == "cache dir"]
    assert (cache.status, cache.fix) == ("FAIL", "set GROUNDCAP_CACHE to a writable folder")


def test_a_missing_extra_is_reported_but_does_not_fail(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    monkeypatch.setenv("PATH", "")  # no java, no chromium
    code = main(["doctor", "--no-models"])
    lines = {ln.split()[1]: ln for ln in capsys.readouterr().out.splitlines()}
    assert code == 0
    assert lines["ray"].startswith("missing") and "fix: pip install -c constraints.txt -e '.[scale]'" in lines["ray"]
    assert lines["java"].startswith("missing") and "default-jre-headless" in lines["java"]


def test_an_unexpected_error_is_a_failed_line_not_a_crash(monkeypatch):
    import groundcap.doctor as doctor

    def boom() -> str:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(doctor, "_python", boom)
    (first, *_) = run_checks(models=False)
    assert (first.name, first.status, first.detail) == ("python", "FAIL", "RuntimeError: disk on fire")


def test_check_lines():
    assert Check("opencv", True, "cv2 4.14").line() == "ok       opencv               cv2 4.14"
    assert Check("x", False, "gone", "reinstall").status == "FAIL"

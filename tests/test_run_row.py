"""RunRow: the typed run row is exactly the Parquet row, validates itself, and parses its JSON columns."""

from __future__ import annotations

import dataclasses

import pytest

from groundcap.data.run_shards import RUN_COLUMNS
from groundcap.records import Candidate, RunRow


def _row(**kw) -> RunRow:
    return RunRow("0123456789abcdef", "a.jpg", "/in/a.jpg", "ok", width=640, height=480, caption="a dog",
                  chosen=0, candidates='[{"source": "template", "status": "ok", "text": "a dog"}]',
                  models='{"generator": "template"}', **kw)


def test_to_dict_is_the_shard_row_in_column_order():
    d = _row().to_dict()
    assert list(d) == list(RUN_COLUMNS)
    assert RunRow.from_dict(d) == _row()


def test_from_dict_fills_missing_and_null_columns_and_ignores_others():
    row = RunRow.from_dict({"key": "k", "status": "not_found", "error": None, "extra": 1})
    assert (row.key, row.source, row.error, row.chosen, row.candidates, row.models) == ("k", "", "", -1, "[]", "{}")


def test_a_shard_written_before_the_retrieve_column_reads_back_with_zero_retrieve_seconds(tmp_path):
    import pyarrow.parquet as pq

    from groundcap.data.run_shards import write_parquet_atomic

    old = {k: v for k, v in _row().to_dict().items() if k != "time_retrieve"}
    path = write_parquet_atomic([old], tmp_path / "00000.parquet")
    table = pq.read_table(path).drop_columns(["time_retrieve"])  # the shard as an earlier version stored it
    pq.write_table(table, path)
    [stored] = pq.read_table(path).to_pylist()
    assert "time_retrieve" not in stored and RunRow.from_dict(stored).times()["retrieve"] == 0.0


@pytest.mark.parametrize("bad", [{"status": "sideways"}, {"width": -1}, {"chosen": -2}, {"caption": None}])
def test_a_bad_row_fails_where_it_is_made(bad):
    d = {**_row().to_dict(), **bad}
    with pytest.raises((ValueError, TypeError)):
        RunRow(**d)


def test_accessors_parse_the_json_columns():
    row = _row()
    assert row.captioned and dataclasses.replace(row, status="fallback").captioned
    assert not dataclasses.replace(row, caption="").captioned
    assert not dataclasses.replace(row, status="truncated").captioned
    assert row.candidate_records() == (Candidate("a dog", source="template"),)
    assert row.model_ids() == {"generator": "template"}
    assert row.facts_record() is None and row.facts_json() is None
    assert row.times() == {"decode": 0.0, "facts": 0.0, "retrieve": 0.0, "generate": 0.0, "rerank": 0.0}

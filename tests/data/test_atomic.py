"""atomic_file and atomic_dir: whole or nothing, and the temp names resumed runs look for."""

from __future__ import annotations

import pytest

from groundcap.data.atomic import atomic_dir, atomic_file, temp_name


def test_a_failed_file_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(path, "w") as fh:
        fh.write("half")
        raise RuntimeError
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    assert temp_name(path).name == ".a.json.tmp"


def test_unique_temp_names_and_mode(tmp_path):
    path = tmp_path / "k.npy"
    with atomic_file(path, unique=True, fsync=False) as fh:
        (tmp,) = [p.name for p in tmp_path.iterdir()]
        assert tmp.startswith(".k.npy.") and tmp.endswith(".tmp") and tmp != temp_name(path).name
        fh.write(b"x")
    assert path.read_bytes() == b"x" and path.stat().st_mode & 0o777 == 0o644


def test_atomic_dir_swaps_in_and_cleans_up(tmp_path):
    out = tmp_path / "store"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_dir(out) as tmp:
        assert tmp.name == ".store.tmp"
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError
    assert [p.name for p in out.iterdir()] == ["new.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_atomic_dir_without_replace_keeps_the_first_writer(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out, unique=True, replace=False) as tmp:
        (tmp / "w").write_text("second")
        out.mkdir()
        (out / "w").write_text("first")  # another process finished meanwhile
    assert (out / "w").read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]

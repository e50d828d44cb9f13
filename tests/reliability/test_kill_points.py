"""``groundcap run`` killed, stopped or starved of disk at precise points, then resumed.

Each fault runs the real CLI in a subprocess through ``_fault_runner.py``,
which wraps one library function from the outside (the product code has no
test hooks) and acts on its K-th call. Inputs: five Flickr photos, a
truncated JPEG and an HTML page named .jpg, in shards of 3 (3 shards:
``p0 p1 p2 | p3 p4 cut | page``), groups of 2 within a shard.

``kill -9`` (SIGKILL: no handler, no ``finally``) at:

============================  ===============================================================
id                            the moment
============================  ===============================================================
decode                        the 4th image decoded (shard 1's first photo), in a decode thread
detect                        the detector's 2nd batch (shard 0's last group): nothing committed
generate                      the generator's 3rd call (shard 1's first group): shard 0 committed
shard-half-written            shard 1's Parquet temp file holds half its bytes (fsynced)
shard-before-rename           shard 1's temp file is complete and fsynced, not yet renamed
shard-renamed-before-its-tar  shard 1 is committed, its WebDataset tar not yet begun
tar-half-written              shard 1's tar temp file holds one whole sample and no more
finalize-images               finalize copied 2 of the 5 images under images/
finalize-hf                   the hf/ dataset is saved under its temp name, not yet renamed
finalize-config               every output but config.json (the last one) is written
============================  ===============================================================

After each: the process died by SIGKILL where it was meant to, stopped short
of the end, and a plain rerun gives the uninterrupted outputs (Parquet row
for row; CSV, JSON, tars, image copies and sidecars, the hf data byte for
byte) with every key exactly once and no temp file left.

And ``--retry-failed`` (which rewrites a shard in place) killed just before
its rename: the old shard stands, and every format still agrees with it.

SIGTERM / SIGINT (Ctrl-C) while shard 1 is generated, while its Parquet
temp file is being written, and during finalize: exit 130 with a one-line
message, only whole shards committed, a rerun completes the job.

Disk faults: an ``--out`` that cannot be created (under /proc, under a
regular file, a regular file itself, in a read-only folder when not root) is a one-line error with
no traceback; a disk that fills up (``RLIMIT_FSIZE``: ``EFBIG``, root too)
after shard 0 or before finalize is a one-line error, leaves only whole
shards, and a rerun completes the job.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from fakes import FLICKR

pytestmark = [pytest.mark.models, pytest.mark.reliability]

RUNNER = Path(__file__).resolve().parent / "_fault_runner.py"
ALL = ("parquet", "webdataset", "csv", "hf", "imagefolder", "sidecar")
FLAGS = ("--generator", "template", "--batch-size", "2", "--scorers", "grounding", "--weights", "1",
         "--shard-size", "3", "--formats", ",".join(ALL), "--progress", "false")
N_GOOD = 5
N_INPUTS = N_GOOD + 2
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TIMEOUT = 120


# -- helpers -------------------------------------------------------------------


def plain(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "groundcap.cli", "run", str(src), "--out", str(out), *FLAGS]


def faulty(point: str, k: int, action: str, src: Path, out: Path) -> list[str]:
    return [sys.executable, str(RUNNER), point, str(k), action, "--", "run", str(src), "--out", str(out), *FLAGS]


def call(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)


def committed(out: Path) -> list[int]:
    from groundcap.data.run_dir import RunDir

    return RunDir(out).committed()


def parquet_rows(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [{k: v for k, v in r.items() if not k.startswith("time_")} for r in pq.read_table(path).to_pylist()]


def shard_rows(out: Path) -> list[dict]:
    """Every row of every committed shard, each shard read back with pyarrow (a torn one raises)."""
    return [r for i in committed(out) for r in parquet_rows(out / "shards" / f"{i:05d}.parquet")]


def temps(out: Path) -> list[str]:
    """Hidden temp files and folders anywhere in the run folder (the lock is not one)."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*") if p.name != ".lock")


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    # LiteRT logs one "INFO: Created TensorFlow Lite XNNPACK delegate" line of its own when the model loads
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("INFO: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def assert_same_outputs(ref: Path, out: Path) -> None:
    """``out`` holds what the uninterrupted run wrote, with each key once and nothing half-written."""
    got, want = shard_rows(out), shard_rows(ref)
    assert len(got) == N_INPUTS
    keys = Counter(r["key"] for r in got)
    assert keys == Counter(r["key"] for r in want) and set(keys.values()) == {1}  # 0 lost, 0 duplicated
    assert got == want
    assert committed(out) == committed(ref)
    files = ["captions.csv", "config.json", "webdataset/sizes.json", "hf/dataset_info.json"]
    for folder in ("webdataset", "images", "hf"):
        names = sorted(p.name for p in (ref / folder).iterdir() if not p.name.endswith(".json"))
        assert names == sorted(p.name for p in (out / folder).iterdir() if not p.name.endswith(".json")), folder
        files += [f"{folder}/{n}" for n in names]
    for name in files:
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name
    ref_state, out_state = ({k: v for k, v in json.loads((d / "hf" / "state.json").read_text()).items()
                             if k != "_fingerprint"} for d in (ref, out))  # datasets draws the fingerprint at random
    assert ref_state == out_state
    assert temps(out) == []


def resume(src: Path, out: Path, ref: Path, done: int) -> None:
    """A plain rerun skips the ``done`` images, captions the rest and ends with the reference outputs."""
    r = call(plain(src, out))
    assert r.returncode == 1, r.stderr  # 1: the truncated JPEG and the HTML page failed, by design
    assert f"this run: {N_INPUTS - done} processed, {done} already done" in r.stdout, r.stdout
    assert_same_outputs(ref, out)


# -- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Five Flickr photos (one with a sidecar caption), a truncated JPEG and an HTML page named .jpg."""
    if not (FLICKR / "images").is_dir():
        pytest.skip("../shared/data/flickr8k-mini is not beside the checkout")
    src = tmp_path_factory.mktemp("in")
    names = sorted(p.name for p in (FLICKR / "images").glob("*.jpg"))[:N_GOOD]
    for name in names:
        shutil.copy(FLICKR / "images" / name, src / name)
    (src / names[1]).with_suffix(".txt").write_text("a dog runs through the grass\n")
    (src / "cut.jpg").write_bytes((FLICKR / "images" / names[0]).read_bytes()[:2000])
    (src / "page.jpg").write_text("<html>not found</html>")
    return src


@pytest.fixture(scope="module")
def reference(photos, tmp_path_factory) -> Path:
    """One uninterrupted run, shared by every test."""
    out = tmp_path_factory.mktemp("reference") / "out"
    r = call(plain(photos, out))
    assert r.returncode == 1, r.stderr
    assert committed(out) == [0, 1, 2] and [len(parquet_rows(out / "shards" / f"{i:05d}.parquet"))
                                            for i in range(3)] == [3, 3, 1]
    assert [r["source"] for r in shard_rows(out)][-2:] == ["cut.jpg", "page.jpg"]  # the layout the points assume
    return out


# -- kill -9 -------------------------------------------------------------------


def _tar_half_written(out: Path, ref: Path) -> None:
    tmp = out / "webdataset" / ".00001.tar.tmp"
    assert 0 < tmp.stat().st_size < (ref / "webdataset" / "00001.tar").stat().st_size
    assert not (out / "webdataset" / "00001.tar").exists()


def _shard_half_written(out: Path, ref: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = out / "shards" / ".00001.parquet.tmp"
    assert tmp.stat().st_size > 0
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(tmp)  # torn: no footer
    assert not (out / "webdataset" / "00001.tar").exists()  # a shard's tar follows its commit


def _shard_complete_not_renamed(out: Path, ref: Path) -> None:
    assert parquet_rows(out / "shards" / ".00001.parquet.tmp") == parquet_rows(ref / "shards" / "00001.parquet")
    assert not (out / "webdataset" / "00001.tar").exists()


def _shard_without_its_tar(out: Path, ref: Path) -> None:
    assert not (out / "webdataset" / "00001.tar").exists() and not (out / "webdataset" / ".00001.tar.tmp").exists()


def _two_images_copied(out: Path, ref: Path) -> None:
    assert len(list((out / "images").glob("*.jpg"))) == 2 and not (out / "captions.csv").exists()


def _hf_not_renamed(out: Path, ref: Path) -> None:
    assert (out / ".hf.tmp" / "state.json").is_file() and not (out / "hf").exists()


def _all_but_config(out: Path, ref: Path) -> None:
    assert (out / "captions.csv").is_file() and (out / "hf").is_dir()


KILLS = [
    pytest.param("decode", 4, ([], [0]), None, id="decode"),
    pytest.param("detect", 2, ([],), None, id="detect"),
    pytest.param("generate", 3, ([0],), None, id="generate"),
    pytest.param("parquet", 2, ([0],), _shard_half_written, id="shard-half-written"),
    pytest.param("commit", 2, ([0],), _shard_complete_not_renamed, id="shard-before-rename"),
    pytest.param("committed", 2, ([0, 1],), _shard_without_its_tar, id="shard-renamed-before-its-tar"),
    pytest.param("tar", 12, ([0, 1],), _tar_half_written, id="tar-half-written"),
    pytest.param("image", 3, ([0, 1, 2],), _two_images_copied, id="finalize-images"),
    pytest.param("hf", 1, ([0, 1, 2],), _hf_not_renamed, id="finalize-hf"),
    pytest.param("config", 1, ([0, 1, 2],), _all_but_config, id="finalize-config"),
]


@pytest.mark.parametrize("point, k, allowed, check", KILLS)
def test_kill_9_at_a_precise_point_then_rerun_gives_the_uninterrupted_outputs(
        photos, reference, tmp_path, point, k, allowed, check):
    out = tmp_path / "out"
    r = call(faulty(point, k, "kill", photos, out))
    assert f"fault: {point} #{k} kill" in r.stderr, r.stderr
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert committed(out) in [list(a) for a in allowed]  # it really stopped there
    assert not (out / "config.json").exists()
    done = min(3 * len(committed(out)), N_INPUTS)
    assert len(shard_rows(out)) == done  # the committed shards read back whole
    if check is not None:
        check(out, reference)
    resume(photos, out, reference, done=done)


def assert_formats_agree(out: Path, captioned: int) -> None:
    """Every format holds exactly the captioned rows of the committed shards."""
    import tarfile

    by_shard = {i: sorted(r["key"] for r in parquet_rows(out / "shards" / f"{i:05d}.parquet")
                          if r["status"] in ("ok", "fallback")) for i in committed(out)}
    assert sum(map(len, by_shard.values())) == captioned
    sizes = json.loads((out / "webdataset" / "sizes.json").read_text())
    for i, keys in by_shard.items():
        with tarfile.open(out / "webdataset" / f"{i:05d}.tar") as tar:
            assert sorted(m.name[:-4] for m in tar.getmembers() if m.name.endswith(".txt")) == keys, i
        assert sizes[f"{i:05d}.tar"] == len(keys)
    meta = [json.loads(line)["key"] for line in (out / "images" / "metadata.jsonl").read_text().splitlines()]
    assert sorted(meta) == sorted(k for keys in by_shard.values() for k in keys)
    assert set(json.loads((out / "config.json").read_text())["outputs"].values()) == {captioned}


def test_kill_9_in_retry_failed_before_the_rename_leaves_every_format_agreeing(photos, tmp_path):
    """--retry-failed rewrites shard 1 in place; killed before the rename, the old shard stands, and so must its tar."""
    src = tmp_path / "in"
    shutil.copytree(photos, src)
    out = tmp_path / "out"
    assert call(plain(src, out)).returncode == 1
    shutil.copy(sorted((FLICKR / "images").glob("*.jpg"))[N_GOOD], src / "cut.jpg")  # the truncated JPEG is whole now
    r = call(faulty("commit", 1, "kill", src, out) + ["--retry-failed"])
    assert "fault: commit #1 kill" in r.stderr and r.returncode == -signal.SIGKILL, r.stderr
    r = call(plain(src, out))  # a plain rerun keeps the old shard 1, failure included
    assert r.returncode == 1 and f"this run: 0 processed, {N_INPUTS} already done" in r.stdout, r.stdout
    assert_formats_agree(out, N_GOOD)
    r = call(plain(src, out) + ["--retry-failed"])
    assert r.returncode == 1 and f"this run: 2 processed, {N_INPUTS - 2} already done" in r.stdout, r.stdout
    assert_formats_agree(out, N_GOOD + 1)
    assert temps(out) == []


# -- SIGTERM / Ctrl-C ----------------------------------------------------------


SIGNALS = [
    pytest.param(signal.SIGTERM, "generate", 3, [0], id="sigterm-while-generating"),
    pytest.param(signal.SIGINT, "generate", 3, [0], id="sigint-while-generating"),
    pytest.param(signal.SIGTERM, "parquet", 2, [0], id="sigterm-while-writing-a-shard"),
    pytest.param(signal.SIGINT, "image", 2, [0, 1, 2], id="sigint-in-finalize"),
]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum, point, k, stopped_at", SIGNALS)
def test_sigterm_and_ctrl_c_stop_gracefully_and_the_rerun_completes(
        photos, reference, tmp_path, signum, point, k, stopped_at):
    """The runner pauses at the point (shard 0 is committed by then); the signal arrives during the pause."""
    out = tmp_path / "out"
    err = tmp_path / "stderr.txt"
    with err.open("w") as fh:
        # A shell that starts jobs in the background (as CI may) makes them ignore SIGINT, and Python
        # then installs no KeyboardInterrupt handler; a user's terminal gives the default.
        proc = subprocess.Popen(faulty(point, k, "pause", photos, out), env=ENV, stdout=subprocess.DEVNULL,
                                stderr=fh, text=True, preexec_fn=_default_sigint)
        try:
            deadline = time.monotonic() + TIMEOUT
            while "fault:" not in err.read_text() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proc.poll() is None, err.read_text()
            proc.send_signal(signum)
            code = proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = err.read_text()
    assert code == 130, stderr
    assert "Traceback" not in stderr and "stopped: the finished shards" in stderr, stderr
    assert committed(out) == stopped_at
    assert [len(parquet_rows(out / "shards" / f"{i:05d}.parquet")) for i in stopped_at] == [3, 3, 1][:len(stopped_at)]
    assert not list((out / "shards").glob(".*"))  # the shard in progress was dropped, its temp file removed
    assert not (out / "config.json").exists()
    resume(photos, out, reference, done=3 if stopped_at == [0] else N_INPUTS)


# -- disk faults ---------------------------------------------------------------


def _under_proc(tmp_path: Path) -> Path:
    return Path("/proc") / f"groundcap-test-{os.getpid()}" / "out"


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "file.txt").write_text("not a folder")
    return tmp_path / "file.txt" / "out"


def _read_only(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the /proc and file cases cover root")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return ro / "out"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "out").write_text("not a folder")
    return tmp_path / "out"


@pytest.mark.parametrize("where", [_under_proc, _under_a_file, _a_file, _read_only],
                         ids=["under-proc", "parent-is-a-file", "out-is-a-file", "read-only-parent"])
def test_an_unwritable_out_is_a_one_line_error(photos, tmp_path, where):
    out = where(tmp_path)
    before = out.read_bytes() if out.is_file() else None
    r = call(plain(photos, out))
    assert r.returncode == 2, r.stderr
    assert str(out) in one_line_error(r.stderr)
    assert (out.read_bytes() if out.is_file() else None) == before and not out.is_dir()


@pytest.mark.parametrize("k, stopped_at", [(1, [0]), (3, [0, 1, 2])], ids=["after-shard-0", "before-finalize"])
def test_a_disk_that_fills_up_mid_run_is_a_clear_error_and_the_rerun_completes(
        photos, reference, tmp_path, k, stopped_at):
    """Once the K-th shard and its tar are written, every write past 1 KiB fails with EFBIG."""
    out = tmp_path / "out"
    r = call(faulty("tarred", k, "fsize", photos, out))
    assert f"fault: tarred #{k} fsize" in r.stderr, r.stderr
    assert r.returncode == 2, r.stderr
    message = one_line_error(r.stderr.replace(f"fault: tarred #{k} fsize\n", ""))
    assert "File too large" in message and str(out) in message
    assert committed(out) == stopped_at
    assert len(shard_rows(out)) == min(3 * k, N_INPUTS)  # every committed shard reads back whole
    assert temps(out) == []  # nothing half-written is left, under any name
    assert sorted(p.name for p in (out / "webdataset").glob("*.tar")) == [f"{i:05d}.tar" for i in stopped_at]
    assert not (out / "config.json").exists()
    resume(photos, out, reference, done=3 if stopped_at == [0] else N_INPUTS)

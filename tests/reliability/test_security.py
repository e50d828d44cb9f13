"""Safe loading and safe writing: no remote code, no pickles, no writes outside ``--out``.

- The source is scanned (AST) for the calls that run code from data: ``torch.load``
  without ``weights_only=True``, pickle/marshal/dill/joblib loads, ``np.load`` with
  pickles, ``yaml.load``, ``eval``/``exec``, ``shell=True``, ``tarfile`` extraction and a
  literal ``trust_remote_code=True``. The scanner is itself tested on a bad snippet.
- ``trust_remote_code`` reaches transformers as False unless the user passes the flag.
- WebDataset shards hold only ``.jpg``/``.txt``/``.json`` members, and the reader the
  docs (reliability.md) show does not unpickle a planted ``.pyd`` member (the plain reader does).
- A run writes only under ``--out`` (and the cache), and names its files by key.

The train-llm resume test (tests/llm_finetune/test_train.py) checks that every
``torch.load`` of a checkpoint is ``weights_only=True``; the report's escaping is
tested in a browser in tests/test_report.py; API keys in tests/reliability/test_endpoint_faults.py.
"""

from __future__ import annotations

import ast
import io
import json
import pickle
import re
import tarfile
from pathlib import Path

import pytest

from fakes import FLICKR

pytestmark = pytest.mark.reliability

PACKAGE = Path(__file__).resolve().parents[2] / "groundcap"


# -- the source scan -----------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value.value if isinstance(k.value, ast.Constant) else "<expr>"
    return None


FORBIDDEN_CALLS = re.compile(r"^(pickle|cPickle|dill|cloudpickle|marshal|joblib|shelve)\.(load|loads|open)$"
                             r"|^yaml\.(load|unsafe_load|full_load)$|^(eval|exec)$|\.extractall$|(tar|zip)\w*\.extract$")


def unsafe_calls(source: str, where: str = "<src>") -> list[str]:
    """Every call in ``source`` that can run code from data, as ``where:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        line = f"{where}:{node.lineno}"
        if FORBIDDEN_CALLS.search(name):
            found.append(f"{line}: {name}")
        if name == "torch.load" and _kw(node, "weights_only") is not True:
            found.append(f"{line}: torch.load without weights_only=True")
        if name in ("np.load", "numpy.load") and _kw(node, "allow_pickle") not in (None, False):
            found.append(f"{line}: np.load with allow_pickle")
        if _kw(node, "trust_remote_code") is True:
            found.append(f"{line}: trust_remote_code=True")
        if _kw(node, "shell") is True:
            found.append(f"{line}: shell=True")
    return found


def test_the_scanner_finds_each_unsafe_call():
    bad = "\n".join([
        "torch.load(f)", "torch.load(f, weights_only=False)", "pickle.loads(b)", "joblib.load(p)",
        "np.load(f, allow_pickle=True)", "yaml.load(t)", "eval(s)", "exec(s)", "tar.extractall(d)",
        "AutoModel.from_pretrained(p, trust_remote_code=True)", "subprocess.run(c, shell=True)",
    ])
    assert len(unsafe_calls(bad)) == 11
    ok = "torch.load(f, weights_only=True)\nnp.load(f, allow_pickle=False)\nyaml.safe_load(t)\nmodel.eval()"
    assert unsafe_calls(ok) == []


def test_no_code_runs_from_data_anywhere_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert found == []


# -- remote code -------------------------------------------------------------------------------


class _Stop(Exception):
    pass


@pytest.mark.parametrize("flag, expected", [([], False), (["--trust-remote-code", "true"], True)])
def test_remote_code_is_off_unless_the_user_asks(monkeypatch, tmp_path, flag, expected):
    import transformers

    from groundcap.cli import main

    seen = []

    def spy(name, *args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        raise _Stop

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy)
    (tmp_path / "a.jpg").write_bytes(sorted((FLICKR / "images").glob("*.jpg"))[0].read_bytes())
    with pytest.raises(_Stop):
        main(["caption", str(tmp_path / "a.jpg"), "--model", "some-org/some-model", "--adapter", "none", *flag])
    assert seen == [expected]


# -- webdataset -------------------------------------------------------------------------------


class _Payload:
    """Unpickling this writes a marker file: the proof that a reader ran code from a tar."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pwned",))


def _plant(tar_path: Path, out: Path, marker: Path) -> None:
    """Copies a run's tar and adds a ``.pyd`` (pickle) member to its first sample."""
    with tarfile.open(tar_path) as src, tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as dst:
        members = src.getmembers()
        for i, m in enumerate(members):
            dst.addfile(m, src.extractfile(m))
            if i == 0:  # inside the first sample, so that a reader groups it with its jpg/txt/json
                data = pickle.dumps(_Payload(str(marker)))
                info = tarfile.TarInfo(m.name.rsplit(".", 1)[0] + ".pyd")
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))


@pytest.mark.models
def test_webdataset_shards_hold_no_pickles_and_the_documented_reader_runs_none(tmp_path):
    wds = pytest.importorskip("webdataset")
    from groundcap.cli import main

    src = tmp_path / "in"
    src.mkdir()
    for p in sorted((FLICKR / "images").glob("*.jpg"))[:2]:
        (src / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "out"
    assert main(["run", str(src), "--out", str(out), "--generator", "template", "--scorers", "grounding",
                 "--weights", "1", "--formats", "webdataset", "--progress", "false"]) == 0
    (tar,) = sorted((out / "webdataset").glob("*.tar"))
    names = [m.name for m in tarfile.open(tar).getmembers()]
    assert names and all(re.fullmatch(r"[0-9a-f]{16}\.(jpg|txt|json)", n) for n in names), names

    planted, marker = tmp_path / "planted.tar", tmp_path / "marker"
    _plant(tar, planted, marker)
    # The reader docs/reliability.md shows: decode only the members groundcap writes.
    safe = list(wds.WebDataset(str(planted), shardshuffle=False).decode("pil", only=["jpg", "txt", "json"])
                .to_tuple("jpg", "txt", "json"))
    assert len(safe) == 2 and not marker.exists()
    # Without `only`, webdataset's default decoders unpickle the planted member: the reason for it.
    list(wds.WebDataset(str(planted), shardshuffle=False).decode("pil"))
    assert marker.read_text() == "pwned"


# -- writes stay under --out ----------------------------------------------------------------


def _tree(root: Path, skip: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if skip not in p.parents and p != skip}


@pytest.mark.models
def test_a_run_writes_only_under_out_and_names_files_by_key(tmp_path, monkeypatch):
    from groundcap.cli import main

    monkeypatch.setenv("GROUNDCAP_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    root = tmp_path / "set"
    (root / "img").mkdir(parents=True)
    photos = sorted((FLICKR / "images").glob("*.jpg"))
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(photos[2].read_bytes())
    for i, name in enumerate(["a.jpg", "-x.jpg", "b c.jpg"]):
        (root / "img" / name).write_bytes(photos[i].read_bytes())
    rows = ["path,caption", "img/a.jpg,a", "img/-x.jpg,b", '"img/b c.jpg",c', "../elsewhere.jpg,d",
            "img/../../elsewhere.jpg,e", "../../../../../etc/x.jpg,f", f"{outside},g", "img/..,h"]
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    before = _tree(tmp_path, out)
    code = main(["run", str(root / "list.csv"), "--out", str(out), "--generator", "template", "--scorers",
                 "grounding", "--weights", "1", "--formats", "parquet,webdataset,csv,hf,imagefolder,sidecar",
                 "--progress", "false"])
    assert code == 1  # the escapes are failed rows
    after = _tree(tmp_path, out)
    changed = {p for p in after if before.get(p) != after[p]}
    assert all(Path(p).is_relative_to(tmp_path / "cache") for p in changed), sorted(changed)

    import pyarrow.parquet as pq

    got = {r["source"]: r["status"] for s in sorted((out / "shards").glob("*.parquet"))
           for r in pq.read_table(s).to_pylist()}
    assert got["../elsewhere.jpg"] == got["../../../../../etc/x.jpg"] == "outside_root"
    assert got["../elsewhere.jpg"] == "outside_root" and got[str(outside)] == "ok"  # an absolute path is the user's
    for sub in ("images", "webdataset"):
        for p in (out / sub).iterdir():
            assert re.fullmatch(r"[0-9a-f]{16}\.(jpg|txt|json|tar)|metadata\.jsonl|sizes\.json|\d{5}\.tar", p.name), p
    assert json.loads((out / "config.json").read_text())["counts"]["outside_root"] >= 2


# -- YOLO checkpoints -----------------------------------------------------------------------------


def test_a_yolo_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("ultralytics")
    import torch

    from groundcap.detect import create_detector
    from groundcap.detect.yolo import _import_yolo
    from groundcap.errors import ModelLoadError

    monkeypatch.chdir(tmp_path)
    YOLO = _import_yolo()
    YOLO("yolov8n.yaml").save("plain.pt")
    marker = tmp_path / "marker"
    torch.save({"model": _Payload(str(marker))}, "planted.pt")

    assert create_detector(str(tmp_path / "plain.pt")).model_id  # a real checkpoint still loads
    with pytest.raises(ModelLoadError, match="planted.pt"):
        create_detector(str(tmp_path / "planted.pt"))
    assert not marker.exists()
    # With ultralytics' default (unsafe) loading the same file runs its payload: the reason for the default.
    monkeypatch.setenv("ULTRALYTICS_SAFE_LOAD", "0")
    try:
        with pytest.raises(Exception):
            create_detector(str(tmp_path / "planted.pt"))
        assert marker.read_text() == "pwned"
    finally:
        monkeypatch.setenv("ULTRALYTICS_SAFE_LOAD", "1")
        _import_yolo()

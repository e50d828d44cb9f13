"""Bad inputs through ``groundcap run``: one table of kinds, each with its expected outcome.

One folder holds every kind of bad file next to real photos, and one run
captions it (a manifest and a crowd get runs of their own). Each case then
checks its row: a failure status with a message naming the problem, or a
correct caption. The real photos in the same run must still be captioned, and
every output must be readable.

The kinds are counted in docs/reliability.md (``KINDS`` below).
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from fakes import FLICKR

pytestmark = [pytest.mark.models, pytest.mark.reliability]

ROOT = os.geteuid() == 0
PHOTOS = sorted((FLICKR / "images").glob("*.jpg"))
FAST = ["--generator", "template", "--scorers", "grounding", "--weights", "1", "--progress", "false",
        "--batch-size", "4"]
FORMATS = "parquet,webdataset,csv,hf,imagefolder,sidecar"


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad-input kind: how to make it, and what its row must say."""

    id: str
    make: Callable[[Path], None]
    source: str                    # the row's source (relative to the input folder)
    status: str                    # expected status
    error: str | None = None       # a phrase the error must contain (failures)
    check: Callable[[dict], None] | None = None  # more checks on an ok row


# -- makers --------------------------------------------------------------------------------------


def photo(i: int = 0) -> bytes:
    return PHOTOS[i].read_bytes()


def write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return make


def save(name: str, img: Callable[[], Image.Image], **kw) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        img().save(d / name, **kw)
    return make


def bomb_png() -> bytes:
    """A valid 1x1 PNG whose header declares 100000 x 100000 pixels (10 gigapixels)."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", 100_000, 100_000)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


def truncated_png() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def colored(color, size=(64, 48), mode="RGB") -> Callable[[], Image.Image]:
    return lambda: Image.new(mode, size, color)


def animated(name: str, fmt: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        frames = [Image.new("RGB", (64, 48), c) for c in ((220, 20, 20), (20, 20, 220))]
        frames[0].save(d / name, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return make


def tiff_pages(d: Path) -> None:
    pages = [Image.new("RGB", (64, 48), c) for c in ((220, 20, 20), (20, 220, 20), (20, 20, 220))]
    pages[0].save(d / "pages.tiff", save_all=True, append_images=pages[1:])


def sixteen_bit(d: Path) -> None:
    ramp = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(d / "deep.png")


def palette(d: Path) -> None:
    Image.new("RGB", (64, 48), (30, 160, 40)).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "pal.png")


def oriented(k: int) -> Callable[[Path], None]:
    """A 60x30 JPEG whose EXIF orientation is ``k``: 5-8 turn it into 30x60."""
    def make(d: Path) -> None:
        img = Image.new("RGB", (60, 30), (200, 200, 40))
        exif = Image.Exif()
        exif[0x0112] = k
        img.save(d / f"exif{k}.jpg", exif=exif.tobytes())
    return make


def symlink(name: str, target: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        os.symlink(target, d / name)
    return make


def _touch(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n")  # then made sparse: 600 MiB on paper, no disk used
    return path


def no_permission(d: Path) -> None:
    (d / "locked.jpg").write_bytes(photo(3))
    os.chmod(d / "locked.jpg", 0)


def directory(d: Path) -> None:
    (d / "folder.jpg").mkdir()


def with_sidecar(name: str, side: bytes, i: int) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).write_bytes(photo(i))
        (d / name).with_suffix(".txt").write_bytes(side)
    return make


def odd_name(raw: bytes, i: int) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        with open(os.path.join(os.fsencode(d), raw), "wb") as fh:
            fh.write(photo(i))
    return make


# -- checks on ok rows ---------------------------------------------------------------------------


def size(w: int, h: int) -> Callable[[dict], None]:
    def check(row: dict) -> None:
        assert (row["width"], row["height"]) == (w, h)
    return check


def palette_has(name: str) -> Callable[[dict], None]:
    def check(row: dict) -> None:
        facts = json.loads(row["facts"])
        names = json.dumps(facts.get("palette") or facts)
        assert name in names, names[:400]
    return check


def prior(pred: Callable[[str | None], bool]) -> Callable[[dict], None]:
    def check(row: dict) -> None:
        assert pred(row["prior"]), repr(row["prior"])[:200]
    return check


def no_objects(row: dict) -> None:
    facts = json.loads(row["facts"])
    assert not facts["detections"] and facts["palette"], str(facts)[:300]


LATIN1 = "Un café près de la fenêtre, à côté d'un chien.".encode("latin-1")

CASES = [
    # files that are not images
    Case("empty-file", write("empty.jpg", b""), "empty.jpg", "empty_file", "empty"),
    Case("truncated-jpeg", write("cut.jpg", photo(0)[:3000]), "cut.jpg", "truncated", "truncated"),
    Case("truncated-png", write("cut.png", truncated_png()), "cut.png", "truncated", "truncated"),
    Case("html-named-jpg", write("page.jpg", "<!doctype html><html><body>404</body></html>"), "page.jpg",
         "not_an_image", "HTML"),
    Case("text-named-jpg", write("notes.jpg", "shopping list: eggs, milk\n"), "notes.jpg", "not_an_image", "not an image"),
    Case("directory-named-jpg", directory, "folder.jpg", "is_directory", "directory"),
    Case("broken-symlink", symlink("gone.jpg", "nowhere.jpg"), "gone.jpg", "broken_link", "link"),
    Case("symlink-loop", lambda d: (symlink("loop1.jpg", "loop2.jpg")(d), symlink("loop2.jpg", "loop1.jpg")(d)),
         "loop1.jpg", "symlink_loop", "loop"),
    Case("symlink-out-of-folder", symlink("escape.jpg", "/etc/hostname"), "escape.jpg", "outside_root", "outside"),
    Case("no-permission", no_permission, "locked.jpg", "ok" if ROOT else "permission_denied",
         None if ROOT else "permission"),
    Case("fifo-named-jpg", lambda d: os.mkfifo(d / "pipe.jpg"), "pipe.jpg", "unsupported", "not a regular file"),
    Case("huge-file", lambda d: os.truncate(_touch(d / "huge.png"), 600 << 20), "huge.png", "too_large", "MiB"),
    # images that are odd but fine
    Case("decompression-bomb", write("bomb.png", bomb_png()), "bomb.png", "too_large", "pixels"),
    Case("one-pixel", save("one.png", colored((200, 30, 30), (1, 1))), "one.png", "ok", check=size(1, 1)),
    Case("extreme-aspect-10000x2", save("thin.png", colored((30, 30, 200), (10000, 2))), "thin.png", "ok",
         check=size(10000, 2)),
    Case("animated-gif", animated("anim.gif", "GIF"), "anim.gif", "ok", check=palette_has("red")),
    Case("animated-webp", animated("anim.webp", "WEBP"), "anim.webp", "ok", check=palette_has("red")),
    Case("multi-page-tiff", tiff_pages, "pages.tiff", "ok", check=palette_has("red")),
    Case("grayscale", save("gray.png", colored(128, mode="L")), "gray.png", "ok", check=palette_has("gray")),
    Case("cmyk-jpeg", save("cmyk.jpg", colored((0, 255, 255, 0), mode="CMYK")), "cmyk.jpg", "ok",
         check=palette_has("red")),
    Case("rgba-transparent", save("rgba.png", colored((0, 0, 0, 0), mode="RGBA")), "rgba.png", "ok",
         check=palette_has("white")),
    Case("palette-png", palette, "pal.png", "ok", check=palette_has("green")),
    Case("16-bit-png", sixteen_bit, "deep.png", "ok"),
    *[Case(f"exif-orientation-{k}", oriented(k), f"exif{k}.jpg", "ok", check=size(*((30, 60) if k >= 5 else (60, 30))))
      for k in range(1, 9)],
    # names
    Case("non-utf8-name", odd_name(b"caf\xe9.jpg", 4), "caf\\xe9.jpg", "ok"),
    Case("spaces-in-name", odd_name("a dog  on grass .jpg".encode(), 5), "a dog  on grass .jpg", "ok"),
    Case("unicode-name", odd_name("ünïcødé 写真.jpg".encode(), 6), "ünïcødé 写真.jpg", "ok"),
    Case("leading-dash-name", odd_name(b"-rf --out.jpg", 7), "-rf --out.jpg", "ok"),
    # sidecar captions
    Case("sidecar-huge", with_sidecar("big.jpg", b"a dog runs on the grass " * 40_000, 8), "big.jpg", "ok",
         check=prior(lambda p: p is not None and 0 < len(p) <= 500)),
    Case("sidecar-binary", with_sidecar("bin.jpg", os.urandom(2048) + b"\x00", 9), "bin.jpg", "ok",
         check=prior(lambda p: not p)),
    Case("sidecar-latin1", with_sidecar("latin.jpg", LATIN1, 10), "latin.jpg", "ok",
         check=prior(lambda p: p is not None and "café près" in p)),
    # what the detector sees
    Case("no-detections", save("flat.png", colored((120, 120, 120), (320, 240))), "flat.png", "ok", check=no_objects),
    # good photos beside all of this
    *[Case(f"photo-{i}", write(f"photo{i}.jpg", photo(i)), f"photo{i}.jpg", "ok") for i in (11, 12)],
]

#: Distinct kinds of bad input in this file (docs/reliability.md's count): the table above, less the plain
#: photos, plus the manifest kinds and the crowd below.
MANIFEST_KINDS = ("manifest-missing-file", "manifest-duplicate-rows", "manifest-escapes-root",
                  "manifest-latin1-caption", "manifest-no-path-column", "manifest-directory")
KINDS = len([c for c in CASES if not c.id.startswith("photo-")]) + len(MANIFEST_KINDS) + 1


def read_rows(out: Path) -> dict[str, dict]:
    import pyarrow.parquet as pq

    rows = [r for p in sorted((out / "shards").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "a row was written twice"
    return {r["source"]: r for r in rows}


def run_cli(*args: str) -> int:
    from groundcap.cli import main

    return main(["run", *args, *FAST])


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> tuple[Path, dict[str, dict], int]:
    d = tmp_path_factory.mktemp("bad") / "in"
    d.mkdir()
    for case in CASES:
        case.make(d)
    out = d.parent / "out"
    code = run_cli(str(d), "--out", str(out), "--formats", FORMATS, "--shard-size", "8")
    return out, read_rows(out), code


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_bad_input_gets_its_outcome(folder_run, case):
    _, rows, _ = folder_run
    row = rows.get(case.source)
    assert row is not None, f"no row for {case.source!r}; rows: {sorted(rows)}"
    assert row["status"] == case.status, (row["status"], row["error"])
    if case.status == "ok":
        assert row["caption"] and not row["error"]
        if case.check:
            case.check(row)
    else:
        assert row["error"] and not row["caption"]
        assert case.error.lower() in row["error"].lower(), row["error"]


def test_the_run_reports_failures_and_writes_readable_outputs_for_the_rest(folder_run):
    out, rows, code = folder_run
    assert code == 1  # some inputs failed; the run itself did not
    ok = {s for s, r in rows.items() if r["status"] == "ok"}
    assert len(rows) == len(CASES) + 1  # the symlink loop's two links are two rows
    import pandas as pd

    csv = pd.read_csv(out / "captions.csv", sep="\t")
    assert len(csv) == len(ok) and csv["title"].str.len().min() > 0
    from datasets import load_from_disk

    assert len(load_from_disk(str(out / "hf"))) == len(ok)
    meta = [json.loads(line) for line in (out / "images" / "metadata.jsonl").read_text().splitlines()]
    assert len(meta) == len(ok)
    import tarfile

    members = [m.name for t in sorted((out / "webdataset").glob("*.tar")) for m in tarfile.open(t).getmembers()]
    assert len([m for m in members if m.endswith(".jpg")]) == len(ok)
    stats = json.loads((out / "config.json").read_text())
    assert sum(stats["counts"].values()) == len(rows)


# -- manifests ---------------------------------------------------------------------------------


def test_manifest_faults(tmp_path):
    root = tmp_path / "set"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.jpg").write_bytes(photo(13))
    (root / "img" / "b.jpg").write_bytes(photo(14))
    (root / "img" / "sub.jpg").mkdir()
    lines = [b"image,caption", b"img/a.jpg,a dog", b"img/missing.jpg,gone", b"img/a.jpg,a dog again",
             b"../../etc/passwd,secrets", b"img/sub.jpg,a folder", b"img/b.jpg," + "café crème".encode("latin-1")]
    (root / "list.csv").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    assert run_cli(str(root / "list.csv"), "--out", str(out), "--formats", "parquet,csv") == 1
    rows = read_rows(out)
    assert sorted(rows) == sorted(["img/a.jpg", "img/missing.jpg", "../../etc/passwd", "img/sub.jpg", "img/b.jpg"])
    assert rows["img/a.jpg"]["status"] == "ok" and rows["img/a.jpg"]["prior"] == "a dog"  # first row wins
    assert rows["img/missing.jpg"]["status"] == "not_found" and "missing.jpg" in rows["img/missing.jpg"]["error"]
    escaped = rows["../../etc/passwd"]
    assert escaped["status"] == "outside_root" and not escaped["path"] and not escaped["caption"]
    assert rows["img/sub.jpg"]["status"] == "is_directory"
    assert rows["img/b.jpg"]["status"] == "ok" and "café crème" in rows["img/b.jpg"]["prior"]


def test_a_manifest_without_a_path_column_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "list.csv").write_text("name,caption\na.jpg,a dog\n")
    assert run_cli(str(tmp_path / "list.csv"), "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "list.csv" in err and "no image path column" in err and "Traceback" not in err
    assert not list((tmp_path / "out").glob("shards/*.parquet"))


# -- a crowd ------------------------------------------------------------------------------------


class Crowd:
    """A detector that sees 400 people in every image, in a 20 x 20 grid."""

    name = "crowd"

    def __init__(self, config) -> None:
        from groundcap.detect.base import Detector

        class _Crowd(Detector):
            name = "crowd"

            def predict_raw(self, image):
                from groundcap.detect.base import RawBoxes

                h, w = image.shape[:2]
                xs, ys = np.meshgrid(np.arange(20), np.arange(20))
                x1, y1 = xs.ravel() * w / 20, ys.ravel() * h / 20
                boxes = np.stack([x1, y1, x1 + w / 22, y1 + h / 22], axis=1)
                return RawBoxes(boxes, np.full(400, 0.9), ("person",) * 400)

        self.impl = _Crowd(config)


def test_an_image_with_hundreds_of_detections(tmp_path, monkeypatch):
    import groundcap.detect

    # registered for this test only: the registry's listing is a doctest
    monkeypatch.setitem(groundcap.detect._REGISTRY._entries, "crowd-test", lambda cfg: Crowd(cfg).impl)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "crowd.jpg").write_bytes(photo(15))
    out = tmp_path / "out"
    assert run_cli(str(tmp_path / "in"), "--out", str(out), "--formats", "parquet", "--detector", "crowd-test",
                   "--max-objects", "400") == 0
    (row,) = read_rows(out).values()
    facts = json.loads(row["facts"])
    assert row["status"] == "ok" and row["caption"]
    assert len(facts["detections"]) == 400 and facts["relations"]

"""The static HTML report of a batch run: built from a hand-made run folder, read as text and in Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from groundcap.data.run_shards import write_parquet_atomic
from groundcap.records import Candidate, Claim, Detection, Facts, ImageInfo
from groundcap.report import add_report_parser, render_report, run_report, write_report

SCRIPT_CAPTION = "<script>document.body.dataset.pwned='1'</script>"
EVIL_NAME = "<img src=x onerror=\"document.body.dataset.pwned2='1'\">.jpg"


def facts_of(size: tuple[int, int], *dets: tuple[str, str, tuple[float, float, float, float]]) -> str:
    detections = tuple(Detection(label, iid, box, 0.9, size, "hand") for label, iid, box in dets)
    return json.dumps(Facts(ImageInfo(size[0], size[1], "ab" * 32), detections).to_dict())


def candidates(*texts: str) -> str:
    claims = (Claim("object", "a bus", "supported", "bus_1 at 0.90", "bus_1"),
              Claim("count", "three people", "contradicted", "4 person boxes"),
              Claim("scene", "at night", "unverifiable"))
    cands = [Candidate(t, scores={"clip": 0.31 - i / 10, "grounding": 0.8 - i / 10}, total=0.5 - i / 10,
                       claims=claims if i == 0 else ()) for i, t in enumerate(texts)]
    cands.append(Candidate("", status="garbage", detail="repeated tokens", scores={"clip": 0.01}))
    return json.dumps([c.to_dict() for c in cands])


def ok_row(key: str, path: Path, source: str, caption: str, facts: str, seconds: float) -> dict:
    with Image.open(path) as im:
        width, height = im.size
    return {"key": key, "source": source, "path": str(path), "status": "ok", "width": width, "height": height,
            "caption": caption, "chosen": 0, "candidates": candidates(caption, "a second try"), "facts": facts,
            "prompt": "Objects: a bus.\nWrite one caption.", "time_decode": 0.01, "time_facts": 0.2,
            "time_generate": seconds, "time_rerank": 0.05}


BUS_BOXES = (("bus", "bus_1", (17, 230, 801, 740)), ("person", "person_1", (48, 398, 245, 902)),
             ("person", "person_2", (670, 380, 810, 875)))


def make_run(root: Path, bus: Path, zidane: Path, *, config: bool = True) -> Path:
    """Four rows in two shards: bus, zidane, a bus copy with a hostile name and caption, and a truncated file."""
    images = root / "images"
    images.mkdir(parents=True)
    evil = images / EVIL_NAME
    shutil.copyfile(bus, evil)
    cut = images / "cut.jpg"
    cut.write_bytes(bus.read_bytes()[:5000])
    rows = [
        ok_row("a" * 16, bus, "bus.jpg", "A blue bus stops on a city street.", facts_of((810, 1080), *BUS_BOXES), 1.0),
        ok_row("b" * 16, zidane, "zidane.jpg", "Two men in suits talk indoors.",
               facts_of((1280, 720), ("person", "person_1", (100, 40, 1130, 720)),
                        ("tie", "tie_1", (430, 430, 520, 720))), 2.0),
        ok_row("c" * 16, evil, f"images/{EVIL_NAME}", SCRIPT_CAPTION, facts_of((810, 1080), *BUS_BOXES), 3.0),
        {"key": "d" * 16, "source": "images/cut.jpg", "path": str(cut), "status": "truncated",
         "error": "cut.jpg: truncated (image file is truncated)", "chosen": -1, "time_decode": 0.02},
    ]
    run = root / "run"
    (run / "shards").mkdir(parents=True)
    write_parquet_atomic(rows[:2], run / "shards" / "00000.parquet")
    write_parquet_atomic(rows[2:], run / "shards" / "00001.parquet")
    if config:
        (run / "config.json").write_text(json.dumps({
            "config": {"generator": {"backend": "template"}},
            "versions": {"groundcap": "0.1.0", "torch": "2.4.0"},
            "models": {"detector": "yolov8m.pt", "scorer": "<b>clip</b>"},
            "counts": {"ok": 3, "truncated": 1}}))
    return run


@pytest.fixture()
def run_dir(tmp_path: Path, bus_path: Path, zidane_path: Path) -> Path:
    return make_run(tmp_path, bus_path, zidane_path)


def thumbnails(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(m)))
            for m in re.findall(r'<img class="thumb" src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)]


def test_untrusted_caption_and_file_name_are_text(run_dir: Path):
    page = render_report(run_dir)
    assert SCRIPT_CAPTION not in page and "<script>document" not in page
    assert "&lt;script&gt;document.body.dataset.pwned=&#x27;1&#x27;&lt;/script&gt;" in page
    assert "<img src=x" not in page and "onerror=\"document" not in page
    assert "&lt;img src=x onerror=&quot;document.body.dataset.pwned2=&#x27;1&#x27;&quot;&gt;.jpg" in page
    assert "&lt;b&gt;clip&lt;/b&gt;" in page  # config.json values are escaped too
    assert page.count("<script>") == 1  # only the page's own


def test_summary_counts_candidates_and_verdicts(run_dir: Path):
    page = render_report(run_dir)
    assert "<b>4</b> images: ok 3, truncated 1" in page
    assert page.count('<article class="row"') == 3 and page.count('<article class="row failed"') == 1
    assert 'data-status="truncated"' in page and "cut.jpg: truncated (image file is truncated)" in page
    assert "A blue bus stops on a city street." in page and "Objects: two people and a bus." in page
    assert page.count("★ chosen") == 3 and page.count('<tr class="chosen">') == 3
    assert '<th class="num">clip</th><th class="num">grounding</th><th class="num">total</th>' in page
    assert '<td class="num">0.310</td><td class="num">0.800</td><td class="num">0.500</td>' in page
    assert "(garbage: repeated tokens)" in page
    assert '<span class="v">+</span>a bus <span class="evidence">— bus_1 at 0.90</span>' in page
    assert '<span class="v">x</span>three people' in page and '<span class="v">?</span>at night' in page
    # mean over all four rows: generate (1 + 2 + 3 + 0) / 4
    assert '<tr><th>generate</th><td class="num">1.500</td><td class="num">6.0</td></tr>' in page
    assert "yolov8m.pt" in page and "torch" in page and "Showing the first" not in page
    assert "http://" not in page and "https://" not in page  # nothing fetched


def test_thumbnails_are_upright_scaled_and_boxes_use_image_pixels(run_dir: Path):
    page = render_report(run_dir, thumb=200)
    sizes = [im.size for im in thumbnails(page)]
    assert sizes == [(150, 200), (200, 113), (150, 200)]  # bus 810x1080, zidane 1280x720; the cut file has none
    assert page.count('<svg viewBox="0 0 810 1080"') == 2 and page.count('<svg viewBox="0 0 1280 720"') == 1
    assert '<rect x="17.0" y="230.0" width="784.0" height="510.0"' in page and ">person_2</text>" in page
    assert page.count('<div class="noimg">no image: truncated</div>') == 1


def test_limit_shows_first_rows_but_counts_all(run_dir: Path):
    page = render_report(run_dir, limit=2)
    assert page.count("<article ") == 2 and "Showing the first 2 of 4 images" in page
    assert "<b>4</b> images: ok 3, truncated 1" in page and "zidane.jpg" in page and "cut.jpg" not in page
    assert render_report(run_dir, limit=0).count("<article ") == 0


def test_missing_config_is_said_not_fatal(tmp_path: Path, bus_path: Path, zidane_path: Path):
    run = make_run(tmp_path, bus_path, zidane_path, config=False)
    page = render_report(run)
    assert "no config.json in this run folder" in page and page.count("<article ") == 4
    (run / "config.json").write_text("{not json")
    assert "config.json is unreadable" in render_report(run)


def test_unreadable_or_missing_images_become_placeholders(tmp_path: Path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"<html>not an image</html>")
    facts = facts_of((64, 48), ("dog", "dog_1", (1, 1, 30, 30)))
    rows = [{"key": k, "path": p, "status": "ok", "caption": "a dog", "chosen": 0, "facts": facts,
             "candidates": json.dumps([Candidate("a dog").to_dict()])}
            for k, p in (("1", str(junk)), ("2", str(tmp_path / "gone.jpg")), ("3", ""))]
    rows.append({"key": "4", "status": "facts_error", "facts": "{broken", "candidates": "[oops"})
    (tmp_path / "run" / "shards").mkdir(parents=True)
    write_parquet_atomic(rows, tmp_path / "run" / "shards" / "00000.parquet")
    page = render_report(tmp_path / "run")
    assert "<img" not in page
    assert "no image: not an image" in page and "no image: not found" in page
    assert page.count("no image file") == 2
    assert "facts unreadable" in page and "candidates unreadable" in page


def test_write_report_is_atomic_and_defaults_into_the_run(run_dir: Path, tmp_path: Path):
    path = write_report(run_dir)
    assert path == run_dir / "report.html" and path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    other = write_report(run_dir, tmp_path / "r.html", limit=1)
    assert other.read_text(encoding="utf-8").count("<article ") == 1
    assert not list(run_dir.glob(".*.tmp")) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("kwargs, error", [({"limit": -1}, "limit"), ({"thumb": 8}, "thumb")])
def test_bad_arguments_raise(run_dir: Path, kwargs: dict, error: str):
    with pytest.raises(ValueError, match=error):
        render_report(run_dir, **kwargs)


def test_cli_writes_and_prints_path_or_exits_2(run_dir: Path, tmp_path: Path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers())
    out = tmp_path / "page.html"
    args = parser.parse_args(["report", str(run_dir), "--out", str(out), "--limit", "3"])
    assert args.func(args) == 0 and capsys.readouterr().out.strip() == str(out)
    assert out.read_text(encoding="utf-8").count("<article ") == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_report(parser.parse_args(["report", str(empty)])) == 2
    err = capsys.readouterr()
    assert "no run shards" in err.err and err.out == ""


# --- in a real browser ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_in_chromium(tmp_path_factory, bus_path: Path, zidane_path: Path) -> Path:
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'); the browser checks need it")
    root = tmp_path_factory.mktemp("browser")
    return write_report(make_run(root, bus_path, zidane_path))


def chromium(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", *flags,
           page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_chromium_screenshot_is_not_blank(report_in_chromium: Path, tmp_path: Path):
    png = tmp_path / "shot.png"
    chromium(report_in_chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,2000")
    with Image.open(png) as im:
        rgb = im.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 24)
    assert len(colours) > 1000  # photos, not a blank or error page
    assert max(ImageStat.Stat(rgb).stddev) > 20


def test_chromium_runs_the_page_script_and_not_the_injected_ones(report_in_chromium: Path, tmp_path: Path):
    dom = chromium(report_in_chromium, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=3000").stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:2000]
    assert 'data-images-loaded="3"' in body.group(1)  # our script ran and every thumbnail decoded
    assert "data-pwned" not in body.group(1)
    assert '<form id="filters">' in dom  # the script un-hid the filters
    assert "A blue bus stops on a city street." in dom and "Two men in suits talk indoors." in dom
    assert "&lt;script&gt;document.body.dataset.pwned='1'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=\"document.body.dataset.pwned2='1'\"&gt;.jpg" in dom

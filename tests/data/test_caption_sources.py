"""Tests for groundcap.data.caption_sources: the four layouts, auto-detection, bad rows, escapes.

Each source is built in ``tmp_path`` from a few real Flickr8k photos of the
shared flickr8k-mini set (copied, never committed).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from groundcap.data.caption_sources import (
    hash_split,
    normalize_split,
    read_captioned,
    read_captions_csv,
    read_imagefolder,
    read_sidecar_folder,
    source_root,
)
from groundcap.data.captioned import read_captions_jsonl

from fakes import FLICKR

NAMES = ["1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg", "1002674143_1b742ab4b8.jpg",
         "1003163366_44323f5815.jpg"]


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    paths = [FLICKR / "images" / n for n in NAMES]
    if not all(p.is_file() for p in paths):
        pytest.skip("../shared/data/flickr8k-mini is not beside the checkout")
    return paths


def copy_photos(photos: list[Path], folder: Path, names: list[str] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src, name in zip(photos, names or [p.name for p in photos]):
        out.append(folder / name)
        shutil.copyfile(src, out[-1])
    return out


# -- one builder per layout, each giving (source path, expected {name: (captions, split)}) ----------


def make_jsonl(tmp_path: Path, photos: list[Path]) -> tuple[Path, dict]:
    copy_photos(photos, tmp_path / "images")
    rows = [{"image": f"images/{p.name}", "captions": [f"cap {i} a", f"cap {i} b"], "split": s}
            for i, (p, s) in enumerate(zip(photos, ["train", "dev", "test", "none"]))]
    (tmp_path / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path, {p.name: ((f"cap {i} a", f"cap {i} b"), r["split"])
                      for i, (p, r) in enumerate(zip(photos, rows))}


def make_csv(tmp_path: Path, photos: list[Path]) -> tuple[Path, dict]:
    copy_photos(photos, tmp_path / "Images")
    a, b, c, d = (p.name for p in photos)
    (tmp_path / "captions.txt").write_text(
        "image,caption\n"
        f"{a},A child in a pink dress is climbing up a set of stairs .\n"
        f'{b},"A black dog , and a spotted dog ."\n'
        f"{a},A girl going into a wooden building .\n"
        f"{c},Two dogs, one brown, play .\n"
        "\n"
        f"{d},A man rides a bike .\n")
    return tmp_path, {
        a: (("A child in a pink dress is climbing up a set of stairs .", "A girl going into a wooden building ."),
            hash_split(a)),
        b: (("A black dog , and a spotted dog .",), hash_split(b)),
        c: (("Two dogs, one brown, play .",), hash_split(c)),
        d: (("A man rides a bike .",), hash_split(d)),
    }


def make_imagefolder(tmp_path: Path, photos: list[Path]) -> tuple[Path, dict]:
    copy_photos(photos[:2], tmp_path / "train")
    copy_photos(photos[2:3], tmp_path / "validation")
    copy_photos(photos[3:], tmp_path / "test")
    a, b, c, d = (p.name for p in photos)
    (tmp_path / "train" / "metadata.jsonl").write_text(
        json.dumps({"file_name": a, "text": "first"}) + "\n"
        + json.dumps({"file_name": b, "captions": ["x", "y"]}) + "\n"
        + json.dumps({"file_name": a, "text": "second"}) + "\n")
    (tmp_path / "validation" / "metadata.jsonl").write_text(json.dumps({"file_name": c, "caption": "val"}) + "\n")
    (tmp_path / "test" / "metadata.jsonl").write_text(json.dumps({"file_name": d, "text": "t"}) + "\n")
    return tmp_path, {a: (("first", "second"), "train"), b: (("x", "y"), "train"), c: (("val",), "dev"),
                      d: (("t",), "test")}


def make_sidecars(tmp_path: Path, photos: list[Path]) -> tuple[Path, dict]:
    paths = copy_photos(photos, tmp_path / "album")
    paths[0].with_suffix(".txt").write_text("a dog on grass\n\n  a brown dog  \n")
    paths[1].with_suffix(".txt").write_text("two dogs\n")
    paths[2].with_suffix(".txt").write_text("\n\n")  # empty sidecar: left out
    # paths[3] has no sidecar: left out
    return tmp_path / "album", {paths[0].name: (("a dog on grass", "a brown dog"), hash_split(paths[0].name)),
                                paths[1].name: (("two dogs",), hash_split(paths[1].name))}


LAYOUTS: dict[str, Callable[[Path, list[Path]], tuple[Path, dict]]] = {
    "jsonl": make_jsonl, "csv": make_csv, "imagefolder": make_imagefolder, "sidecars": make_sidecars,
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_read_captioned_reads_each_layout(tmp_path: Path, photos: list[Path], layout: str) -> None:
    source, expected = LAYOUTS[layout](tmp_path, photos)
    items = read_captioned(source)
    assert {it.path.name: (it.captions, it.split) for it in items} == expected
    assert all(it.path.is_absolute() and it.path.is_file() for it in items)
    assert read_captioned(source) == items  # deterministic


@pytest.mark.parametrize("layout, file_name", [
    ("jsonl", "captions.jsonl"), ("csv", "captions.txt"), ("imagefolder", "train/metadata.jsonl"),
])
def test_read_captioned_accepts_the_file_itself(tmp_path: Path, photos: list[Path], layout: str,
                                                file_name: str) -> None:
    source, _ = LAYOUTS[layout](tmp_path, photos)
    from_file = read_captioned(source / file_name)
    assert from_file and {it.path for it in from_file} <= {it.path for it in read_captioned(source)}


def test_layout_readers_agree_with_auto_detection(tmp_path: Path, photos: list[Path]) -> None:
    for name, reader in [("csv", read_captions_csv), ("imagefolder", read_imagefolder),
                         ("sidecars", read_sidecar_folder)]:
        source, _ = LAYOUTS[name](tmp_path / name, photos)
        direct = reader(source / "captions.txt" if name == "csv" else source)
        assert direct == read_captioned(source), name


def test_real_flickr_jsonl_is_read_whole() -> None:
    if not (FLICKR / "captions.jsonl").is_file():
        pytest.skip("flickr8k-mini is missing")
    items = read_captioned(FLICKR)
    assert Counter(it.split for it in items) == {"train": 306, "dev": 43, "test": 50, "none": 1}
    assert source_root(FLICKR / "captions.jsonl") == FLICKR.resolve()


def test_csv_split_file_and_flickr_split_lists(tmp_path: Path, photos: list[Path]) -> None:
    source, expected = make_csv(tmp_path, photos)
    a, b, c, d = expected
    (tmp_path / "splits.txt").write_text(f"image,split\n{a},train\n{b}\tvalidation\n{c} test\n")
    split_of = {it.path.name: it.split for it in read_captioned(source, split_file=tmp_path / "splits.txt")}
    assert split_of == {a: "train", b: "dev", c: "test", d: "none"}  # unlisted: none
    (tmp_path / "Flickr_8k.trainImages.txt").write_text(f"{a}\n{d}\n")
    (tmp_path / "Flickr_8k.testImages.txt").write_text(f"{b}\n")
    split_of = {it.path.name: it.split for it in read_captioned(source)}
    assert split_of == {a: "train", b: "test", c: "none", d: "train"}


def test_csv_images_dir_elsewhere(tmp_path: Path, photos: list[Path]) -> None:
    copy_photos(photos[:1], tmp_path / "pics")
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "captions.csv").write_text(f"image,caption\n{photos[0].name},A dog .\n")
    items = read_captioned(tmp_path / "meta", images_dir=tmp_path / "pics")
    assert [it.path for it in items] == [(tmp_path / "pics" / photos[0].name).resolve()]


def test_imagefolder_split_column_and_root_metadata(tmp_path: Path, photos: list[Path]) -> None:
    copy_photos(photos[:2], tmp_path)
    copy_photos(photos[2:3], tmp_path / "test")
    (tmp_path / "metadata.jsonl").write_text(
        json.dumps({"file_name": photos[0].name, "text": "a", "split": "valid"}) + "\n"
        + json.dumps({"file_name": photos[1].name, "text": "b"}) + "\n"
        + json.dumps({"file_name": f"test/{photos[2].name}", "text": "c"}) + "\n")
    split_of = {it.path.name: it.split for it in read_captioned(tmp_path)}
    assert split_of == {photos[0].name: "dev", photos[1].name: "none", photos[2].name: "test"}


def test_sidecar_split_folders(tmp_path: Path, photos: list[Path]) -> None:
    for folder, photo in [("train", photos[0]), ("test", photos[1]), ("misc", photos[2])]:
        (img,) = copy_photos([photo], tmp_path / folder)
        img.with_suffix(".txt").write_text("caption\n")
    split_of = {it.path.name: it.split for it in read_captioned(tmp_path)}
    assert split_of == {photos[0].name: "train", photos[1].name: "test", photos[2].name: "none"}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_missing_images_are_skipped_and_counted(tmp_path: Path, photos: list[Path], layout: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    source, expected = LAYOUTS[layout](tmp_path, photos)
    gone = next(p for p in sorted(source.rglob("*.jpg")) if p.name in expected)
    gone.unlink()
    with caplog.at_level(logging.WARNING, logger="groundcap.data"):
        items = read_captioned(source)
    assert {it.path.name for it in items} == set(expected) - {gone.name}
    if layout != "sidecars":  # a walked folder never lists the missing file at all
        assert "skipped 1 listed image(s)" in caplog.text


# -- bad rows and escaping paths: (layout, file, content, expected message) ---------------------

BAD = [
    ("csv", "captions.txt", "image,caption\n{a},A dog .\n{b}\n", r"captions.txt:3: expected 'image,caption'"),
    ("csv", "captions.txt", "image,caption\n{a},\n", r"captions.txt:2: expected 'image,caption'"),
    ("csv", "captions.txt", "photo;text\n{a},A dog .\n", r"captions.txt:1: expected the header"),
    ("csv", "captions.txt", "image,caption\n../{a},A dog .\n", r"captions.txt:2: image path .* leaves"),
    ("csv", "captions.txt", "image,caption\n/etc/passwd.jpg,A dog .\n", r"captions.txt:2: image path .* leaves"),
    ("imagefolder", "metadata.jsonl", '{{"file_name": "{a}", "text": "x"}}\n{{oops\n',
     r"metadata.jsonl:2: not valid JSON"),
    ("imagefolder", "metadata.jsonl", '{{"text": "x"}}\n', r"metadata.jsonl:1: expected an object with a 'file_name'"),
    ("imagefolder", "metadata.jsonl", '{{"file_name": "{a}", "label": 3}}\n',
     r"metadata.jsonl:1: expected a 'text', 'caption' or 'captions'"),
    ("imagefolder", "metadata.jsonl", '{{"file_name": "{a}", "text": ["", " "]}}\n', r"metadata.jsonl:1: 'text' must"),
    ("imagefolder", "metadata.jsonl", '{{"file_name": "{a}", "text": "x", "split": "restval"}}\n',
     r"metadata.jsonl:1: unknown split 'restval'"),
    ("imagefolder", "metadata.jsonl", '{{"file_name": "../{a}", "text": "x"}}\n',
     r"metadata.jsonl:1: image path .* leaves"),
    ("jsonl", "captions.jsonl", '{{"image": "../{a}", "captions": ["x"]}}\n',
     r"captions.jsonl:1: image path .* leaves"),
    ("jsonl", "captions.jsonl", '{{"image": "{a}"}}\n', r"captions.jsonl:1: expected an object"),
]


@pytest.mark.parametrize("layout, file_name, content, message", BAD)
def test_bad_rows_name_file_and_line(tmp_path: Path, photos: list[Path], layout: str, file_name: str,
                                     content: str, message: str) -> None:
    root = tmp_path / "src"
    copy_photos(photos, root / ("Images" if layout == "csv" else ""))
    copy_photos(photos[:1], tmp_path)  # the target of ../ exists, so only the escape is wrong
    (root / file_name).write_text(content.format(a=photos[0].name, b=photos[1].name))
    with pytest.raises(ValueError, match=message):
        read_captioned(root)


def test_sidecar_symlink_leaving_the_folder_is_skipped(tmp_path: Path, photos: list[Path],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    (outside,) = copy_photos(photos[:1], tmp_path / "elsewhere")
    album = tmp_path / "album"
    (inside,) = copy_photos(photos[1:2], album)
    inside.with_suffix(".txt").write_text("inside\n")
    (album / "link.jpg").symlink_to(outside)
    (album / "link.txt").write_text("outside\n")
    with caplog.at_level(logging.WARNING, logger="groundcap.data"):
        items = read_captioned(album)
    assert [it.path.name for it in items] == [inside.name]
    assert "skipped 1 image(s) that resolve outside" in caplog.text


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "nothing-here", "no such file or folder"),
    (lambda p: p, "found no captions.jsonl"),
    (lambda p: (p / "notes.md").write_text("x") and p / "notes.md", "not a captions file"),
])
def test_unrecognised_sources(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_captioned(make(tmp_path))


def test_hash_split_is_deterministic_and_80_10_10() -> None:
    names = [f"{i:06d}_abc.jpg" for i in range(3000)]
    counts = Counter(hash_split(n) for n in names)
    assert abs(counts["train"] / 3000 - 0.8) < 0.03
    assert abs(counts["dev"] / 3000 - 0.1) < 0.02
    assert abs(counts["test"] / 3000 - 0.1) < 0.02
    assert [hash_split(n) for n in names[:50]] == [hash_split(f"some/dir/{n}") for n in names[:50]]


@pytest.mark.parametrize("value, expected", [
    ("train", "train"), ("Validation", "dev"), ("val", "dev"), ("dev", "dev"), ("test", "test"),
    (None, "none"), ("", "none"), ("restval", ValueError),
])
def test_normalize_split(value: object, expected: object) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="unknown split"):
            normalize_split(value)
    else:
        assert normalize_split(value) == expected


def test_jsonl_reader_is_reused(tmp_path: Path, photos: list[Path]) -> None:
    source, _ = make_jsonl(tmp_path, photos)
    assert read_captioned(source) == read_captions_jsonl(source / "captions.jsonl")

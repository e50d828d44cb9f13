"""Tests for groundcap.data.inputs: folders, imagefolders, manifests and saved datasets as run inputs."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from pathlib import Path

import pytest
from PIL import Image

from groundcap.data.inputs import InputItem, input_root, item_key, read_inputs, read_item_bytes
from groundcap.errors import ImageError


def png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buf, "PNG")
    return buf.getvalue()


def put(path: Path, data: bytes | str = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def sources(items: list[InputItem]) -> list[str]:
    return [it.source for it in items]


# -- folders -------------------------------------------------------------------


def test_folder_is_walked_recursively_and_sorted_by_source(tmp_path):
    for name in ("b.JPG", "a/z.png", "a/y.webp", "c.tiff", "d.gif", "e.bmp", "notes.md", "f.jpeg"):
        put(tmp_path / name, png())
    items = read_inputs(tmp_path)
    assert sources(items) == ["a/y.webp", "a/z.png", "b.JPG", "c.tiff", "d.gif", "e.bmp", "f.jpeg"]
    assert items[0].path == str(tmp_path.resolve() / "a" / "y.webp")
    assert read_item_bytes(items[0]) == png()
    assert all(it.status == "" and it.hf is None for it in items)
    assert read_inputs(tmp_path) == items
    assert input_root(tmp_path) == tmp_path.resolve()


@pytest.mark.parametrize("sidecar, expected", [
    (b"  a red dog\n on grass ", "a red dog on grass"),
    ("un caf\u00e9 cr\u00e8me".encode(), "un caf\u00e9 cr\u00e8me"),
    ("caf\u00e9 au lait".encode("latin-1"), "caf\u00e9 au lait"),  # not UTF-8: read as Windows-1252
    (b"\xef\xbb\xbfwith a BOM", "with a BOM"),
    (png(), None),  # binary
    (b"   \n\t ", None),  # empty after stripping
    (b"", None),
], ids=["text", "utf8", "latin1", "bom", "binary", "blank", "empty"])
def test_sidecar_is_the_prior(tmp_path, sidecar, expected):
    put(tmp_path / "photo.jpg", png())
    put(tmp_path / "photo.txt", sidecar)
    [item] = read_inputs(tmp_path)
    # A BOM is a zero-width character the prompt cleaning drops.
    assert item.prior == expected


def test_huge_sidecar_is_read_in_part_and_cut(tmp_path):
    put(tmp_path / "photo.jpg", png())
    put(tmp_path / "photo.txt", "word " * 100_000)
    [item] = read_inputs(tmp_path)
    assert item.prior is not None and item.prior.startswith("word word") and len(item.prior) <= 500


def test_sidecar_that_is_a_fifo_or_a_folder_is_not_read(tmp_path):
    put(tmp_path / "a.jpg", png())
    os.mkfifo(tmp_path / "a.txt")
    put(tmp_path / "b.jpg", png())
    (tmp_path / "b.txt").mkdir()
    assert [it.prior for it in read_inputs(tmp_path)] == [None, None]


def test_excluded_and_hidden_folders_are_skipped(tmp_path):
    put(tmp_path / "in" / "a.jpg", png())
    put(tmp_path / "in" / "out" / "images" / "k.jpg", png())
    put(tmp_path / "in" / ".cache" / "b.jpg", png())
    put(tmp_path / "in" / "._a.jpg", b"\x00\x05\x16\x07")  # a macOS resource fork
    assert sources(read_inputs(tmp_path / "in", exclude=[tmp_path / "in" / "out"])) == ["a.jpg"]
    assert sources(read_inputs(tmp_path / "in")) == ["a.jpg", "out/images/k.jpg"]


def test_odd_file_names_work(tmp_path):
    names = ["with space.jpg", "\u732b \u00e9t\u00e9.png", "-rf.jpg", "--.jpeg", os.fsdecode(b"caf\xe9.jpg")]
    for name in names:
        put(tmp_path / name, png())
    items = read_inputs(tmp_path)
    assert sorted(sources(items)) == sorted(names)
    for item in items:
        assert read_item_bytes(item) == png()
    latin = next(it for it in items if it.source == os.fsdecode(b"caf\xe9.jpg"))
    assert os.fsencode(latin.path).endswith(b"/caf\xe9.jpg")


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.mkdir(), "is_directory"),
    (lambda p: p.symlink_to(p.parent / "missing.jpg"), "broken_link"),
    (lambda p: p.symlink_to(p), "symlink_loop"),
    (lambda p: p.write_bytes(b""), "empty_file"),
    (lambda p: p.write_bytes(b"<html>404</html>"), None),  # listed fine; decoding, not reading, fails
])
def test_unreadable_entries_are_still_items(tmp_path, make, reason):
    make(tmp_path / "x.jpg")
    [item] = read_inputs(tmp_path)
    assert (item.source, item.status) == ("x.jpg", "")
    if reason is None:
        assert read_item_bytes(item) == b"<html>404</html>"
        return
    with pytest.raises(ImageError) as err:
        read_item_bytes(item)
    assert err.value.reason == reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
def test_unreadable_file_is_an_item(tmp_path):
    put(tmp_path / "x.jpg", png()).chmod(0)
    [item] = read_inputs(tmp_path)
    with pytest.raises(ImageError, match="permission"):
        read_item_bytes(item)


def test_symlinks_outside_the_folder_fail_without_being_read(tmp_path):
    secret = put(tmp_path / "secret" / "s.jpg", png())
    put(tmp_path / "secret" / "s.txt", "private words")
    root = tmp_path / "in"
    put(root / "inside.jpg", png())
    (root / "out.jpg").symlink_to(secret)
    (root / "again.jpg").symlink_to(root / "inside.jpg")
    (root / "again.txt").symlink_to(tmp_path / "secret" / "s.txt")
    (root / "linked").symlink_to(tmp_path / "secret", target_is_directory=True)
    items = {it.source: it for it in read_inputs(root)}
    assert sorted(items) == ["again.jpg", "inside.jpg", "out.jpg"]  # linked folders are not walked
    assert (items["out.jpg"].status, items["out.jpg"].path) == ("outside_root", "")
    with pytest.raises(ImageError) as err:
        read_item_bytes(items["out.jpg"])
    assert err.value.reason == "outside_root" and err.value.source == "out.jpg"
    assert items["again.jpg"].status == "" and items["again.jpg"].prior is None
    assert read_item_bytes(items["again.jpg"]) == png()


def test_imagefolder_metadata_comes_before_sidecars(tmp_path):
    put(tmp_path / "train" / "a.jpg", png())
    put(tmp_path / "train" / "a.txt", "sidecar a")
    put(tmp_path / "train" / "b.jpg", png())
    put(tmp_path / "train" / "b.txt", "sidecar b")
    put(tmp_path / "train" / "c.jpg", png())
    put(tmp_path / "train" / "metadata.jsonl",
        json.dumps({"file_name": "a.jpg", "text": "meta a"}) + "\n"
        + json.dumps({"file_name": "c.jpg", "captions": ["meta c1", "meta c2"]}) + "\n")
    put(tmp_path / "test" / "d.jpg", png())
    put(tmp_path / "metadata.jsonl", json.dumps({"file_name": "test/d.jpg", "caption": "meta d"}) + "\n")
    items = read_inputs(tmp_path)
    assert [(it.source, it.prior) for it in items] == [
        ("test/d.jpg", "meta d"), ("train/a.jpg", "meta a"), ("train/b.jpg", "sidecar b"),
        ("train/c.jpg", "meta c1")]


def test_malformed_imagefolder_metadata_names_the_line(tmp_path):
    put(tmp_path / "a.jpg", png())
    put(tmp_path / "metadata.jsonl", '{"file_name": "a.jpg", "text": "ok"}\n{"file_name": \n')
    with pytest.raises(ValueError, match=r"metadata\.jsonl:2: not valid JSON"):
        read_inputs(tmp_path)


# -- manifests -----------------------------------------------------------------


def test_csv_manifest_rows_in_file_order(tmp_path):
    put(tmp_path / "imgs" / "b.jpg", png())
    put(tmp_path / "imgs" / "a.jpg", png())
    outside = put(tmp_path.parent / f"{tmp_path.name}-other" / "o.jpg", png())
    put(tmp_path / "list.csv", f'image,caption,extra\nimgs/b.jpg,"a dog, running",1\n./imgs/a.jpg,,2\n'
                               f"{outside},cat,3\nimgs/gone.jpg,gone,4\n")
    items = read_inputs(tmp_path / "list.csv")
    assert [(it.source, it.prior) for it in items] == [
        ("imgs/b.jpg", "a dog, running"), ("imgs/a.jpg", None), (str(outside), "cat"), ("imgs/gone.jpg", "gone")]
    assert items[0].path == str(tmp_path.resolve() / "imgs" / "b.jpg")
    assert read_item_bytes(items[2]) == png()  # absolute paths are allowed
    with pytest.raises(ImageError) as err:
        read_item_bytes(items[3])
    assert err.value.reason == "not_found"
    assert input_root(tmp_path / "list.csv") == tmp_path.resolve()


def test_tsv_is_sniffed_and_columns_can_be_named(tmp_path):
    put(tmp_path / "a.jpg", png())
    put(tmp_path / "list.tsv", "File Name\tAlt, text\tnote\na.jpg\tmy, caption\tx\n")
    [item] = read_inputs(tmp_path / "list.tsv", caption_column="note")
    assert (item.source, item.prior) == ("a.jpg", "x")
    put(tmp_path / "list.csv", "pic\tdesc\na.jpg\thello\n")  # tabs win over commas whatever the suffix
    [item] = read_inputs(tmp_path / "list.csv", path_column="pic", caption_column="desc")
    assert (item.source, item.prior) == ("a.jpg", "hello")


def test_relative_paths_leaving_the_manifest_folder_are_outside_root(tmp_path):
    put(tmp_path / "m" / "ok.jpg", png())
    put(tmp_path / "secret.jpg", png())
    (tmp_path / "m" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    put(tmp_path / "m" / "list.csv", "path\n../../etc/passwd\nlink.jpg\nsub/../../secret.jpg\nok.jpg\n")
    items = read_inputs(tmp_path / "m" / "list.csv")
    assert [(it.source, it.status) for it in items] == [
        ("../../etc/passwd", "outside_root"), ("link.jpg", "outside_root"), ("../secret.jpg", "outside_root"),
        ("ok.jpg", "")]
    assert all(it.path == "" for it in items[:3])
    with pytest.raises(ImageError) as err:
        read_item_bytes(items[0])
    assert err.value.reason == "outside_root"


def test_repeated_rows_are_kept_once_with_one_warning(tmp_path, caplog):
    put(tmp_path / "a.jpg", png())
    put(tmp_path / "b.jpg", png())
    put(tmp_path / "captions.txt", "image,caption\na.jpg,one\na.jpg,two\nb.jpg,three\n./a.jpg,four\n")
    with caplog.at_level(logging.WARNING, logger="groundcap.data"):
        items = read_inputs(tmp_path / "captions.txt")
    assert [(it.source, it.prior) for it in items] == [("a.jpg", "one"), ("b.jpg", "three")]
    [record] = [r for r in caplog.records if r.name == "groundcap.data"]
    assert "2 repeated row" in record.getMessage()


@pytest.mark.parametrize("name, text, kwargs, match", [
    ("m.csv", "url,caption\nx.jpg,c\n", {}, r"m\.csv: no image path column.*found columns: 'url', 'caption'"),
    ("m.csv", "path\nx.jpg\n", {"path_column": "file"}, r"m\.csv: no column 'file'; found columns: 'path'"),
    ("m.csv", "path\nx.jpg\n", {"caption_column": "alt"}, r"no column 'alt'"),
    ("m.csv", "", {}, r"m\.csv: empty manifest"),
    ("m.csv", "path,caption\n,lonely\n", {}, r"m\.csv:2: empty, missing or invalid image path"),
    ("m.jsonl", '{"path": "a.jpg"}\n{"path": "b.jpg"\n', {}, r"m\.jsonl:2: not valid JSON"),
    ("m.jsonl", '{"path": "a.jpg"}\n\n["b.jpg"]\n', {}, r"m\.jsonl:3: expected a JSON object"),
    ("m.jsonl", '{"path": "a.jpg"}\n{"caption": "no path"}\n', {}, r"m\.jsonl:2: empty, missing or invalid image path"),
    ("m.jsonl", '{"url": "a.jpg"}\n', {}, r"found columns: 'url'"),
    ("m.json", "[]", {}, r"not a folder or a manifest"),
    ("missing.csv", None, {}, r"no such file or folder"),
])
def test_manifest_errors_name_the_file(tmp_path, name, text, kwargs, match):
    if text is not None:
        put(tmp_path / name, text)
    with pytest.raises(ValueError, match=match):
        read_inputs(tmp_path / name, **kwargs)


def test_manifest_that_is_not_utf8_is_read_as_bytes(tmp_path):
    name = b"caf\xe9.jpg"
    put(tmp_path / os.fsdecode(name), png())
    put(tmp_path / "list.csv", b"path,caption\n" + name + b",un caf\xe9 cr\xe8me noir et blanc\n")
    [item] = read_inputs(tmp_path / "list.csv")
    assert item.source == os.fsdecode(name) and item.status == ""
    assert read_item_bytes(item) == png()
    assert item.prior == "un café crème noir et blanc"  # an 8-bit caption is read as Windows-1252


def test_jsonl_manifest_with_a_caption_list(tmp_path):
    put(tmp_path / "a.jpg", png())
    put(tmp_path / "list.jsonl", json.dumps({"img": "a.jpg", "title": ["first", "second"]}) + "\n")
    [item] = read_inputs(tmp_path / "list.jsonl")
    assert (item.source, item.prior) == ("a.jpg", "first")


def test_parquet_manifest(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    put(tmp_path / "a.jpg", png())
    put(tmp_path / "b.jpg", png((0, 0, 255)))
    table = pa.table({"file_name": ["b.jpg", "a.jpg"], "text": ["blue", None], "n": [1, 2]})
    pq.write_table(table, tmp_path / "list.parquet")
    items = read_inputs(tmp_path / "list.parquet")
    assert [(it.source, it.prior) for it in items] == [("b.jpg", "blue"), ("a.jpg", None)]
    assert read_item_bytes(items[0]) == png((0, 0, 255))


# -- datasets saved with save_to_disk --------------------------------------------


@pytest.fixture()
def dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    on_disk = put(tmp_path / "files" / "green.png", png((0, 255, 0)))
    features = datasets.Features({"text": datasets.Value("string"), "picture": datasets.Image()})
    return datasets.Dataset.from_dict({
        "text": ["red", None, "green"],
        "picture": [{"bytes": png(), "path": None}, {"bytes": png((0, 0, 9)), "path": None},
                    {"bytes": None, "path": str(on_disk)}],
    }, features=features)


def test_saved_dataset_rows_round_trip(tmp_path, dataset, monkeypatch):
    import datasets

    dataset.save_to_disk(str(tmp_path / "ds"))
    loads = []
    real_load = datasets.load_from_disk
    monkeypatch.setattr(datasets, "load_from_disk", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    items = read_inputs(tmp_path / "ds")
    folder = str((tmp_path / "ds").resolve())
    assert [(it.source, it.prior, it.hf, it.path) for it in items] == [
        ("train/0", "red", (folder, "train", 0), ""), ("train/1", None, (folder, "train", 1), ""),
        ("train/2", "green", (folder, "train", 2), "")]
    assert [read_item_bytes(it) for it in items] == [png(), png((0, 0, 9)), png((0, 255, 0))]
    assert len(loads) == 1  # opened once per folder, not once per row
    with pytest.raises(ValueError, match="the image column is 'picture'"):
        read_inputs(tmp_path / "ds", path_column="text")
    with pytest.raises(ImageError) as err:
        read_item_bytes(InputItem("train/7", hf=(folder, "train", 7)))
    assert err.value.reason == "not_found"


def test_saved_dataset_dict_keeps_its_split_order(tmp_path, dataset):
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict({"validation": dataset.select([1]), "train": dataset.select([0, 2])}).save_to_disk(
        str(tmp_path / "dd"))
    items = read_inputs(tmp_path / "dd")
    assert [(it.source, it.prior) for it in items] == [("validation/0", None), ("train/0", "red"),
                                                       ("train/1", "green")]
    assert read_item_bytes(items[0]) == png((0, 0, 9))
    assert read_item_bytes(items[2]) == png((0, 255, 0))


# -- keys ------------------------------------------------------------------------


def test_item_key_is_stable():
    digest = hashlib.sha256(b"photo.jpg").hexdigest()
    expected = hashlib.sha256(b"dogs/rex.jpg\n" + digest.encode()).hexdigest()[:16]
    assert item_key("dogs/rex.jpg", digest) == expected
    assert item_key("dogs/rex.jpg", hashlib.sha256(b"").hexdigest()) == "f3f303c6b7f75770"
    raw = b"caf\xe9.jpg"
    assert item_key(os.fsdecode(raw), digest) == hashlib.sha256(raw + b"\n" + digest.encode()).hexdigest()[:16]
    assert item_key("a.jpg", digest) != item_key("b.jpg", digest)

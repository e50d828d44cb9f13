"""Building a datastore from a few real flickr8k-mini photos with the shipped EfficientNet-Lite3."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from groundcap.datastore import build_datastore, open_datastore
from groundcap.datastore.build import CAPTIONS, EMBEDDINGS, MANIFEST, MANIFEST_FIELDS
from groundcap.datastore.store import read_captions
from groundcap.errors import ConfigError

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def built(tiny_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "store"
    summary = build_datastore(tiny_set, out, embedding="efficientnet-lite3", split="train", pca=2,
                              feature_cache=tmp_path_factory.mktemp("features"))
    return summary, out


def test_build_skips_bad_photos_with_a_count(built):
    summary, out = built
    assert summary.count == 3 and summary.dim == 2
    assert sum(summary.skipped.values()) == 2 and "not_found" in summary.skipped, summary.skipped
    assert any("broken.jpg" in e for e in summary.errors)
    assert sorted(p.name for p in out.iterdir()) == sorted([CAPTIONS, EMBEDDINGS, MANIFEST])
    assert not list(out.parent.glob(".*"))  # no temp folder left behind


def test_manifest_describes_the_build(built, tiny_set):
    manifest = json.loads((built[1] / MANIFEST).read_text())
    assert set(MANIFEST_FIELDS) <= set(manifest)
    assert manifest["count"] == 3 and manifest["dim"] == 2 and manifest["embedding_dim"] == 1280
    assert manifest["embedding"] == "efficientnet-lite3" and manifest["query_preprocess"] == "squash-224"
    assert manifest["source"]["split"] == "train" and manifest["source"]["name"] == tiny_set.name
    assert str(tiny_set) not in json.dumps(manifest)


def test_a_photo_finds_itself_first_unless_excluded(tiny_set, tmp_path):
    summary = build_datastore(tiny_set, tmp_path / "full", split="train", feature_cache=tmp_path / "f")
    store = open_datastore(summary.out)
    first = json.loads((tiny_set / "captions.jsonl").read_text().splitlines()[0])
    photo, key = tiny_set / first["image"], first["image"].split("/")[-1]
    near = store.neighbours(str(photo), k=3)
    assert near[0].key == key and near[0].similarity == pytest.approx(1.0, abs=5e-3)
    assert near[0].captions == tuple(first["captions"])
    assert near[1].similarity < 0.99
    assert key not in [n.key for n in store.neighbours(str(photo), k=3, exclude_keys=[key])]
    # stored int8 vectors against freshly embedded ones
    fresh = store.embed([tiny_set / "images" / k for k in store.keys])
    assert np.abs(np.sum(fresh * store.vectors, axis=1) - 1).max() < 2e-3


def test_a_full_resolution_query_is_squashed_like_the_datastore(built, tiny_set):
    store = open_datastore(built[1])
    from PIL import Image

    photo = tiny_set / "images" / store.keys[0]
    with Image.open(photo) as img:
        squashed = np.asarray(img.convert("RGB").resize((224, 224), Image.BILINEAR))
    assert store.neighbours(squashed, k=1)[0].key == store.keys[0]


def test_rebuild_replaces_a_datastore_but_not_other_folders(tiny_set, tmp_path):
    out = tmp_path / "store"
    build_datastore(tiny_set, out, split="dev", feature_cache=tmp_path / "f")
    assert open_datastore(out).keys and len(open_datastore(out)) == 1
    build_datastore(tiny_set, out, split="train", feature_cache=tmp_path / "f")
    assert len(open_datastore(out)) == 3
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a datastore"):
        build_datastore(tiny_set, tmp_path / "mine", feature_cache=tmp_path / "f")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_only_broken_photos_is_a_clear_error(tiny_set, tmp_path):
    src = tmp_path / "bad"
    (src / "images").mkdir(parents=True)
    shutil.copy(tiny_set / "images" / "broken.jpg", src / "images" / "broken.jpg")
    (src / "captions.jsonl").write_text(json.dumps({"image": "images/broken.jpg", "captions": ["x ."]}) + "\n")
    with pytest.raises(ConfigError, match="no photo could be embedded"):
        build_datastore(src, tmp_path / "out", feature_cache=None)
    assert not (tmp_path / "out").exists()


def test_open_refuses_a_folder_without_a_manifest(tmp_path):
    with pytest.raises(ConfigError, match="no caption datastore"):
        open_datastore(tmp_path)
    with pytest.raises(ConfigError, match="no caption datastore"):
        read_captions(tmp_path)

"""The datastore that ships with groundcap: it opens, says what it is, and names no machine's paths."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from groundcap.datastore import default_datastore_path, open_datastore
from groundcap.datastore.build import MANIFEST_FIELDS
from groundcap.datastore.store import read_captions

_MACHINE_PATH = re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\\\|site-packages)")


@pytest.fixture(scope="module")
def shipped():
    path = default_datastore_path()
    if not (path / "datastore.json").is_file():
        pytest.skip(f"no shipped datastore at {path} (a stripped install)")
    return path


def test_shipped_datastore_opens_with_its_manifest(shipped):
    store = open_datastore(shipped)
    manifest = store.manifest
    assert set(MANIFEST_FIELDS) <= set(manifest)
    assert manifest["count"] == len(store) == 5247 and manifest["source"]["split"] == "train"
    assert manifest["source"]["name"] == "flickr8k-224" and len(manifest["source"]["sha256"]) == 64
    assert store.dim == manifest["dim"] and np.allclose(np.linalg.norm(store.vectors, axis=1), 1, atol=1e-4)
    assert len(set(store.keys)) == len(store) and all(len(c) == 5 for c in store.captions)


def test_shipped_files_name_no_machine_path_and_stay_small(shipped):
    files = list(shipped.iterdir())
    assert sum(f.stat().st_size for f in files) < 6_000_000
    for f in files:
        text = f.read_bytes().decode("utf-8", "replace")
        assert not _MACHINE_PATH.search(text), f"{f.name} names a machine path: {_MACHINE_PATH.search(text)[0]}"
    card = (shipped.parent / "DATASTORE.md").read_text()
    assert "research use only" in card and "groundcap datastore build" in card
    assert not _MACHINE_PATH.search(card)


def test_shipped_vectors_search_themselves(shipped):
    store = open_datastore(shipped)
    near = store.neighbours(store.vectors[123], k=2)
    assert near[0].key == store.keys[123] and near[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert json.loads(json.dumps(near[0].to_dict()))["key"] == store.keys[123]


def test_read_captions_gives_the_opened_datastores_captions_without_its_vectors(shipped):
    keys, captions = read_captions(shipped)
    store = open_datastore(shipped)
    assert keys == store.keys and captions == store.captions and len(captions) == 5247

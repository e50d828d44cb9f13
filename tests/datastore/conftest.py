"""A tiny captioned set made from a few flickr8k-mini photos, for the datastore tests."""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture(scope="session")
def tiny_set(flickr_dir, tmp_path_factory):
    """4 photos (3 train, 1 dev) copied from flickr8k-mini, a corrupt one and a missing one, all train."""
    rows = [json.loads(line) for line in (flickr_dir / "captions.jsonl").read_text().splitlines()[:4]]
    root = tmp_path_factory.mktemp("tiny")
    (root / "images").mkdir()
    for i, row in enumerate(rows):
        shutil.copy(flickr_dir / row["image"], root / row["image"])
        row["split"] = "dev" if i == 3 else "train"
    (root / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    rows += [{"image": "images/broken.jpg", "captions": ["a broken photo ."], "split": "train"},
             {"image": "images/gone.jpg", "captions": ["a missing photo ."], "split": "train"}]
    (root / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root

"""The guarded walker and every caller that walks a folder or loops over its photos.

Each test builds one folder holding a good photo, a FIFO named ``x.jpg``, a
link out of the folder, a link that loops, a linked folder that loops back to
the root, an oversized file and a FIFO sidecar: nothing blocks, nothing is
read from outside, and each bad entry is skipped or reported by reason.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from groundcap.data import images
from groundcap.data.caption_sources import read_sidecar_folder
from groundcap.data.inputs import read_inputs, read_item_bytes
from groundcap.data.walk import load_counted, read_sidecar_caption, walk_images
from groundcap.errors import ImageError

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    jpeg = _jpeg()
    monkeypatch.setattr(images, "MAX_FILE_BYTES", len(jpeg) + 100)
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.jpg").write_bytes(jpeg)
    (tmp_path / "secret.txt").write_text("read from outside")
    (root / "ok.jpg").write_bytes(jpeg)
    (root / "ok.txt").write_text("a grey square\n")
    os.mkfifo(root / "fifo.jpg")
    (root / "fifo.txt").write_text("a fifo")
    (root / "out.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "out.txt").write_text("escaped")
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    (root / "loop.txt").write_text("a loop")
    (root / "big.jpg").write_bytes(jpeg + b"\0" * 1000)
    (root / "big.txt").write_text("big")
    (root / "pipe.jpg").write_bytes(jpeg)
    os.mkfifo(root / "pipe.txt")  # a FIFO sidecar would block a plain read
    (root / "sub").mkdir()
    (root / "sub" / "back").symlink_to(root)  # a linked folder looping back
    return root


def test_walk_marks_links_out_and_does_not_follow_linked_folders(tree: Path):
    found = {e.rel: e for e in walk_images(str(tree))}
    assert set(found) == {"ok.jpg", "fifo.jpg", "out.jpg", "loop.jpg", "big.jpg", "pipe.jpg"}
    assert found["out.jpg"].outside and found["out.jpg"].is_link
    assert not found["loop.jpg"].outside and not found["ok.jpg"].outside


def test_read_inputs_reports_each_bad_entry(tree: Path):
    reasons = {}
    for item in read_inputs(tree):
        try:
            read_item_bytes(item)
            reasons[item.source] = "ok"
        except ImageError as e:
            reasons[item.source] = e.reason
    assert reasons == {"ok.jpg": "ok", "pipe.jpg": "ok", "fifo.jpg": "unsupported", "out.jpg": "outside_root",
                       "loop.jpg": "symlink_loop", "big.jpg": "too_large"}
    priors = {it.source: it.prior for it in read_inputs(tree)}
    assert priors["ok.jpg"] == "a grey square" and priors["pipe.jpg"] is None and priors["out.jpg"] is None


def test_sidecar_folder_skips_fifos_links_out_and_loops(tree: Path):
    items = read_sidecar_folder(tree)
    assert [p.name for p in (it.path for it in items)] == ["big.jpg", "ok.jpg"]
    assert all("outside" not in c for it in items for c in it.captions)


def test_sidecar_reads_are_capped(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "a.txt").write_text("word " * 20000)
    data = read_sidecar_caption(tmp_path / "a.jpg")
    assert data is not None and len(data) <= 64 * 1024
    (item,) = read_sidecar_folder(tmp_path)
    assert len("\n".join(item.captions).encode()) <= 64 * 1024


def test_photo_loops_count_each_bad_photo_by_reason(tree: Path):
    """The datastore build and the image index decode through :func:`load_counted`."""
    skipped: Counter = Counter()
    errors: list[str] = []
    loaded = [e.rel for e in walk_images(str(tree)) if load_counted(e.path, skipped, errors) is not None]
    assert sorted(loaded) == ["ok.jpg", "out.jpg", "pipe.jpg"]  # out.jpg: callers check ``outside`` first
    assert skipped == Counter(unsupported=1, symlink_loop=1, too_large=1) and len(errors) == 3


def test_image_index_rows_skip_bad_photos(tree: Path):
    from groundcap.rerank.index_build import _embedded
    from groundcap.rerank.index_table import IndexRow

    class Model:
        name, dim = "fake", 2

        def embed_images(self, imgs):
            return np.ones((len(imgs), 2), np.float32)

    rows = [IndexRow(name, tree / name) for name in ("ok.jpg", "fifo.jpg", "loop.jpg", "big.jpg")]
    skipped: Counter = Counter()
    done = list(_embedded(rows, Model(), 8, skipped, []))
    assert [r.key for r, *_ in done] == ["ok.jpg"]
    assert skipped == Counter(unsupported=1, symlink_loop=1, too_large=1)

"""The ``webdataset`` format: ``webdataset/NNNNN.tar``, one per shard, and open_clip's ``sizes.json``.

Each sample is ``{key}.jpg``, ``{key}.txt`` and ``{key}.json``; the tar
members carry fixed metadata (mtime 0, uid 0), so the same rows give the
same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from groundcap.data.atomic import atomic_file
from groundcap.data.run_outputs import ImageBytes, captioned, jpeg_of, write_json_atomic
from groundcap.data.run_shards import storable
from groundcap.data.writers import OutputJob
from groundcap.records import RunRow

__all__ = ["sample_json", "write_tar", "write_sizes", "write_webdataset"]


def sample_json(row: RunRow) -> dict[str, Any]:
    """The ``{key}.json`` of a WebDataset sample: identity, size, caption and the facts."""
    return {"key": row.key, "source": row.source, "caption": row.caption, "status": row.status,
            "width": row.width, "height": row.height, "sha256": row.sha256, "facts": row.facts_json()}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
    tar.addfile(info, io.BytesIO(data))


def write_tar(rows: Sequence[Mapping[str, Any]], path: str | Path, image_bytes: ImageBytes) -> int:
    """Writes one WebDataset shard of the captioned ``rows``; returns how many samples it holds.

    A row whose image can no longer be read is left out (and not counted).
    """
    n = 0
    with atomic_file(path) as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for row in captioned(rows):
            jpeg = jpeg_of(row, image_bytes)
            if jpeg is None:
                continue
            key = row.key
            _add(tar, f"{key}.jpg", jpeg)
            _add(tar, f"{key}.txt", row.caption.encode("utf-8"))
            # storable: the facts JSON may escape a non-UTF-8 file name's surrogates, which json.loads brings back
            meta = storable(json.dumps(sample_json(row), sort_keys=True, ensure_ascii=False))
            _add(tar, f"{key}.json", meta.encode())
            n += 1
    return n


def write_sizes(folder: str | Path, counts: Mapping[str, int]) -> Path:
    """``sizes.json`` ({tar name: samples}), which open_clip reads to know the dataset size."""
    return write_json_atomic(Path(folder) / "sizes.json", dict(counts))


def _tar_samples(tar: Path) -> int:
    with tarfile.open(tar) as t:
        return sum(1 for m in t.getmembers() if m.name.endswith(".txt"))


def write_webdataset(job: OutputJob) -> int:
    """Writes the tar of every committed shard that has none yet, then ``sizes.json``; returns the samples."""
    store = job.store
    store.wds_dir.mkdir(exist_ok=True)
    sizes = {}
    for index in store.committed():
        tar = store.tar_path(index)
        if not tar.is_file():
            write_tar(store.read_rows(index), tar, job.image_bytes)
        sizes[tar.name] = _tar_samples(tar)
    write_sizes(store.wds_dir, sizes)
    return sum(sizes.values())

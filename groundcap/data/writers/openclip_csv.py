"""The ``csv`` format: open_clip's ``captions.csv``, tab-separated ``filepath`` and ``title``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from groundcap.data.atomic import atomic_file
from groundcap.data.run_outputs import captioned
from groundcap.data.writers import OutputJob
from groundcap.data.writers.images import IMAGES_DIR, write_images
from groundcap.records import RunRow

__all__ = ["write_csv", "write_openclip_csv"]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | Path, filepath: Callable[[RunRow], str | None]) -> int:
    """open_clip's CSV: tab-separated ``filepath`` and ``title``; returns the rows written.

    Captions are put on one line; a field holding a quote or tab is quoted the
    way pandas reads it back. Rows whose image has no file are left out.
    """
    n = 0
    with atomic_file(path, "w", encoding="utf-8", newline="", errors="surrogateescape") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["filepath", "title"])
        for row in captioned(rows):
            fp = filepath(row)
            if fp:
                writer.writerow([fp, _one_line(row.caption)])
                n += 1
    return n


def write_openclip_csv(job: OutputJob) -> int:
    """``captions.csv``, pointing at each image's own file, else at its copy under ``images/``."""
    images = job.store.root / IMAGES_DIR
    if job.no_path:
        write_images(job.store.rows(), images, job.image_bytes, metadata=False, sidecars=False)

    def filepath(row: RunRow) -> str | None:
        if row.path and Path(row.path).is_file():
            return row.path
        copy = images / f"{row.key}.jpg"
        return str(copy) if copy.is_file() else None

    return write_csv(job.store.rows(), job.store.root / "captions.csv", filepath)

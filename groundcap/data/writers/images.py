"""The ``imagefolder`` and ``sidecar`` formats: the captioned images copied to ``images/{key}.jpg``.

``imagefolder`` adds ``images/metadata.jsonl`` (``load_dataset("imagefolder")``),
``sidecar`` a ``{key}.txt`` per image (kohya-style trainers); both share the
image copies, and so does the CSV when an image has no file of its own.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from groundcap.data.atomic import atomic_file
from groundcap.data.run_outputs import ImageBytes, captioned, jpeg_of
from groundcap.data.writers import OutputJob

__all__ = ["IMAGES_DIR", "write_images", "write_imagefolder", "write_sidecar"]

#: The folder of a run that holds the image copies.
IMAGES_DIR = "images"


def write_images(rows: Iterable[Mapping[str, Any]], folder: str | Path, image_bytes: ImageBytes, *,
                 metadata: bool, sidecars: bool) -> int:
    """Copies the captioned images to ``folder/{key}.jpg``, with ``metadata.jsonl`` and/or ``{key}.txt``.

    A copy already present is kept (the run is resumable); files are written
    under temp names. Returns the number of images in the folder's listing.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    with contextlib.ExitStack() as stack:
        meta = stack.enter_context(atomic_file(folder / "metadata.jsonl", "w", encoding="utf-8")) if metadata else None
        for row in captioned(rows):
            image = folder / f"{row.key}.jpg"
            if not image.is_file():
                jpeg = jpeg_of(row, image_bytes)
                if jpeg is None:
                    continue
                with atomic_file(image) as fh:
                    fh.write(jpeg)
            if sidecars:
                with atomic_file(folder / f"{row.key}.txt", "w", encoding="utf-8") as fh:
                    fh.write(row.caption + "\n")
            if meta is not None:
                meta.write(json.dumps({"file_name": image.name, "text": row.caption, "key": row.key,
                                       "source": row.source}, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_imagefolder(job: OutputJob) -> int:
    """``images/{key}.jpg`` and ``images/metadata.jsonl``."""
    return write_images(job.store.rows(), job.store.root / IMAGES_DIR, job.image_bytes, metadata=True, sidecars=False)


def write_sidecar(job: OutputJob) -> int:
    """``images/{key}.jpg`` and ``images/{key}.txt``."""
    return write_images(job.store.rows(), job.store.root / IMAGES_DIR, job.image_bytes, metadata=False, sidecars=True)

"""The ``hf`` format: a ``datasets`` Dataset saved with ``save_to_disk`` under ``hf/``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

from groundcap.data.atomic import temp_name
from groundcap.data.run_outputs import ImageBytes, captioned, jpeg_of
from groundcap.data.writers import OutputJob

__all__ = ["write_hf", "write_hf_dataset"]


def write_hf(rows: Iterable[Mapping[str, Any]], folder: str | Path, image_bytes: ImageBytes) -> int:
    """A ``datasets`` Dataset (image, caption, key, source, status, facts) saved with ``save_to_disk``.

    Rows stream through an Arrow file, so memory stays flat; the dataset is
    saved to a temp folder and renamed over any older copy.
    """
    import datasets
    from datasets.arrow_writer import ArrowWriter

    folder = Path(folder)
    tmp, scratch = temp_name(folder), folder.with_name(f".{folder.name}.arrow")
    shutil.rmtree(tmp, ignore_errors=True)
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string"),
                                  "key": datasets.Value("string"), "source": datasets.Value("string"),
                                  "status": datasets.Value("string"), "facts": datasets.Value("string")})
    try:
        writer = ArrowWriter(features=features, path=str(scratch))
        for row in captioned(rows):
            jpeg = jpeg_of(row, image_bytes)
            if jpeg is not None:
                writer.write(features.encode_example(
                    {"image": {"bytes": jpeg, "path": None}, "caption": row.caption, "key": row.key,
                     "source": row.source, "status": row.status, "facts": row.facts}))
        writer.finalize()
        ds = datasets.Dataset.from_file(str(scratch))
        ds.save_to_disk(str(tmp))
        n = len(ds)
        del ds
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        scratch.unlink(missing_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return n


def write_hf_dataset(job: OutputJob) -> int:
    """``hf/``, loadable with ``datasets.load_from_disk``."""
    return write_hf(job.store.rows(), job.store.root / "hf", job.image_bytes)

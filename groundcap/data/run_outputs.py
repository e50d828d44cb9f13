"""The training-ready outputs of a run, each derived from its Parquet shards.

The Parquet shards (:mod:`groundcap.data.run_shards`) are the run's record;
every other format is rebuilt from them, so they can never disagree:

=============  ==============================================  =========================================
format         files                                           read back by
=============  ==============================================  =========================================
webdataset     ``webdataset/NNNNN.tar`` + ``sizes.json``       ``webdataset.WebDataset``, open_clip
               (``{key}.jpg``, ``{key}.txt``, ``{key}.json``)  ``--train-data 'webdataset/{00000..N}.tar'``
csv            ``captions.csv``: tab-separated                 open_clip ``--csv-img-key filepath
               ``filepath`` / ``title``                        --csv-caption-key title``, pandas
hf             ``hf/`` (``Dataset.save_to_disk``)              ``datasets.load_from_disk``
imagefolder    ``images/{key}.jpg`` + ``images/metadata.jsonl``  ``load_dataset("imagefolder", data_dir=)``
sidecar        ``images/{key}.jpg`` + ``images/{key}.txt``     kohya-style image-model trainers
=============  ==============================================  =========================================

Only rows that carry a caption (``ok`` and ``fallback``) enter these
formats. Every file is written under a hidden temp name and renamed when
complete, and the tar members carry fixed metadata (mtime 0, uid 0), so the
same rows give the same bytes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from groundcap.data.atomic import atomic_file, temp_name
from groundcap.data.run_shards import OK_STATUSES, storable

__all__ = ["training_jpeg", "write_tar", "write_sizes", "write_csv", "write_hf", "write_images",
           "write_json_atomic", "sample_json"]

Row = Mapping[str, Any]
#: Gets the original bytes of a row's image, or None when they are gone.
ImageBytes = Callable[[Row], "bytes | None"]


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Writes pretty, key-sorted JSON under a temp name, then renames it into place."""
    with atomic_file(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return Path(path)


def training_jpeg(data: bytes, name: str = "<bytes>") -> bytes:
    """The JPEG a trainer should see: the original bytes when they are an upright JPEG, else a re-encode.

    Re-encoding (quality 95) happens for other formats and for JPEGs with an
    EXIF rotation, whose pixels would otherwise reach the trainer sideways.

    Raises:
        groundcap.ImageError: when ``data`` is not a usable image.
    """
    from PIL import Image

    from groundcap.data.images import load_image_bytes

    if data[:3] == b"\xff\xd8\xff":
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.getexif().get(0x0112, 1) in (0, 1):
                    return data
        except Exception:  # noqa: BLE001 - fall through to the careful decoder, which names the failure
            pass
    rgb, _ = load_image_bytes(data, name)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _jpeg_of(row: Row, image_bytes: ImageBytes) -> bytes | None:
    """The training JPEG of a row, or None when its image is gone or no longer decodes."""
    data = image_bytes(row)
    try:
        return training_jpeg(data, row["source"]) if data is not None else None
    except ValueError:
        return None


def sample_json(row: Row) -> dict[str, Any]:
    """The ``{key}.json`` of a WebDataset sample: identity, size, caption and the facts."""
    return {"key": row["key"], "source": row["source"], "caption": row["caption"], "status": row["status"],
            "width": row["width"], "height": row["height"], "sha256": row["sha256"],
            "facts": json.loads(row["facts"]) if row.get("facts") else None}


def _captioned(rows: Iterable[Row]) -> Iterator[Row]:
    return (r for r in rows if r.get("status") in OK_STATUSES and r.get("caption"))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
    tar.addfile(info, io.BytesIO(data))


def write_tar(rows: Sequence[Row], path: str | Path, image_bytes: ImageBytes) -> int:
    """Writes one WebDataset shard of the captioned ``rows``; returns how many samples it holds.

    A row whose image can no longer be read is left out (and not counted).
    """
    n = 0
    with atomic_file(path) as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for row in _captioned(rows):
            jpeg = _jpeg_of(row, image_bytes)
            if jpeg is None:
                continue
            key = row["key"]
            _add(tar, f"{key}.jpg", jpeg)
            _add(tar, f"{key}.txt", row["caption"].encode("utf-8"))
            # storable: the facts JSON may escape a non-UTF-8 file name's surrogates, which json.loads brings back
            meta = storable(json.dumps(sample_json(row), sort_keys=True, ensure_ascii=False))
            _add(tar, f"{key}.json", meta.encode())
            n += 1
    return n


def write_sizes(folder: str | Path, counts: Mapping[str, int]) -> Path:
    """``sizes.json`` ({tar name: samples}), which open_clip reads to know the dataset size."""
    return write_json_atomic(Path(folder) / "sizes.json", dict(counts))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def write_csv(rows: Iterable[Row], path: str | Path, filepath: Callable[[Row], str | None]) -> int:
    """open_clip's CSV: tab-separated ``filepath`` and ``title``; returns the rows written.

    Captions are put on one line; a field holding a quote or tab is quoted the
    way pandas reads it back. Rows whose image has no file are left out.
    """
    n = 0
    with atomic_file(path, "w", encoding="utf-8", newline="", errors="surrogateescape") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["filepath", "title"])
        for row in _captioned(rows):
            fp = filepath(row)
            if fp:
                writer.writerow([fp, _one_line(row["caption"])])
                n += 1
    return n


def write_images(rows: Iterable[Row], folder: str | Path, image_bytes: ImageBytes, *,
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
        for row in _captioned(rows):
            image = folder / f"{row['key']}.jpg"
            if not image.is_file():
                jpeg = _jpeg_of(row, image_bytes)
                if jpeg is None:
                    continue
                with atomic_file(image) as fh:
                    fh.write(jpeg)
            if sidecars:
                with atomic_file(folder / f"{row['key']}.txt", "w", encoding="utf-8") as fh:
                    fh.write(row["caption"] + "\n")
            if meta is not None:
                meta.write(json.dumps({"file_name": image.name, "text": row["caption"], "key": row["key"],
                                       "source": row["source"]}, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_hf(rows: Iterable[Row], folder: str | Path, image_bytes: ImageBytes) -> int:
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
        for row in _captioned(rows):
            jpeg = _jpeg_of(row, image_bytes)
            if jpeg is not None:
                writer.write(features.encode_example(
                    {"image": {"bytes": jpeg, "path": None}, "caption": row["caption"], "key": row["key"],
                     "source": row["source"], "status": row["status"], "facts": row.get("facts") or ""}))
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

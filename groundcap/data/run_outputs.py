"""What the output formats of a run share: the captioned rows, the training JPEG of a row, JSON files.

The formats themselves, one module each, are in :mod:`groundcap.data.writers`.
Only rows that carry a caption (``ok`` and ``fallback``) enter them. Every
file is written under a hidden temp name and renamed when complete.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from groundcap.data.atomic import atomic_file
from groundcap.records import RunRow

__all__ = ["ImageBytes", "training_jpeg", "jpeg_of", "captioned", "write_json_atomic"]

#: Gets the original bytes of a row's image, or None when they are gone.
ImageBytes = Callable[[RunRow], "bytes | None"]


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


def jpeg_of(row: RunRow, image_bytes: ImageBytes) -> bytes | None:
    """The training JPEG of a row, or None when its image is gone or no longer decodes."""
    data = image_bytes(row)
    try:
        return training_jpeg(data, row.source) if data is not None else None
    except ValueError:
        return None


def captioned(rows: Iterable[Mapping[str, Any]]) -> Iterator[RunRow]:
    """The shard rows (dicts) that carry a caption, in order, as :class:`~groundcap.records.RunRow`."""
    return (r for r in map(RunRow.from_dict, rows) if r.captioned)

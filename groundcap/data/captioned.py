"""Reading images that come with reference captions."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CaptionedImage", "read_captions_jsonl", "select"]


@dataclass(frozen=True)
class CaptionedImage:
    """One image path with its human reference captions."""

    path: Path
    captions: tuple[str, ...]
    split: str = "none"


def read_captions_jsonl(path: str | Path) -> list[CaptionedImage]:
    """Reads ``{"image": rel_path, "captions": [...], "split": ...}`` lines.

    Image paths are relative to the file's folder and may not leave it.

    Raises:
        ValueError: naming the line, for malformed JSON, missing fields or an
            image path outside the folder.
    """
    path = Path(path)
    root = path.parent.resolve()
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rel, caps = row["image"], row["captions"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: expected an object with 'image' and 'captions' ({e})") from None
            img = (root / rel).resolve()
            if not img.is_relative_to(root):
                raise ValueError(f"{path}:{n}: image path {rel!r} leaves {root}")
            if isinstance(caps, str):
                caps = [caps]
            out.append(CaptionedImage(img, tuple(str(c) for c in caps), str(row.get("split", "none"))))
    return out


def select(items: list[CaptionedImage], split: str = "all", limit: int | None = None, seed: int = 0) -> list[CaptionedImage]:
    """Items of one split (``all`` keeps every item), then a seeded sample of ``limit``."""
    chosen = [it for it in items if split == "all" or it.split == split]
    if limit is not None and limit < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, limit), key=lambda it: str(it.path))
    return chosen

"""Paths of real sample photos already on this machine: ``python -m groundcap.samples``.

Ultralytics (the ``yolo`` extra) ships ``bus.jpg`` and ``zidane.jpg``; they are
used by the README's first command and the tests, and never copied here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["sample_photos"]


def sample_photos() -> list[Path]:
    """Sample photos found in installed packages (empty when none is installed)."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        return []
    assets = Path(spec.origin).parent / "assets"
    return [p for p in (assets / "bus.jpg", assets / "zidane.jpg") if p.is_file()]


if __name__ == "__main__":
    photos = sample_photos()
    if not photos:
        sys.exit("no sample photos found: pip install 'groundcap[yolo]' (ultralytics ships bus.jpg and zidane.jpg)")
    print("\n".join(str(p) for p in photos))

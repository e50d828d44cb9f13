"""Test doubles and data paths shared across the test tree (tests/ is on sys.path via conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from groundcap.config import FactsConfig
from groundcap.data import load_image
from groundcap.facts import FactsExtractor
from groundcap.records import Detection, Facts
from groundcap.timing import StageTimer

#: flickr8k-mini, read from ../shared beside the checkout; never copied into the repo.
FLICKR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flickr8k-mini"


class StubExtractor(FactsExtractor):
    """Decodes the image for real but invents one detection; loads no model and counts calls."""

    def __init__(self, config: FactsConfig | None = None) -> None:
        self.config = config or FactsConfig()
        self.timer = StageTimer()
        self.calls = 0

    def extract(self, source: Any) -> Facts:
        self.calls += 1
        _, info = load_image(source)
        label = ("dog", "person", "bicycle")[int(info.sha256[:2], 16) % 3]
        box = (1.0, 2.0, info.width / 2, info.height / 2)
        return Facts(info, (Detection(label, f"{label}_1", box, 0.9, (info.width, info.height), "stub"),))

#: Name of the tiny random open_clip architecture that the tiny_arch fixture (tests/conftest.py) registers.
TINY_CLIP = "groundcap-tiny-vit"

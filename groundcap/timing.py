"""Seconds per stage: the one timer that the facts extractor, the captioner and the engines share.

>>> timer = StageTimer()
>>> with timer.stage("facts"):
...     pass
>>> timer.add("generate", 0.5)
>>> sorted(timer.totals), timer.totals["generate"]
(['facts', 'generate'], 0.5)
>>> StageTimer.from_dict(timer.to_dict()).per_image(2)[-1]
('generate', 0.25)
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator, Mapping

__all__ = ["StageTimer"]


class StageTimer:
    """Adds up wall-clock seconds by stage name, in the order stages first ran.

    A timer can feed another: :meth:`add_to` passes one call's seconds on to
    a longer-lived timer (a captioner's totals over its life).
    """

    def __init__(self, totals: Mapping[str, float] | None = None) -> None:
        self.totals: dict[str, float] = dict(totals or {})

    def add(self, stage: str, seconds: float) -> None:
        """Adds ``seconds`` to ``stage``."""
        self.totals[stage] = self.totals.get(stage, 0.0) + seconds

    @contextlib.contextmanager
    def stage(self, name: str, *also: StageTimer) -> Iterator[None]:
        """Times the block into this timer and into each of ``also``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            for timer in (self, *also):
                timer.add(name, spent)

    def per_image(self, n: int) -> tuple[tuple[str, float], ...]:
        """Each stage's seconds spread over ``n`` images, as :class:`~groundcap.records.CaptionResult` keeps them."""
        return tuple((k, v / max(1, n)) for k, v in self.totals.items())

    def to_dict(self) -> dict[str, float]:
        return dict(self.totals)

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> StageTimer:
        return cls({str(k): float(v) for k, v in d.items()})

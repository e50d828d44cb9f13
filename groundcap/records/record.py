"""The base of the frozen records: the shared ``to_dict`` and the checks their fields share."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

__all__ = ["Record", "check_unit", "plain"]


def check_unit(name: str, value: float) -> None:
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a finite number in [0, 1], got {value!r}")


def plain(value: Any) -> Any:
    """Turns tuples into lists, recursively, so ``to_dict`` output is pure JSON."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class Record:
    """Shared ``to_dict`` for the flat records."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

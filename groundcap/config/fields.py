"""The one helper every config field is declared with: a default plus its help text."""

from __future__ import annotations

from dataclasses import field
from typing import Any

__all__ = ["setting"]


def setting(default: Any, help: str, **kw: Any) -> Any:  # noqa: A002 - mirrors argparse
    """A dataclass field whose help text (``metadata["help"]``) becomes its CLI flag's help.

    Mutable defaults get a fresh copy per instance.
    """
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})

"""Overrides from YAML and flags merged into configs, type-checked; configs as data and as a hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any, Mapping

__all__ = ["merge", "to_dict", "config_hash", "load_yaml"]


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Converts a YAML/CLI value to a field's declared type, with a clear error."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(args[0], v, where) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"{where}: expected true/false, got {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    return value


def merge(cfg: Any, overrides: Mapping[str, Any], _where: str = "") -> Any:
    """Returns a copy of ``cfg`` with nested ``overrides`` applied and type-checked.

    Raises:
        ValueError: on an unknown key or a value of the wrong type.
    """
    hints = typing.get_type_hints(type(cfg))
    names = {f.name for f in dataclasses.fields(cfg)}
    changes = {}
    for key, value in overrides.items():
        where = f"{_where}{key}"
        if key not in names:
            raise ValueError(f"unknown config key {where!r}; expected one of {sorted(names)}")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}: expected a mapping of settings, got {value!r}")
            changes[key] = merge(current, value, where + ".")
        else:
            changes[key] = _coerce(hints[key], value, where)
    return dataclasses.replace(cfg, **changes)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Config as plain JSON-ready data."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(cfg: Any) -> str:
    """Short stable hash of a config, for cache keys."""
    blob = json.dumps(to_dict(cfg), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Reads a YAML (or JSON) mapping of config overrides."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping, got {type(data).__name__}")
    return data

"""Command-line flags generated from the config dataclasses.

Every leaf field of a config becomes ``--section.field`` (``--detect.conf``),
and also ``--field`` (``--conf``) when no other section has a field of that
name. ``--config file.yaml`` supplies values under the flags: defaults, then
the file, then the flags given on the command line.

>>> import argparse
>>> from groundcap.config import FactsConfig
>>> p = argparse.ArgumentParser()
>>> add_config_flags(p, FactsConfig)
>>> config_from_args(FactsConfig, p.parse_args(["--conf", "0.3", "--detect.max-objects", "5"])).detect
DetectConfig(detector='ssd-mobilenet-v2', conf=0.3, iou=0.5, agnostic_iou=0.8, max_objects=5, classes=None, imgsz=640, device='cpu')
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections import Counter
from typing import Any, Iterator

from groundcap.config import load_yaml, merge
from groundcap.errors import ConfigError

__all__ = ["add_config_flags", "config_from_args"]

_DEST_PREFIX = "cfg__"


def _leaves(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _leaves(tp, prefix + (f.name,))
        else:
            yield prefix + (f.name,), f, tp


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _metavar(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
        origin = typing.get_origin(tp)
    if origin is tuple:
        return "A,B,..."
    return {int: "INT", float: "FLOAT", bool: "BOOL", str: "STR"}.get(tp, "VALUE")


def add_config_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """Adds ``--config`` and one flag per leaf field of the dataclass ``cls``."""
    leaves = list(_leaves(cls))
    name_counts = Counter(path[-1] for path, _, _ in leaves)
    parser.add_argument("--config", metavar="FILE.yaml", default=None,
                        help="YAML file of settings, nested by section (flags override it).")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for path, f, tp in leaves:
        section = path[0] if len(path) > 1 else "settings"
        group = groups.setdefault(section, parser.add_argument_group(f"{section} settings"))
        dotted = "--" + ".".join(p.replace("_", "-") for p in path)
        flags = [dotted]
        if len(path) > 1 and name_counts[path[-1]] == 1:
            short = path[-1].replace("_", "-")
            flags.append(("-" if len(short) == 1 else "--") + short)
        help_text = f.metadata.get("help", "")
        group.add_argument(*flags, dest=_DEST_PREFIX + "__".join(path), default=argparse.SUPPRESS,
                           metavar=_metavar(tp), help=f"{help_text} (default: {_default(f)!r})")


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """Builds a ``cls`` from defaults, then ``--config`` YAML, then explicit flags.

    Raises:
        ConfigError: for an unreadable file, an unknown key or a bad value.
    """
    try:
        # One merge of the file and the flags together: a config checks itself as a whole, so a
        # file's scorers and a flag's weights must meet before either is checked.
        overrides: dict[str, Any] = load_yaml(args.config) if getattr(args, "config", None) else {}
        for dest, value in vars(args).items():
            if not dest.startswith(_DEST_PREFIX):
                continue
            node = overrides
            *parents, leaf = dest[len(_DEST_PREFIX):].split("__")
            for i, p in enumerate(parents):
                child = node.setdefault(p, {})
                if not isinstance(child, dict):
                    where = ".".join(parents[:i + 1])
                    raise ValueError(f"{where}: expected a mapping of settings, got {child!r}")
                node = child
            node[leaf] = value
        return merge(cls(), overrides)
    except (ValueError, OSError) as e:
        raise ConfigError(str(e)) from e

"""One registry for every swappable backend: detectors, generators, scorers, engines, writers.

A :class:`Registry` maps a name to a factory. Built-ins are registered as
``"module:attribute"`` strings, so listing them imports nothing heavy; a
name can be registered once, and an unknown name fails with the choices.

>>> greeters = Registry("greeter")
>>> greeters.register("plain", lambda who: f"hello {who}")
>>> greeters.register("lazy", "string:capwords")
>>> greeters.names()
['lazy', 'plain']
>>> greeters.get("plain")("you"), greeters.get("lazy")("a b")
('hello you', 'A B')
>>> greeters.get("loud")
Traceback (most recent call last):
...
groundcap.errors.ConfigError: unknown greeter 'loud'; choose one of ['lazy', 'plain']
"""

from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterator, TypeVar, overload

from groundcap.errors import ConfigError

__all__ = ["Registry", "resolve_entry"]

F = TypeVar("F", bound=Callable[..., object])


def resolve_entry(entry: F | str) -> F:
    """The callable an entry names: itself, or the attribute a ``"module:attribute"`` string names."""
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        return getattr(importlib.import_module(module), attr)
    return entry


class Registry(Generic[F]):
    """Named factories of one kind of backend.

    Args:
        kind: What the registry holds, for error messages (``"detector"``).
        entries: Built-ins, each a factory or a ``"module:attribute"`` string.
    """

    def __init__(self, kind: str, entries: dict[str, F | str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, F | str] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    @overload
    def register(self, name: str) -> Callable[[F], F]: ...
    @overload
    def register(self, name: str, entry: F | str) -> None: ...

    def register(self, name: str, entry: F | str | None = None) -> Callable[[F], F] | None:
        """Adds ``entry`` under ``name``; without ``entry``, returns a decorator that adds the function.

        Raises:
            ValueError: if ``name`` is taken.
        """
        if entry is None:
            def deco(factory: F) -> F:
                self.register(name, factory)
                return factory
            return deco
        if name in self._entries:
            raise ValueError(f"{_article(self.kind)} {self.kind} named {name!r} is already registered")
        self._entries[name] = entry
        return None

    def get(self, name: str) -> F:
        """The factory registered as ``name``, imported if it was named by a string.

        Raises:
            ConfigError: for a name that is not registered.
        """
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {self.names()}")
        return resolve_entry(self._entries[name])

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _article(word: str) -> str:
    """``a`` or ``an`` before ``word`` (by its first letter, which suits the registries' kinds)."""
    return "an" if word[:1].lower() in "aeiou" else "a"

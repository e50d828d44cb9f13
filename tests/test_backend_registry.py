"""The one registry helper behind every backend registry."""

from __future__ import annotations

import pytest

from groundcap.errors import ConfigError
from groundcap.registry import Registry


def test_register_get_and_list() -> None:
    reg: Registry = Registry("widget", {"b": "math:sqrt"})
    reg.register("a", abs)

    @reg.register("c")
    def make_c() -> str:
        return "c"

    assert reg.names() == ["a", "b", "c"] == list(reg)
    assert reg.get("a") is abs and reg.get("b")(9) == 3.0 and reg.get("c") is make_c
    assert "a" in reg and "z" not in reg


def test_duplicates_are_refused() -> None:
    reg: Registry = Registry("widget", {"a": abs})
    with pytest.raises(ValueError, match="widget named 'a' is already registered"):
        reg.register("a", abs)


def test_unknown_names_list_the_choices() -> None:
    reg: Registry = Registry("widget", {"a": abs})
    with pytest.raises(ConfigError, match=r"unknown widget 'zz'; choose one of \['a'\]"):
        reg.get("zz")

"""Installed package versions, saved beside every trained artifact so a result can be traced."""

from __future__ import annotations

from importlib import metadata

__all__ = ["package_versions"]


def package_versions(*names: str) -> dict[str, str]:
    """Versions of those of ``names`` that are installed (``groundcap`` is always included).

    >>> "groundcap" in package_versions("no-such-package-xyz")
    True
    """
    out = {}
    for pkg in ("groundcap", *names):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out

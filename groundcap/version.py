"""groundcap's version, in a module of its own so any room can record it without importing the package's API."""

__version__ = "0.1.0"

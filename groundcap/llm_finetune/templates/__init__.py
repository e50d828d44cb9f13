"""Built-in prompt templates (package data, read with ``importlib.resources``)."""

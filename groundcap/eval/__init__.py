"""Measuring groundcap against human captions: facts agreement (and later caption metrics)."""

"""Side-by-side speed and memory ratios: ``python -m benchmarks all``."""

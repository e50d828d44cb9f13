"""Shared timing and reporting for the benchmarks.

Every benchmark times two things side by side in one process, interleaved
repeat by repeat, so the machine's noise hits both alike; it reports the
median over repeats with min and max, and the ratio of the medians.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

RESULTS = Path(__file__).resolve().parent / "results"
FLICKR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flickr8k-mini"

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "groundcap-yolo"))


@dataclass
class Row:
    """One comparison: ours against a reference, with a target on the ratio."""

    name: str
    ours_s: list[float]
    ref_s: list[float]
    unit: str = "s"
    target: str = ""
    passed: bool | None = None
    note: str = ""
    ratio: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.ratio = statistics.median(self.ours_s) / statistics.median(self.ref_s)

    def line(self) -> str:
        def fmt(xs: Sequence[float]) -> str:
            return f"{statistics.median(xs):.4g} [{min(xs):.4g}–{max(xs):.4g}]"

        mark = {True: "met", False: "MISSED", None: ""}[self.passed]
        return f"| {self.name} | {fmt(self.ours_s)} | {fmt(self.ref_s)} | {self.ratio:.3f} | {self.target} {mark} | {self.note} |"


HEADER = "| benchmark | ours (median [min–max]) | reference | ratio | target | note |\n|---|---|---|---|---|---|"


def interleaved(ours: Callable[[], object], ref: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Times ``ours`` and ``ref`` alternately; returns seconds per repeat for each."""
    ours(), ref()  # warm-up: first calls load lazily built kernels
    a, b = [], []
    for i in range(repeats):
        for fn, out in ((ours, a), (ref, b)) if i % 2 == 0 else ((ref, b), (ours, a)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return a, b


def flickr_images(n: int) -> list[Path]:
    paths = sorted((FLICKR / "images").glob("*.jpg"))
    if not paths:
        raise SystemExit(f"the benchmarks read real photos from {FLICKR}; it is missing")
    return paths[:n]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("groundcap", "numpy", "opencv-python-headless", "opencv-python", "scikit-learn", "ultralytics", "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def cpu() -> dict[str, object]:
    """The CPU's model name and the matrix instruction sets that decide the writer's dtype (Linux; else empty)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = set(text.split())
    return {"model": model, "matrix": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]}


def save(name: str, rows: list[Row]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"benchmark": name, "cores": os.cpu_count(), "machine": platform.machine(), "cpu": cpu(),
            "versions": versions(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def main_for(name: str, run: Callable[..., list[Row]], doc: str, argv: list[str] | None,
             defaults: dict[str, int | str]) -> int:
    """The shared command line of a benchmark module: options (typed as their defaults), the table, the JSON file."""
    import argparse

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, value in defaults.items():
        p.add_argument(f"--{option}", type=type(value), default=value)
    args, _ = p.parse_known_args(argv)
    rows = run(*(getattr(args, o) for o in defaults))
    print(HEADER)
    for r in rows:
        print(r.line())
    print(f"saved {save(name, rows)}")
    return 0

"""``groundcap build-sft`` run again on the same images: the facts cache against a cold build.

A user who rebuilds the SFT data (another reference plan, another style)
should not wait for the detector again. Each repeat runs the whole command
in-process (``groundcap build-sft SRC --out OUT --cache C``) twice on the
same Flickr photos: first with an empty cache folder (every image decoded
and measured), then again with that cache (facts read back, keyed by the
image's content hash and the facts config). Both write the same DatasetDict.

Target: the second run ≤ 0.1× the first.

Run: ``python -m benchmarks facts-cache`` (``--images N --repeats R``).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import FLICKR, Row, main_for


def _build(out: Path, cache: Path, limit: int) -> float:
    from groundcap.cli import main

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["build-sft", str(FLICKR), "--out", str(out), "--cache", str(cache), "--limit", str(limit),
                     "--datastore", "none"])  # the facts cache alone, as measured before build-sft retrieved
    if code != 0:
        raise SystemExit(f"build-sft failed with exit code {code}")
    return time.perf_counter() - t


def run(n_images: int = 60, repeats: int = 3) -> list[Row]:
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="groundcap-bench-") as tmp:
        root = Path(tmp)
        _build(root / "warmup", root / "warmup-cache", 4)  # imports and model loads, once
        for i in range(repeats):
            cache = root / f"cache{i}"
            cold.append(_build(root / f"out{i}a", cache, n_images))
            warm.append(_build(root / f"out{i}b", cache, n_images))
            shutil.rmtree(root / f"out{i}a")
            shutil.rmtree(root / f"out{i}b")
    row = Row("build-sft again (facts cache hit) vs first build", warm, cold, target="≤ 0.10",
              note=f"{n_images} Flickr images, whole command in-process")
    row.passed = row.ratio <= 0.10
    return [row]


def main(argv: list[str] | None = None) -> int:
    return main_for("facts_cache", run, __doc__, argv, {"images": 60, "repeats": 3})


if __name__ == "__main__":
    raise SystemExit(main())

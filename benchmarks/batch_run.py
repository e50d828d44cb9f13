"""``groundcap run`` against a naive per-image loop, and its peak memory at 100 against 1000 images.

Throughput: the same Captioner (embedded SSD facts, SmolLM2 writing N=5
candidates, the default ranking) captions the same Flickr photos two ways,
interleaved repeat by repeat:

* naive: ``for path in paths: captioner.caption(path)``, one image at a time;
* ours: ``groundcap.batch.run`` with the local engine, which decodes and
  measures the next batch in threads while the LLM writes for a whole batch
  of images at once, and writes Parquet, WebDataset and CSV outputs.

Target: ours ≥ 3× the naive images/s over 64 photos (the table's ratio is time, so ≤ 1/3).
Two more rows take the run's levers one at a time: the tails prefilled in
groups by length against the batch at once, and, in the naive loop, the
prompt's head kept between calls (``HeadMemo``) against prefilled
with every photo.

Memory: ``groundcap run`` in a fresh process on 100 and on 1000 images (the
Flickr photos copied under new names), peak RSS from ``/proc/self/status``.
By default the template writer stands in for the LLM, whose memory does not
depend on the number of images, so that 1000 images take a minute;
everything that could grow with the input (queues, rows, shards, writers)
runs for real. ``--rss_writer hf`` runs the default caption writer instead
(about 7 minutes for the 1,100 photos here). Target: ≤ 1.1×.

Run: ``python -m benchmarks batch`` (``--images N --repeats R --rss_small 100 --rss_large 1000
--rss_writer template|hf``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Row, flickr_images, interleaved, main_for


def _folder(paths: list[Path], n: int, where: Path) -> Path:
    """``n`` image files under ``where`` (the photos repeated under new names)."""
    where.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = paths[i % len(paths)]
        dst = where / f"{i:05d}_{src.name}"
        if not dst.exists():
            shutil.copyfile(src, dst)
    return where


def throughput(n_images: int, repeats: int, tmp: Path) -> list[Row]:
    from groundcap.batch import run
    from groundcap.config import GenerateConfig, OutputConfig, RunConfig
    from groundcap.engines.local import LocalEngine
    from groundcap.pipeline import Captioner

    paths = flickr_images(n_images)
    src = _folder(paths, n_images, tmp / "photos")
    config = RunConfig(generate=GenerateConfig(n=5), output=OutputConfig(progress=False))  # the N=5
    captioner = Captioner(config)
    files = sorted(src.iterdir())

    def naive() -> None:
        for p in files:
            captioner.caption(p)

    def ours() -> None:
        run(src, tmp / "out", config, engine=LocalEngine(config, captioner=captioner), overwrite=True)

    o, r = interleaved(ours, naive, repeats)
    row = Row(f"groundcap run vs naive loop ({n_images} images, N=5)", o, r, target="≤ 0.333 (≥ 3× images/s)",
              note=f"{n_images / min(o):.2f} vs {n_images / min(r):.2f} images/s")
    row.passed = row.ratio <= 1 / 3
    return [row, _grouped_prefill(captioner, config, src, tmp, n_images, repeats),
            _kept_heads(captioner, files[:16], repeats)]


def _with(generator, setting: str, value, body):
    """``body`` as a callable that runs with ``generator.<setting>`` set to ``value``, restored after."""
    def go() -> None:
        before = getattr(generator, setting)
        setattr(generator, setting, value)
        try:
            body()
        finally:
            setattr(generator, setting, before)
    return go


def _kept_heads(captioner, files: list[Path], repeats: int) -> Row:
    """The naive loop with the generator's heads kept between calls (the default) against every prompt
    prefilled whole (``share_head`` off, which for a single prompt was the path before the memo)."""
    def loop() -> None:
        for p in files:
            captioner.caption(p)

    generator = captioner.generator
    o, r = interleaved(_with(generator, "share_head", True, loop), _with(generator, "share_head", False, loop),
                       repeats)
    return Row(f"naive loop over {len(files)} photos: the prompt head kept between calls vs prefilled each call",
               o, r, note=f"{len(files) / min(o):.2f} vs {len(files) / min(r):.2f} images/s")


def _grouped_prefill(captioner, config, src: Path, tmp: Path, n_images: int, repeats: int) -> Row:
    """``groundcap run`` with the default ``generate.prefill_group`` against the whole batch prefilled at once."""
    from groundcap.batch import run
    from groundcap.engines.local import LocalEngine

    def go() -> None:
        run(src, tmp / "out", config, engine=LocalEngine(config, captioner=captioner), overwrite=True)

    generator = captioner.generator
    group = generator.prefill_group
    o, r = interleaved(_with(generator, "prefill_group", group, go), _with(generator, "prefill_group", 0, go), repeats)
    return Row(f"groundcap run: tails prefilled {group} at a time by length vs the batch at once", o, r,
               note=f"{n_images / min(o):.2f} vs {n_images / min(r):.2f} images/s")


# Peak RSS is read from VmHWM, which starts afresh at exec; getrusage's ru_maxrss would also count
# the pages of the parent the child was forked from.
_CHILD = """
import sys
from groundcap.batch import run
from groundcap.config import GenerateConfig, OutputConfig, RunConfig
run(sys.argv[1], sys.argv[2], RunConfig(generate=GenerateConfig(generator=sys.argv[3]),
                                        output=OutputConfig(progress=False)), overwrite=True)
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def peak_rss_mb(src: Path, out: Path, writer: str = "template") -> float:
    """Peak RSS (MB) of ``groundcap run`` with the ``writer`` generator, in a fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(out), writer], env=env, check=True,
                          capture_output=True, text=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def memory(small: int, large: int, tmp: Path, writer: str = "template") -> Row:
    paths = flickr_images(400)
    a = _folder(paths, small, tmp / f"rss{small}")
    b = _folder(paths, large, tmp / f"rss{large}")
    big, little = [peak_rss_mb(b, tmp / "rss-out-b", writer)], [peak_rss_mb(a, tmp / "rss-out-a", writer)]
    row = Row(f"peak RSS, {large} vs {small} images ({writer} writer)", big, little, unit="MB", target="≤ 1.1×",
              note=f"{big[0]:.0f} MB vs {little[0]:.0f} MB ({writer} writer)")
    row.passed = row.ratio <= 1.1
    return row


def run(n_images: int = 16, repeats: int = 2, rss_small: int = 100, rss_large: int = 1000,
        rss_writer: str = "template") -> list[Row]:
    tmp = Path(tempfile.mkdtemp(prefix="groundcap-bench-"))
    try:
        rows = [memory(rss_small, rss_large, tmp, rss_writer)] if rss_large > 0 else []  # first: before this process grows
        if n_images > 0:
            rows.extend(throughput(n_images, repeats, tmp))
        return rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return main_for("batch", run, __doc__, argv, {"images": 16, "repeats": 2, "rss_small": 100, "rss_large": 1000,
                                                    "rss_writer": "template"})


if __name__ == "__main__":
    raise SystemExit(main())


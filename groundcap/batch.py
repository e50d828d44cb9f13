"""``groundcap run``: caption a folder or manifest into training-ready datasets, resumably.

>>> from groundcap.batch import run
>>> summary = run("photos/", "out/")   # doctest: +SKIP
>>> summary.counts                      # doctest: +SKIP
{'ok': 998, 'truncated': 2}

The inputs are split into shards of ``shard_size`` images in input order. An
engine (:mod:`groundcap.engines`) captions them, and each finished shard is
committed by renaming its Parquet file into place; the other formats
(:mod:`groundcap.data.writers`) are derived from the committed shards.
A rerun skips every source found in a committed shard and numbers the new
shards after the last one, so after a crash, Ctrl-C or ``kill -9`` it
finishes the job with no row lost or repeated, in the same shards an
uninterrupted run would have made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Sequence

from groundcap.config import RunConfig, to_dict
from groundcap.data.images import read_image_file
from groundcap.data.inputs import InputItem, read_inputs, read_item_bytes
from groundcap.data.run_dir import RunDir, merge_rows
from groundcap.data.run_outputs import write_json_atomic
from groundcap.data.run_shards import OK_STATUSES, storable
from groundcap.data.writers import WRITERS, OutputJob, ordered, run_formats
from groundcap.data.writers.webdataset import write_tar
from groundcap.engines import create_engine
from groundcap.engines.stages import ShardJob
from groundcap.errors import ConfigError, ImageError
from groundcap.records import RunRow

__all__ = ["RunSummary", "run", "plan_jobs"]

_STAGES = ("decode", "facts", "generate", "rerank")


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What a run did.

    Attributes:
        out: The output folder.
        counts: Rows by status over the whole run folder (all invocations).
        processed: Images captioned by this invocation.
        skipped: Inputs found already done in the folder.
        seconds: Wall time of this invocation.
        stage_seconds: Seconds per stage summed over this invocation's images.
        outputs: Formats written, with how many images each holds.
    """

    out: Path
    counts: dict[str, int]
    processed: int
    skipped: int
    seconds: float
    stage_seconds: dict[str, float]
    outputs: dict[str, int]

    def describe(self) -> str:
        """A few lines for a terminal."""
        total = sum(self.counts.values())
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        lines = [f"{self.out}: {total} images ({', '.join(f'{k} {v}' for k, v in sorted(self.counts.items()))})",
                 f"this run: {self.processed} processed, {self.skipped} already done, {self.seconds:.1f} s "
                 f"({rate:.2f} images/s)"]
        if self.processed:
            lines.append("time per image: " + ", ".join(
                f"{k} {v / self.processed * 1000:.0f} ms" for k, v in self.stage_seconds.items()))
        lines.append("outputs: " + ", ".join(f"{k} ({v})" for k, v in self.outputs.items()))
        return "\n".join(lines)


def plan_jobs(pending: Sequence[InputItem], shard_size: int, first_index: int) -> list[ShardJob]:
    """Cuts the pending inputs into shards numbered from ``first_index``."""
    size = max(1, int(shard_size))
    return [ShardJob(first_index + i, tuple(pending[s:s + size])) for i, s in enumerate(range(0, len(pending), size))]


def _check(config: RunConfig) -> None:
    formats = run_formats()
    unknown = set(config.output.formats) - set(formats)
    if unknown:
        raise ConfigError(f"unknown output format(s) {sorted(unknown)}; expected some of {list(formats)}")


def run(source: str | Path, out: str | Path, config: RunConfig | None = None, *, overwrite: bool = False,
        retry_failed: bool = False, engine: Any = None) -> RunSummary:
    """Captions every image of ``source`` into ``out`` (see the module docstring).

    Args:
        source: A folder of images, a manifest (CSV, JSONL, Parquet), a
            Hugging Face dataset saved with ``save_to_disk``, or an imagefolder.
        out: The output folder.
        config: Captioning and output settings.
        overwrite: Remove an earlier run's outputs first and start over.
        retry_failed: Also redo the rows of earlier invocations that failed.
        engine: An engine object to use instead of ``config.output.engine``.

    Raises:
        groundcap.data.run_dir.RunLockedError: another run writes to ``out``.
        KeyboardInterrupt: on Ctrl-C or SIGTERM, after the finished shards
            are safely written (rerun to resume).
    """
    config = config or RunConfig()
    _check(config)
    oc = config.output
    start = time.perf_counter()
    with RunDir(out) as store, _sigterm_as_interrupt():
        if overwrite:
            store.clear()
        items = read_inputs(source, path_column=oc.path_column, caption_column=oc.caption_column,
                            exclude=[store.root])
        if oc.limit is not None:
            items = items[: max(0, oc.limit)]
        by_source = {storable(it.source): it for it in items}
        done = store.done()
        pending = [it for it in items if storable(it.source) not in done]
        jobs: list[ShardJob] = []
        if retry_failed:
            for index, sources in sorted(store.failed().items()):
                redo = tuple(by_source[s] for s in sources if s in by_source)
                if redo:
                    jobs.append(ShardJob(index, redo, tuple(store.read_rows(index))))
        committed = store.committed()
        jobs += plan_jobs(pending, oc.shard_size, committed[-1] + 1 if committed else 0)
        todo = sum(len(j.items) for j in jobs)
        stage_seconds = dict.fromkeys(_STAGES, 0.0)
        processed = 0
        image_bytes = _image_bytes(by_source)
        if todo:
            engine = engine if engine is not None else create_engine(config)
            with _progress(todo, oc.progress) as bar:
                def tick(rows: list[RunRow]) -> None:
                    for r in rows:
                        for k in _STAGES:
                            stage_seconds[k] += getattr(r, f"time_{k}")
                    bar.update(len(rows))

                for job, typed in engine.run(jobs, tick):
                    rows = [r.to_dict() for r in typed]  # the shard and the tar store plain rows
                    rows = merge_rows(list(job.keep), rows) if job.keep else rows
                    # The shard is the record and its tar follows it: a tar written first would outlive a
                    # kill before the commit (a --retry-failed tar would then disagree with the old shard
                    # it replaces), whereas a tar missing after a kill is rebuilt from the shard by finalize.
                    store.remove_tar(job.index)
                    store.write_shard(job.index, rows)
                    if "webdataset" in oc.formats:
                        store.wds_dir.mkdir(exist_ok=True)
                        write_tar(rows, store.tar_path(job.index), image_bytes)
                    processed += len(job.items)
        models = getattr(engine, "models", None) if engine is not None else None
        outputs, counts = finalize(store, config, image_bytes, source=source, models=models)
        seconds = time.perf_counter() - start
        write_json_atomic(store.root / "stats.json", {"processed": processed, "skipped": len(items) - todo,
                                                      "seconds": round(seconds, 3), "stage_seconds": stage_seconds})
    return RunSummary(store.root, counts, processed, len(items) - todo, seconds, stage_seconds, outputs)


def _image_bytes(by_source: dict[str, InputItem]):
    """Gets a row's original image bytes again, from its input or else its recorded path."""
    def get(row: RunRow) -> bytes | None:
        item = by_source.get(row.source)
        try:
            if item is not None:
                return read_item_bytes(item)
            return read_image_file(row.path) if row.path else None
        except ImageError:
            return None
    return get


def _scan(store: RunDir) -> tuple[Counter, bool, dict[str, str]]:
    """One pass over the committed shards' small columns: counts by status, whether a captioned
    row has no readable file (the CSV then needs image copies), and the models of the first row with any."""
    import pyarrow.parquet as pq

    counts: Counter = Counter()
    no_path, models = False, None
    for index in store.committed():
        table = pq.read_table(store.shard_path(index), columns=["status", "path", "models"]).to_pylist()
        for r in map(RunRow.from_dict, table):
            counts[r.status] += 1
            if r.status in OK_STATUSES and not (r.path and Path(r.path).is_file()):
                no_path = True
            if models is None and r.models not in ("", "{}"):
                models = r.model_ids()
    return counts, no_path, models or {}


def finalize(store: RunDir, config: RunConfig, image_bytes: Any, *, source: str | Path = "",
             models: dict[str, str] | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Derives every requested format from the committed shards and writes ``config.json``.

    Safe to repeat: each file is rebuilt under a temp name and renamed.
    Returns the images per format and the rows per status.
    """
    formats = config.output.formats
    committed = store.committed()
    counts, no_path, first_models = _scan(store)
    outputs: dict[str, int] = {"parquet": sum(n for status, n in counts.items() if status in OK_STATUSES)}
    job = OutputJob(store, tuple(formats), image_bytes, no_path)
    for name in ordered(formats):
        outputs[name] = WRITERS.get(name)(job)
    if models is None:
        models = first_models
    from groundcap.provenance import package_versions

    write_json_atomic(store.root / "config.json", {
        "input": str(source), "config": to_dict(config), "formats": list(formats), "models": models,
        "versions": package_versions("torch", "transformers", "peft", "opencv-python-headless", "ai-edge-litert",
                                     "ultralytics", "open_clip_torch", "pyarrow", "webdataset", "datasets", "ray"),
        "counts": dict(counts), "shards": len(committed), "outputs": outputs})
    return outputs, dict(counts)


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="img", desc="captioning", disable=not enabled, dynamic_ncols=True,
               file=sys.stderr, smoothing=0.1)
    try:
        yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C: the finished shards stay, the shard in progress is dropped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""The local engine: one process, a pipeline of threads with bounded queues.

::

    decode pool (N threads) ─┐
                             ├─ facts thread ──queue(k groups)──> main thread: generate + rerank ──> shards
    (reads, hashes, decodes) ┘   (detector etc.)

The LLM, which dominates the cost, runs in the calling thread and always
has the next group's facts waiting; decoding and detection (both release the
GIL in OpenCV, PIL and LiteRT) overlap with it. The queues hold at most
``queue`` groups, so memory does not grow with the number of images.
"""

from __future__ import annotations

import queue as queue_mod
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

from groundcap.config import RunConfig
from groundcap.engines.stages import Prepared, ShardJob, caption_rows, groups_of, measure, prepare
from groundcap.records import RunRow

__all__ = ["LocalEngine"]

_DONE = object()


class LocalEngine:
    """Runs shard jobs on this machine.

    Args:
        config: The run's settings.
        captioner: An already built :class:`~groundcap.pipeline.Captioner`
            (tests and the benchmark pass one); built from ``config`` if None.
    """

    name = "local"

    def __init__(self, config: RunConfig, captioner: Any = None) -> None:
        from groundcap.engines.heap import map_large_blocks

        self.config = config
        map_large_blocks(config.output.heap_mmap_mb)  # before the models' buffers exist (engines/heap.py)
        if captioner is None:
            from groundcap.pipeline import Captioner

            captioner = Captioner(config)
        self.captioner = captioner

    @property
    def models(self) -> dict[str, str]:
        return dict(self.captioner.models)

    def run(self, jobs: Sequence[ShardJob], tick: Callable[[list[RunRow]], None] = lambda rows: None
            ) -> Iterator[tuple[ShardJob, list[RunRow]]]:
        """Yields each job with its rows (in input order), shard by shard, in job order.

        ``tick`` is called with the rows of every finished group (for progress).
        Closing the iterator early (Ctrl-C) stops the worker threads.
        """
        size = self.config.generate.batch_size
        work: queue_mod.Queue = queue_mod.Queue(maxsize=max(1, self.config.output.queue))
        stop = threading.Event()
        producer = threading.Thread(target=self._produce, args=(jobs, size, work, stop),
                                    name="groundcap-facts", daemon=True)
        producer.start()
        try:
            rows: list[RunRow] = []
            for job in jobs:
                rows = []
                for _ in groups_of(job.items, size):
                    got = work.get()
                    if isinstance(got, BaseException):
                        raise got
                    group_rows = caption_rows(self.captioner, got)
                    rows.extend(group_rows)
                    tick(group_rows)
                yield job, rows
            if work.get() is not _DONE:
                raise RuntimeError("the facts thread produced more groups than planned")
        finally:
            stop.set()
            while producer.is_alive():
                try:
                    work.get(timeout=0.1)
                except queue_mod.Empty:
                    pass
            producer.join()

    def _produce(self, jobs: Sequence[ShardJob], size: int, work: queue_mod.Queue, stop: threading.Event) -> None:
        extractor = self.captioner.extractor
        try:
            with ThreadPoolExecutor(max(1, self.config.output.workers), thread_name_prefix="groundcap-decode") as pool:
                pending = None
                for job in jobs:
                    for group in groups_of(job.items, size):
                        # decode the next group while this one is measured
                        nxt = [pool.submit(prepare, it) for it in group]
                        if pending is not None and not self._put(work, self._measured(extractor, pending), stop):
                            return
                        pending = nxt
                if pending is not None and not self._put(work, self._measured(extractor, pending), stop):
                    return
            self._put(work, _DONE, stop)
        except BaseException as e:  # noqa: BLE001 - hand any failure to the consumer, which re-raises it
            self._put(work, e, stop)

    @staticmethod
    def _measured(extractor: Any, futures: list) -> list[Prepared]:
        group = [f.result() for f in futures]
        measure(extractor, group)
        return group

    @staticmethod
    def _put(work: queue_mod.Queue, value: Any, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                work.put(value, timeout=0.1)
                return True
            except queue_mod.Full:
                continue
        return False

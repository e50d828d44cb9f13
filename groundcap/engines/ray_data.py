"""The Ray engine: the batch steps as Ray Data ``map_batches`` stages, one actor pool each.

::

    groups ──> FactsActor ──────> GenerateActor ─────> RerankActor ──────> driver
    (from_items) read, hash,      prompt, N candidates  decode again, rank,  shards,
                 decode, facts     (the LLM; GPUs here)  build the rows       in job order

One Ray row is one group (:func:`~groundcap.engines.stages.groups_of`), so an
image meets the same batch-mates and the same sampling seed as under the local
engine, and the two engines' rows are equal but for the ``time_*`` columns.
Each actor loads its models once. Between stages a group travels as JSON
(inputs, facts, proposals, rows) plus the image files' bytes, which the
scorer decodes again instead of receiving pixel arrays.

Point it at an existing cluster::

    groundcap run SRC --out OUT --engine ray --ray-address ray://head:10001 --ray-actors 4 --ray-gpus 1

Without ``--ray-address`` a local Ray starts, and stops when the run ends.
A cluster named by the address is only joined and left (never stopped), and
a Ray the caller initialised already is used as it is. The workers need
groundcap installed with the same extras and must see the inputs at the
driver's paths (a shared filesystem). The offline switches
(``HF_HUB_OFFLINE``, ``YOLO_OFFLINE``, ...) and ``OMP_NUM_THREADS`` are passed
on from the driver's environment; an API key (``--generator openai``) is
not: set it in the workers' environment. Set ``OMP_NUM_THREADS`` to compare
rows with a local run: a model's float sums may depend on its thread count
(without it, Ray gives a worker one thread per whole CPU it reserved, at least one).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable, Iterator, Sequence

from groundcap.config import RunConfig
from groundcap.data.images import load_image_bytes
from groundcap.data.inputs import InputItem
from groundcap.engines.stages import Prepared, ShardJob, groups_of, measure, prepare, prior_of, row_of
from groundcap.errors import ConfigError
from groundcap.records import Facts, ImageInfo, Proposal, RunRow
from groundcap.timing import StageTimer

__all__ = ["RayEngine", "FactsActor", "GenerateActor", "RerankActor"]

#: Environment variables the workers get from the driver when it has them set.
PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "YOLO_OFFLINE", "YOLO_CONFIG_DIR",
              "GROUNDCAP_CACHE", "OMP_NUM_THREADS")


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] part of the extra
    except ImportError as e:
        raise ConfigError("the ray engine needs groundcap[scale]: pip install 'groundcap[scale]'") from e
    return ray


class RayEngine:
    """Runs shard jobs as a Ray Data pipeline (see the module docstring).

    Args:
        config: The run's settings; ``config.output`` names the cluster
            (``ray_address``), the actors per stage (``ray_actors``) and the
            GPUs of each generator actor (``ray_gpus``).
    """

    name = "ray"

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self._ray = _import_ray()
        self._started = False

    @property
    def models(self) -> None:
        """None: the models load in the actors, so the runner reads them from the rows."""
        return None

    def run(self, jobs: Sequence[ShardJob], tick: Callable[[list[RunRow]], None] = lambda rows: None
            ) -> Iterator[tuple[ShardJob, list[RunRow]]]:
        """Yields each job with its rows (in input order), shard by shard, in job order.

        ``tick`` is called with the rows of every finished group. The Ray
        this engine started or joined is left when the iterator ends or is closed.
        """
        jobs = list(jobs)
        size = self.config.generate.batch_size
        groups = [{"shard": j, "group": g, "items": _dumps([dataclasses.asdict(it) for it in group])}
                  for j, job in enumerate(jobs) for g, group in enumerate(groups_of(job.items, size))]
        expected = [sum(1 for _ in groups_of(job.items, size)) for job in jobs]
        try:
            arrived: dict[int, dict[int, list[RunRow]]] = {j: {} for j in range(len(jobs))}
            pending = 0
            rows_in = iter(self._pipeline(groups).iter_rows() if groups else ())
            while True:
                while pending < len(jobs) and len(arrived[pending]) == expected[pending]:
                    done = arrived.pop(pending)
                    yield jobs[pending], [r for g in sorted(done) for r in done[g]]
                    pending += 1
                out = next(rows_in, None)
                if out is None:
                    break
                group_rows = [RunRow.from_dict(d) for d in json.loads(out["rows"])]
                arrived[out["shard"]][out["group"]] = group_rows
                tick(group_rows)
            if pending < len(jobs):
                raise RuntimeError(f"the Ray pipeline returned no rows for shard {jobs[pending].index}")
        finally:
            self.close()

    def close(self) -> None:
        """Stops the local Ray this engine started, or leaves the cluster it joined (which keeps running)."""
        if self._started:
            self._ray.shutdown()
            self._started = False

    def _pipeline(self, groups: list[dict[str, Any]]) -> Any:
        ray = self._ray
        oc = self.config.output
        if not ray.is_initialized():
            ray.init(address=oc.ray_address or None)
            self._started = True
        actors = max(1, oc.ray_actors)
        cpus = _cpus_per_actor(ray.cluster_resources().get("CPU", 1.0), actors, oc.ray_gpus > 0)
        env = {"env_vars": {k: os.environ[k] for k in PASSED_ENV if k in os.environ}}
        stage = {"batch_size": 1, "batch_format": "pyarrow", "runtime_env": env,
                 "fn_constructor_kwargs": {"config": self.config}}
        ds = ray.data.from_items(groups)
        # from_items copied the current context, so these settings hold for this dataset only
        ds.context.execution_options.preserve_order = True
        ds.context.enable_progress_bars = oc.progress  # Ray's per-stage bars, beside the runner's own
        gpu = {"num_gpus": oc.ray_gpus} if oc.ray_gpus > 0 else {"num_cpus": cpus}
        def pool() -> Any:
            return ray.data.ActorPoolStrategy(size=actors)

        return (ds.map_batches(FactsActor, num_cpus=cpus, compute=pool(), **stage)
                  .map_batches(GenerateActor, compute=pool(), **gpu, **stage)
                  .map_batches(RerankActor, num_cpus=cpus, compute=pool(), **stage))


def _cpus_per_actor(total: float, actors: int, gpu: bool) -> float:
    """A CPU share per actor such that every stage's pool fits at once (1 at most).

    A GPU actor keeps Ray's default of one CPU; the others share the rest.
    On 2 CPUs with one actor per stage that is 2/3 each, where the default
    of 1 would leave the last stage waiting forever.
    """
    free = total - (actors if gpu else 0)
    share = free / (actors * (2 if gpu else 3))
    return max(0.01, min(1.0, math.floor(share * 100) / 100))


# -- what travels between stages ------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    # ASCII, so a lone surrogate (a non-UTF-8 file name) survives an Arrow string column
    return json.dumps(value)


def _table(rows: list[dict[str, Any]]) -> Any:
    """The Arrow batch of some stage's output rows (explicit types: a group of failures has no images)."""
    import pyarrow as pa

    types = {"shard": pa.int64(), "group": pa.int64(), "items": pa.string(), "inputs": pa.string(),
             "images": pa.list_(pa.binary()), "proposals": pa.string(), "rows": pa.string()}
    names = list(rows[0]) if rows else []
    return pa.table({k: pa.array([r[k] for r in rows], type=types[k]) for k in names})


def _item(d: dict[str, Any]) -> InputItem:
    return InputItem(**{**d, "hf": tuple(d["hf"]) if d.get("hf") is not None else None})


def _state(p: Prepared) -> dict[str, Any]:
    """A prepared input as JSON-ready data, without its pixels."""
    return {"item": dataclasses.asdict(p.item), "key": p.key, "sha256": p.sha256, "status": p.status,
            "error": p.error, "times": p.times, "info": p.info.to_dict() if p.info else None,
            "facts": p.facts.to_dict() if p.facts is not None else None}


def _prepared(d: dict[str, Any]) -> Prepared:
    return Prepared(_item(d["item"]), d["key"], d["sha256"], None,
                    ImageInfo.from_dict(d["info"]) if d["info"] else None,
                    Facts.from_dict(d["facts"]) if d["facts"] is not None else None,
                    d["status"], d["error"], dict(d["times"]))


def _captioned(p: Prepared) -> bool:
    """Whether an input goes on to the generator (as in :func:`~groundcap.engines.stages.caption_rows`)."""
    return p.ok and p.facts is not None


class _Stage:
    """An actor that maps each group row of an Arrow batch to one output row."""

    def __call__(self, batch: Any) -> Any:
        return _table([self.group(row) for row in batch.to_pylist()])

    def group(self, row: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


# -- the stages -----------------------------------------------------------------------------------------------


class FactsActor(_Stage):
    """Reads, hashes and decodes a group's images and measures their facts (detection batched).

    Args:
        config: The run's settings; only ``config.facts`` is used.
    """

    def __init__(self, config: RunConfig) -> None:
        from groundcap.facts import FactsExtractor

        self.extractor = FactsExtractor(config.facts)

    def group(self, row: dict[str, Any]) -> dict[str, Any]:
        group = [prepare(_item(d), keep_bytes=True) for d in json.loads(row["items"])]
        measure(self.extractor, group)
        images = [(p.data or b"") if _captioned(p) else b"" for p in group]
        return {"shard": row["shard"], "group": row["group"], "inputs": _dumps([_state(p) for p in group]),
                "images": images}


class GenerateActor(_Stage):
    """Writes each measured image's prompt and candidates, with the generator loaded once.

    It holds whatever ``config.generate`` names. For ``vllm`` that is
    groundcap's :class:`~groundcap.llm_finetune.generators.vllm.VLLMGenerator`
    on the GPUs Ray gives the actor (``--ray-gpus``), with nothing else
    specific to Ray; that path has not been run here, where there is no GPU.

    Args:
        config: The run's settings; the scorers are not loaded here.
    """

    def __init__(self, config: RunConfig) -> None:
        from groundcap.engines.heap import map_large_blocks
        from groundcap.pipeline import Captioner

        map_large_blocks(config.output.heap_mmap_mb)  # the actor's own process
        self.captioner = Captioner(dataclasses.replace(
            config, rerank=dataclasses.replace(config.rerank, scorers=(), weights=())))

    def group(self, row: dict[str, Any]) -> dict[str, Any]:
        group = [_prepared(d) for d in json.loads(row["inputs"])]
        todo = [(p, data) for p, data in zip(group, row["images"]) if _captioned(p)]
        timer = StageTimer()
        proposals = []
        if todo:
            priors = [prior_of(p, self.captioner.config.prompt.prior) for p, _ in todo]
            neighbours = None
            if self.captioner.retriever.enabled:  # retrieval needs the pixels, as in the local engine
                arrays = [load_image_bytes(data, p.item.path or p.item.source)[0] for p, data in todo]
                neighbours = self.captioner.retrieve(arrays, timer=timer)
            proposals = self.captioner.propose([p.facts for p, _ in todo], priors, neighbours=neighbours,
                                               timer=timer)
        return {**row, "proposals": _dumps({"proposals": [p.to_dict() for p in proposals], "call": timer.to_dict(),
                                            "models": dict(self.captioner.models)})}


class RerankActor(_Stage):
    """Ranks the candidates, picks the captions and builds the group's rows.

    It holds the ranking stage alone (the generator actor wrote the
    candidates); the rows name the models the generator actor reported.

    Args:
        config: The run's settings; ``config.rerank`` and the facts' spatial thresholds are used.
    """

    def __init__(self, config: RunConfig) -> None:
        from groundcap.datastore import resolve_datastore
        from groundcap.datastore.store import read_captions
        from groundcap.rerank.ranker import Ranker

        # The cider scorer weighs n-grams by the datastore's captions: read those alone, and only when it ranks.
        where = resolve_datastore(config.retrieve.datastore) if "cider" in config.rerank.scorers else None
        corpus = read_captions(where)[1] if where is not None else ()
        self.ranker = Ranker(config.rerank, config.facts.spatial, corpus=corpus)

    def group(self, row: dict[str, Any]) -> dict[str, Any]:
        group = [_prepared(d) for d in json.loads(row["inputs"])]
        todo = [(p, data) for p, data in zip(group, row["images"]) if _captioned(p)]
        results = {}
        if todo:
            generated = json.loads(row["proposals"])
            arrays = [load_image_bytes(data, p.item.path or p.item.source)[0] for p, data in todo]
            out = self.ranker.decide([Proposal.from_dict(d) for d in generated["proposals"]], arrays,
                                     [p.facts for p, _ in todo], timer=StageTimer.from_dict(generated["call"]),
                                     models=tuple(generated["models"].items()))
            results = {id(p): r for (p, _), r in zip(todo, out)}
        rows = [row_of(p, results.get(id(p))) for p in group]
        return {"shard": row["shard"], "group": row["group"], "rows": _dumps([r.to_dict() for r in rows])}

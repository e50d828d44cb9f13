"""The closed loop at scale: do captions written for uncaptioned photos train a better image-text model?

The setting users are in: a few captioned photos and many without captions. On Flickr8k-224:

1. train is split by a seeded draw into A (``--a-size`` photos, human captions kept) and B (the rest,
   treated as uncaptioned);
2. everything the caption writer knows comes from A: a caption datastore of A (``groundcap datastore
   build``), a LoRA tuned on A with A's neighbours in its prompts (``groundcap build-sft`` and
   ``groundcap train-llm``), and the starting image-text model, trained from scratch on A's human
   captions (``train_clip``), which is also the reranker's CLIP;
3. ``groundcap run`` captions B with that writer (n candidates, reranked), into Parquet: the run output
   is what the rows below train on, as a user would do it;
4. from the start model, the image-text model is fine-tuned on each set for the same number of steps,
   once per seed, and scored by Recall@1/5/10 in both directions over the whole dev pool (887 photos,
   5 human captions each), which neither the writer nor any model saw.

The sets: A alone (the control), A plus B captioned by the template, the first (greedy) candidate, the
run's ranking (the default: CIDEr-D against the captions of the nearest A photos), the same candidates ranked
again by the previous default (n-gram consensus), A's retrieval-only consensus caption (no LLM) and a few variants (levers), A plus B's human captions (the ceiling), and B alone with
each kind of caption. The table gives mean ± sd over the seeds; the claims (A+B vs A, gap closed) get
paired bootstrap 95 % intervals over the dev photos, from the hits averaged over the seeds.

Usage (about an hour on a 2-core CPU; each stage is skipped when its output is already there):
    python experiments/closed_loop_scale.py ../shared/data/flickr8k-224 --out runs/loop
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

KS = ("i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10")
KINDS = ("template", "first", "reranked", "human")
LEVERS = ("filtered", "filtered strict", "several", "short", "real3:1")
STAGES = ("datastore", "build-sft", "train-llm", "run-B")


# -- stages ---------------------------------------------------------------------


class _Stop(Exception):
    """Raised after the ``--until`` stage."""


def _stage(name: str, done: Path, cmd: list[str], log: Path, times: dict, until: str | None = None) -> None:
    """Runs a groundcap command unless ``done`` exists; its output goes to ``log``.

    Raises:
        _Stop: after this stage when it is the ``until`` stage.
    """
    _run_stage(name, done, cmd, log, times)
    if name == until:
        raise _Stop(name)


def _run_stage(name: str, done: Path, cmd: list[str], log: Path, times: dict) -> None:
    if done.exists():
        print(f"[{name}] done before ({done.name} exists)", flush=True)
        return
    print(f"[{name}] {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    with log.open("a") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    times[name] = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        raise SystemExit(f"[{name}] failed with exit code {proc.returncode}; see {log}")
    print(f"[{name}] {times[name]:.0f} s", flush=True)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def split_train(items: list, a_size: int, seed: int, b_limit: int | None) -> tuple[list, list]:
    """A (captions kept) and B (treated as uncaptioned) from the train items, by a seeded draw."""
    order = sorted(items, key=lambda it: it.path.name)
    random.Random(seed).shuffle(order)
    a, b = order[:a_size], order[a_size:]
    return a, (b[:b_limit] if b_limit else b)


# -- caption sets from the run output ---------------------------------------------


def caption_sets(run_dir: Path, b_items: list, clip_quantile: float, candidates: dict[str, str],
                 strict_quantile: float = 0.5) -> tuple[dict, dict]:
    """One list of (path, caption) pairs per kind and lever, from the ``groundcap run`` shards of B.

    ``candidates`` is :func:`read_candidates` of the same run. "filtered" keeps the photos whose chosen
    caption is grounded (score > 0) and whose CLIP score is at least the ``clip_quantile`` of all chosen
    captions' scores; "filtered strict" the same at ``strict_quantile``.

    Returns:
        ``(sets, info)``: ``sets[kind]`` pairs, and per-set counts (photos kept, statuses).
    """
    from groundcap.data.run_shards import read_run_rows, run_shards
    from groundcap.llm_finetune.generators.template import template_caption
    from groundcap.records import Facts

    refs = {it.path.name: it for it in b_items}
    rows = [r for r in read_run_rows(run_dir, run_shards(run_dir)) if r.path.name in refs]
    sets: dict[str, list] = {k: [] for k in KINDS + LEVERS if k != "real3:1"}
    statuses: dict[str, int] = {}
    chosen_clip = []
    parsed = []
    for r in rows:
        statuses[r.status or "?"] = statuses.get(r.status or "?", 0) + 1
        it = refs[r.path.name]
        sets["human"].append((it.path, it.captions[0]))
        if r.status != "ok":
            continue
        cands = [c for c in json.loads(candidates.get(r.path.name, "[]")) if c.get("status") == "ok"]
        facts = Facts.from_dict(json.loads(r.facts)) if r.facts else None
        if facts is not None:
            sets["template"].append((it.path, template_caption(facts)))
        greedy = [c for c in cands if c.get("greedy")]
        sets["first"].append((it.path, (greedy[0] if greedy else cands[0])["text"] if cands else r.caption))
        sets["reranked"].append((it.path, r.caption))
        chosen = next((c for c in cands if c["text"] == r.caption), None)
        parsed.append((it, r, cands, chosen))
        if chosen is not None:
            chosen_clip.append(chosen["scores"].get("clip", 0.0))
    clip_floor = float(np.quantile(chosen_clip, clip_quantile)) if chosen_clip else 0.0
    strict_floor = float(np.quantile(chosen_clip, strict_quantile)) if chosen_clip else 0.0
    for it, r, cands, chosen in parsed:
        scores = (chosen or {}).get("scores", {})
        if scores.get("grounding", 0.0) > 0.0 and scores.get("clip", 0.0) >= clip_floor:
            sets["filtered"].append((it.path, r.caption))
        if scores.get("grounding", 0.0) > 0.0 and scores.get("clip", 0.0) >= strict_floor:
            sets["filtered strict"].append((it.path, r.caption))
        kept = [c for c in cands if c["scores"].get("grounding", 0.0) >= 0.0] or ([chosen] if chosen else [])
        texts = list(dict.fromkeys(c["text"] for c in kept))
        sets["several"].extend((it.path, t) for t in texts)
        if texts:
            sets["short"].append((it.path, min(texts, key=lambda t: (len(t.split()), t))))
    info = {k: {"pairs": len(v), "photos": len({p for p, _ in v})} for k, v in sets.items()}
    info["_statuses"] = statuses
    info["_filtered_clip_floor"] = round(clip_floor, 4)
    info["_strict_clip_floor"] = round(strict_floor, 4)
    return sets, info


def ranked_again_and_retrieved(b_items: list, candidates: dict[str, str], datastore: Path, k: int = 10
                               ) -> tuple[list, list]:
    """B's captions chosen by the previous default ranking from the run's saved candidates, and B's retrieval-only captions.

    The first list ranks each photo's saved candidates as the default did until 2026-12-07 (grounding 0.3,
    CLIP 0.1, n-gram consensus 2.0), with consensus computed against the captions of its 5 nearest photos in
    A's datastore (the ones the writer saw) and the grounding and CLIP scores the run saved. The second is the
    consensus caption of the ``k`` nearest A photos (Devlin et al. 2015): captions copied from A, no LLM.
    """
    from groundcap.datastore.baselines import retrieval_predictions
    from groundcap.datastore.store import open_datastore
    from groundcap.records import Candidate
    from groundcap.rerank.consensus import ConsensusScorer

    retrieved, neighbours, _, _ = retrieval_predictions(b_items, open_datastore(datastore), baseline="consensus",
                                                        k=k, exclude_self=False)
    weights = {"grounding": 0.3, "clip": 0.1, "consensus": 2.0}
    scorer = ConsensusScorer()
    ranked, copied = [], []
    for it in b_items:
        name = it.path.name
        if name in retrieved:
            copied.append((it.path, retrieved[name]))
        cands = [c for c in json.loads(candidates.get(name, "[]")) if c.get("status") == "ok"]
        if not cands:
            continue
        agreement, _ = scorer.score_in_context(None, None, [Candidate(c["text"]) for c in cands],
                                               tuple(neighbours.get(name, ()))[:5])

        def total(i: int) -> float:
            scores = {**cands[i]["scores"], "consensus": agreement[i]}
            return sum(w * scores[n] for n, w in weights.items() if scores.get(n) is not None)

        ranked.append((it.path, cands[max(range(len(cands)), key=lambda i: (total(i), -i))]["text"]))
    return ranked, copied


def read_candidates(run_dir: Path) -> dict[str, str]:
    """file name → the candidates JSON of each run row (``ShardRow`` keeps only the caption and facts)."""
    import pyarrow.parquet as pq

    from groundcap.data.run_shards import run_shards

    out = {}
    for shard in run_shards(run_dir):
        t = pq.read_table(shard, columns=["path", "candidates"]).to_pylist()
        out.update({Path(r["path"]).name: r["candidates"] or "[]" for r in t})
    return out


# -- retrieval on dev -------------------------------------------------------------


class DevPool:
    """The dev photos' frozen features, embedded once; per-photo hits of any heads."""

    def __init__(self, items: list, cache_dir: Path | None) -> None:
        from groundcap.rerank import lit

        self.items = [it for it in items if it.captions]
        texts = [c for it in self.items for c in it.captions]
        self.owner = np.array([i for i, it in enumerate(self.items) for _ in it.captions])
        self.img, self.txt, _ = lit.frozen_features([it.path for it in self.items], texts, cache_dir=cache_dir)

    def hits(self, checkpoint: Path) -> dict[str, np.ndarray]:
        """Per dev photo: i2t hit (0/1) and the share of its captions whose t2i is a hit, at K = 1, 5, 10."""
        from groundcap.rerank.lit import HEADS_FILE, EmbeddedModel, load_heads

        model = EmbeddedModel(load_heads(checkpoint / HEADS_FILE))
        ie = model.embed_image_features(self.img).astype(np.float64)
        te = model.embed_text_features(self.txt).astype(np.float64)
        sim = ie @ te.T
        positive = self.owner[None, :] == np.arange(len(ie))[:, None]
        best = np.where(positive, sim, -np.inf).max(axis=1)
        i2t_rank = (np.where(positive, -np.inf, sim) >= best[:, None]).sum(axis=1)
        own = sim[self.owner, np.arange(len(self.owner))]
        t2i_rank = (np.where(positive, -np.inf, sim) >= own[None, :]).sum(axis=0)
        counts = np.bincount(self.owner, minlength=len(ie))
        out = {}
        for k in (1, 5, 10):
            out[f"i2t_R@{k}"] = (i2t_rank < k).astype(np.float64)
            out[f"t2i_R@{k}"] = np.bincount(self.owner, weights=(t2i_rank < k), minlength=len(ie)) / counts
        return out


def recall(hits: dict[str, np.ndarray]) -> dict[str, float]:
    """Recall@K in percent (t2i weighted by captions, which is per-photo when each photo has 5)."""
    return {k: 100.0 * float(v.mean()) for k, v in hits.items()}


def bootstrap(stat, arrays: list[np.ndarray], n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``stat(*arrays)`` and its 95 % percentile interval over photos resampled with replacement."""
    rng = np.random.default_rng(seed)
    m = len(arrays[0])
    draws = [stat(*(a[idx] for a in arrays)) for idx in (rng.integers(0, m, m) for _ in range(n))]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(stat(*arrays)), float(lo), float(hi)


# -- the experiment ----------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="Flickr8k-224 (a folder with captions.jsonl: train and dev splits)")
    p.add_argument("--out", required=True)
    p.add_argument("--a-size", type=int, default=1000, help="photos of train whose human captions are kept")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--b-limit", type=int, default=None, help="caption only this many B photos (smoke runs)")
    p.add_argument("--dev-limit", type=int, default=None, help="score on this many dev photos (smoke runs)")
    p.add_argument("--llm-steps", type=int, default=48, help="LoRA steps on A (batch 8)")
    p.add_argument("-n", type=int, default=5, help="candidates per B photo")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs over A + B (one caption each); "
                                                          "every set trains for that many steps")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--clip-quantile", type=float, default=0.25,
                   help="'filtered' drops B photos whose chosen caption's CLIP score is below this quantile "
                        "(and those with grounding <= 0)")
    p.add_argument("--until", choices=STAGES, default=None,
                   help="stop after this stage (e.g. build-sft, to train the LoRA on a GPU machine: put its "
                        "output in OUT/adapter-A and run again without --until)")
    args = p.parse_args(argv)

    from groundcap.config import TrainClipConfig
    from groundcap.data.captioned import read_captions_jsonl, select
    from groundcap.eval.caption_eval import score_items
    from groundcap.rerank import lit
    from groundcap.rerank.train_clip import train_clip

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log, times = out / "log.txt", {}
    items = read_captions_jsonl(data / "captions.jsonl" if data.is_dir() else data)
    a_items, b_items = split_train(select(items, "train"), args.a_size, args.split_seed, args.b_limit)
    dev_items = select(items, "dev", limit=args.dev_limit, seed=0) if args.dev_limit else select(items, "dev")
    print(f"A {len(a_items)} photos, B {len(b_items)}, dev {len(dev_items)}", flush=True)

    # captions.jsonl paths must stay inside its folder: A's photos (and 48 dev photos for the LoRA's
    # validation loss) are copied beside it; the copies hash alike, so the caches still hit
    (out / "A" / "images").mkdir(parents=True, exist_ok=True)

    def row(it, split):
        copy = out / "A" / "images" / it.path.name
        if not copy.exists():
            shutil.copyfile(it.path, copy)
        return {"image": f"images/{it.path.name}", "captions": list(it.captions), "split": split}

    a_file = _write_jsonl(out / "A" / "captions.jsonl", [row(it, "train") for it in a_items]
                          + [row(it, "dev") for it in select(items, "dev", limit=48, seed=1)])
    b_manifest = _write_jsonl(out / "B.jsonl", [{"path": str(it.path.resolve())} for it in b_items])
    exe = shutil.which("groundcap") or str(Path(sys.executable).with_name("groundcap"))
    gc = [exe]
    ds, sft, adapter, start, run = (out / n for n in ("datastore-A", "sft-A", "adapter-A", "start-A", "run-B"))

    try:
        _stage("datastore", ds / "datastore.json", gc + ["datastore", "build", str(a_file), "--split", "train",
                                                        "--out", str(ds)], log, times, args.until)
        _stage("build-sft", sft / "build.json", gc + ["build-sft", str(a_file), "--out", str(sft), "--references",
                                                      "sample", "--datastore", str(ds), "--neighbours", "5",
                                                      "--neighbour-pool", "10"], log, times, args.until)
        _stage("train-llm", adapter / "adapter_model.safetensors",
               gc + ["train-llm", str(sft), "--out", str(adapter), "--references", "sample", "--max-steps",
                     str(args.llm_steps), "--save-steps", "16", "--epochs", "1"], log, times, args.until)
        a_pairs = [(it.path, c) for it in a_items for c in it.captions]
        if not (start / lit.HEADS_FILE).exists():
            t0 = time.perf_counter()
            train_clip(a_pairs, start, TrainClipConfig(init="scratch", device="cpu", seed=0), source="A human")
            times["start-model"] = round(time.perf_counter() - t0, 1)
        _stage("run-B", run / "_finished", gc + ["run", str(b_manifest), "--out", str(run), "--generate.adapter",
                                                str(adapter), "--generate.n", str(args.n), "--retrieve.datastore",
                                                str(ds), "--rerank.clip-checkpoint", str(start),
                                                "--output.formats", "parquet", "--output.progress", "false"],
               log, times, args.until)
        (run / "_finished").touch()
    except _Stop as stop:
        print(f"stopped after {stop} (--until)", flush=True)
        return 0

    cands = read_candidates(run)
    sets, info = caption_sets(run, b_items, args.clip_quantile, cands)
    sets["consensus"], sets["retrieval"] = ranked_again_and_retrieved(b_items, cands, ds)
    for kind in ("consensus", "retrieval"):
        info[kind] = {"pairs": len(sets[kind]), "photos": len({p for p, _ in sets[kind]})}
    (out / "captions.json").write_text(json.dumps({k: [[str(p), c] for p, c in v] for k, v in sets.items()},
                                                  ensure_ascii=False) + "\n")
    b_refs = [it for it in b_items]
    quality = {}
    for kind in ("template", "first", "reranked", "consensus", "retrieval", "filtered", "filtered strict", "short"):
        quality[kind] = score_items(b_refs, {p.name: c for p, c in sets[kind]}, meteor=False)
    others = [dataclasses.replace(it, captions=it.captions[1:]) for it in b_refs]
    quality["human"] = score_items(others, {p.name: c for p, c in sets["human"]}, meteor=False)

    plan = {"A human only": a_pairs}
    for kind in KINDS + ("consensus", "retrieval", "filtered", "filtered strict", "several", "short"):
        plan[f"A + B {kind}"] = a_pairs + sets[kind]
    plan["A + B reranked, real 3:1"] = a_pairs * 3 + sets["reranked"]
    plan["A + B filtered, real 3:1"] = a_pairs * 3 + sets["filtered"]
    # the template carries the detector's and colour namer's facts, which A's captions cannot: both per photo
    plan["A + B reranked + template"] = a_pairs + sets["reranked"] + sets["template"]
    for kind in KINDS + ("consensus", "retrieval"):
        plan[f"B {kind} only"] = sets[kind]
    batch = TrainClipConfig().batch_size
    budget = args.epochs * max(1, (len(a_pairs) + len(sets["reranked"])) // batch)

    pool = DevPool(dev_items, lit.default_feature_cache())
    results: dict[str, list] = {"start model": [pool.hits(start)]}
    t0 = time.perf_counter()
    for name, pairs in plan.items():
        epochs = max(1, round(budget / max(1, len(pairs) // batch)))
        results[name] = []
        for seed in args.seeds:
            ckpt = out / "clip" / f"{name.replace(' ', '_').replace(':', '-').replace(',', '')}-seed{seed}"
            if not (ckpt / lit.HEADS_FILE).exists():
                train_clip(pairs, ckpt, TrainClipConfig(checkpoint=str(start), epochs=epochs, device="cpu",
                                                        learning_rate=args.learning_rate, seed=seed),
                           source=f"closed loop at scale: {name}")
            results[name].append(pool.hits(ckpt))
        print(f"[clip] {name}: {len(pairs)} pairs, {epochs} epochs, "
              f"i2t R@5 {statistics.mean(recall(h)['i2t_R@5'] for h in results[name]):.1f}", flush=True)
    times["clip-rows"] = round(time.perf_counter() - t0, 1)
    report = write_report(out, results, quality, info, times, args, len(dev_items), budget)
    print(report)
    return 0


def write_report(out: Path, results: dict, quality: dict, info: dict, times: dict, args, n_dev: int,
                 budget: int) -> str:
    """The Markdown table and the bootstrap claims, written to results.md and results.json."""

    def mean_hits(name):
        return {k: np.mean([h[k] for h in results[name]], axis=0) for k in KS}

    def cell(name, k):
        vals = [recall(h)[k] for h in results[name]]
        return f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else f"{vals[0]:.1f}"

    def q(name):
        kind = name.replace("A + B ", "").replace("B ", "").replace(" only", "")
        s = quality.get(kind)
        return (f"{s['CIDEr-D']:.1f} | {s['CHAIR_i']:.1f}") if s and "A human" not in name else " | "

    lines = [f"A {args.a_size} photos (split seed {args.split_seed}), B {info['human']['photos']}, dev {n_dev}; "
             f"LoRA {args.llm_steps} steps on A; n={args.n}; fine-tuning {budget} steps from the start model, "
             f"lr {args.learning_rate}, seeds {args.seeds}", "",
             "| image-text model tuned on | B photos | B captions' CIDEr-D | CHAIR_i | "
             + " | ".join(k.replace("_", " ") for k in KS) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(KS)]
    for name in results:
        kind = name.replace("A + B ", "").replace("B ", "").replace(" only", "").split(",")[0]
        photos = info.get(kind, {}).get("photos", "") if name.startswith(("A + B", "B ")) else ""
        lines.append(f"| {name} | {photos} | {q(name)} | " + " | ".join(cell(name, k) for k in KS) + " |")
    claims = {}
    base, ceiling = mean_hits("A human only"), mean_hits("A + B human")
    for name in [n for n in results if n.startswith("A + B") and n != "A + B human"]:
        gen = mean_hits(name)
        for k in ("i2t_R@5", "t2i_R@5"):
            d = bootstrap(lambda g, b: 100 * (g.mean() - b.mean()), [gen[k], base[k]])
            gap = bootstrap(lambda g, b, c: (g.mean() - b.mean()) / max(c.mean() - b.mean(), 1e-9),
                            [gen[k], base[k], ceiling[k]])
            claims[f"{name} | {k}"] = {"vs A human only": d, "gap closed": gap}
    for a, b in (("A + B reranked", "A + B first"), ("A + B reranked", "A + B template"),
                 ("A + B reranked", "A + B consensus"),
                 ("A + B consensus", "A + B first"), ("A + B consensus", "A + B retrieval")):
        for k in ("i2t_R@5", "t2i_R@5"):
            claims[f"{a} vs {b} | {k}"] = {"difference": bootstrap(lambda x, y: 100 * (x.mean() - y.mean()),
                                                                     [mean_hits(a)[k], mean_hits(b)[k]])}
    lines += ["", "Paired bootstrap over the dev photos (hits averaged over seeds), 95 % intervals:", ""]
    for key, vals in claims.items():
        lines.append(f"- {key}: " + "; ".join(f"{n} {v[0]:+.2f} [{v[1]:+.2f}, {v[2]:+.2f}]" for n, v in vals.items()))
    lines += ["", "seconds per stage: " + json.dumps(times), "B sets: " + json.dumps(info)]
    text = "\n".join(lines)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({
        "recall": {n: [recall(h) for h in hs] for n, hs in results.items()}, "quality": quality, "claims": claims,
        "sets": info, "seconds": times, "args": vars(args)}, indent=1, default=str) + "\n")
    return text


if __name__ == "__main__":
    sys.exit(main())

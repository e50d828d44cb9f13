"""Is one captioner really better than another? Paired bootstrap intervals over images.

CIDEr-D of a set is the mean of its per-image scores (the idf comes from the
references, so it is the same for every system scored on the same photos).
Resampling the photos with replacement and taking the mean difference of two
systems' per-image scores each time gives a 95% interval of the difference
(Koehn 2004's paired bootstrap). An interval that excludes 0 is a difference
the photos support; one that straddles 0 is not.

A sampling captioner scores differently from seed to seed, and an interval
over photos says nothing about that spread. Joining runs of other seeds with
``+`` (``s0.json+s1.json``) compares their per-photo mean, so the
difference is the systems' and not one seed's.

>>> d = paired_bootstrap({"a": 30.0, "b": 10.0, "c": 20.0}, {"a": 20.0, "b": 0.0, "c": 10.0}, samples=200)
>>> (d["diff"], d["low"], d["high"])
(10.0, 10.0, 10.0)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from groundcap.errors import ConfigError

__all__ = ["paired_bootstrap", "read_predictions", "read_system", "add_compare_parser"]

#: Per-image metrics that average to the set's score.
METRICS = ("CIDEr-D", "ROUGE-L")


def paired_bootstrap(a: Mapping[str, float], b: Mapping[str, float], *, samples: int = 10000, seed: int = 0,
                     level: float = 0.95) -> dict[str, float]:
    """The mean of ``a - b`` over images, with its ``level`` bootstrap interval.

    Args:
        a: image id → system A's score.
        b: image id → system B's score, on the same ids.
        samples: Bootstrap resamples.
        seed: Seed of the resampling.
        level: Coverage of the interval.

    Raises:
        ValueError: when the two do not score the same images.
    """
    if set(a) != set(b) or not a:
        raise ValueError(f"the systems score different images ({len(set(a) ^ set(b))} differ) or none")
    ids = sorted(a)
    diff = np.array([a[i] - b[i] for i in ids], dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"diff": round(float(diff.mean()), 4), "low": round(float(low), 4), "high": round(float(high), 4),
            "images": len(ids)}


def read_predictions(spec: str) -> tuple[str, dict[str, str]]:
    """``FILE`` (an ``eval captions --out`` file) or ``FILE:NAME`` (a baseline of a ``datastore eval --out`` file).

    Raises:
        ConfigError: for a file without predictions, or an unknown baseline.
    """
    path, _, name = spec.partition(":") if not Path(spec).is_file() else (spec, "", "")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read predictions ({e})") from e
    if name:
        baselines = data.get("baselines") or {}
        if name not in baselines:
            raise ConfigError(f"{path} has no baseline {name!r}; it has {sorted(baselines)}")
        return f"{Path(path).stem}:{name}", dict(baselines[name]["predictions"])
    if "predictions" not in data:
        raise ConfigError(f"{path} holds no predictions; for a datastore eval name one: {path}:consensus")
    return Path(path).stem, dict(data["predictions"])


def read_system(spec: str) -> tuple[str, list[dict[str, str]]]:
    """One system: a :func:`read_predictions` spec, or several joined with ``+`` (runs of one system, other seeds).

    Raises:
        ConfigError: as :func:`read_predictions`, for any of the joined files.
    """
    parts = [spec] if Path(spec).is_file() else spec.split("+")
    read = [read_predictions(part) for part in parts]
    return "+".join(name for name, _ in read), [preds for _, preds in read]


def add_compare_parser(esub: argparse._SubParsersAction) -> None:
    c = esub.add_parser("compare", help="Paired bootstrap 95%% intervals between saved predictions.",
                        description="Scores each saved prediction file on the same photos and prints, for each "
                                    "one after the first, its difference from the first with a 95%% paired "
                                    "bootstrap interval over photos.")
    c.add_argument("data", metavar="DIR_OR_JSONL", help="The captions.jsonl (or its folder) the predictions are of.")
    c.add_argument("predictions", nargs="+", metavar="FILE[:BASELINE][+FILE...]",
                   help="`eval captions --out` files, or `datastore eval --out` files with the baseline named; "
                        "files joined with + are runs of one system (other seeds), scored as their per-photo mean.")
    c.add_argument("--metric", default="CIDEr-D", choices=METRICS, help="Per-image metric (default CIDEr-D).")
    c.add_argument("--samples", type=int, default=10000, help="Bootstrap resamples (default 10000).")
    c.add_argument("--seed", type=int, default=0, help="Seed of the resampling.")
    c.add_argument("--json", metavar="FILE", default=None, help="Also write the comparison as JSON here.")
    c.set_defaults(func=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    from groundcap.data.captioned import read_captions_jsonl
    from groundcap.eval.caption_metrics import caption_metrics

    src = Path(args.data)
    items = read_captions_jsonl(src / "captions.jsonl" if src.is_dir() else src)
    references = {it.path.name: list(it.captions) for it in items}
    try:
        systems = [read_system(spec) for spec in args.predictions]
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ids = set.intersection(*(set(p) for _, runs in systems for p in runs))
    missing = ids - set(references)
    if not ids or missing:
        print(f"error: {len(missing)} predicted photos have no references in {src}" if missing else
              "error: the prediction files share no photo", file=sys.stderr)
        return 2
    refs = {i: references[i] for i in ids}
    per_image: list[dict[str, float]] = []
    for _, runs in systems:
        scored = [caption_metrics({i: preds[i] for i in ids}, refs, meteor=False, per_image=True)["per_image"]
                  for preds in runs]
        per_image.append({i: float(np.mean([s[i][args.metric] for s in scored])) for i in ids})
    out: dict[str, Any] = {"metric": args.metric, "images": len(ids), "systems": {}, "differences": {}}
    base = systems[0][0]
    print(f"{args.metric} on {len(ids)} photos; differences against {base}, 95% paired bootstrap "
          f"({args.samples} resamples)")
    for (name, _), scores in zip(systems, per_image):
        mean = float(np.mean(list(scores.values())))
        out["systems"][name] = round(mean, 2)
        line = f"  {name:<40} {mean:6.1f}"
        if name != base:
            d = paired_bootstrap(scores, per_image[0], samples=args.samples, seed=args.seed)
            out["differences"][name] = d
            line += f"   {d['diff']:+6.1f}  [{d['low']:+.1f}, {d['high']:+.1f}]"
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0

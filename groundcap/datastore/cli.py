"""``groundcap datastore build | search | eval``: make a caption datastore, query it, score its baselines.

Registered in :mod:`groundcap.cli` with :func:`add_datastore_parser`; usable on its own too:

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> _ = add_datastore_parser(parser.add_subparsers())
>>> args = parser.parse_args(["datastore", "build", "data/flickr8k-224", "--out", "ds", "--split", "train"])
>>> args.func is run_build, args.split, args.embedding
(True, 'train', 'efficientnet-lite3')
>>> parser.parse_args(["datastore", "search", "ds", "photo.jpg", "-k", "3"]).k
3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from groundcap.errors import GroundcapError

__all__ = ["add_datastore_parser", "run_build", "run_search", "run_eval"]

_DATASTORE_HELP = "A datastore folder, or 'embedded' for the shipped one (Flickr8k-224 train)."


def add_datastore_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds ``datastore`` with its ``build``, ``search`` and ``eval`` subcommands."""
    from groundcap.datastore.baselines import BASELINES, DEFAULT_K
    from groundcap.datastore.build import DEFAULT_EMBEDDING, DEFAULT_PCA
    from groundcap.datastore.embeddings import PREPROCESSING, list_embeddings
    from groundcap.datastore.storage import STORAGES

    p = subparsers.add_parser("datastore", help="Build, search and score a caption datastore (retrieval).",
                              description="Human captions of a photo set with compact embeddings of its photos: "
                                          "for a query photo, the captions of the most similar photos.")
    dsub = p.add_subparsers(dest="datastore_command", metavar="WHAT", required=True)

    b = dsub.add_parser("build", help="Embed a captioned photo set into a datastore folder.",
                        description="Reads a folder holding captions.jsonl (or the file), or a `groundcap run` "
                                    "folder's prior captions. Unreadable photos are skipped and counted.")
    b.add_argument("source", metavar="SOURCE", help="Folder with captions.jsonl, the file itself, or a run folder.")
    b.add_argument("--out", required=True, metavar="DIR", help="The datastore folder (replaced if it is one).")
    b.add_argument("--split", default="all", help="Only photos of this split (default: all).")
    b.add_argument("--embedding", default=DEFAULT_EMBEDDING, choices=list_embeddings(),
                   help=f"Image embedding (default: {DEFAULT_EMBEDDING}).")
    b.add_argument("--preprocess", default="squash-224", choices=sorted(PREPROCESSING),
                   help="How photos and later queries are prepared (default: squash-224, as Flickr8k-224's were).")
    b.add_argument("--pca", type=int, default=DEFAULT_PCA, metavar="D",
                   help=f"Project the embeddings to D principal components (default {DEFAULT_PCA}; 0: none).")
    b.add_argument("--storage", default="int8", choices=list(STORAGES), help="Vector storage (default: int8).")
    b.set_defaults(func=run_build)

    s = dsub.add_parser("search", help="The neighbours of one photo and their consensus caption.")
    s.add_argument("datastore", metavar="DATASTORE", help=_DATASTORE_HELP)
    s.add_argument("image", metavar="IMAGE", help="The query photo.")
    s.add_argument("-k", type=int, default=5, help="Neighbours shown (default 5).")
    s.add_argument("--json", action="store_true", help="Print the neighbours and captions as one JSON object.")
    s.set_defaults(func=run_search)

    e = dsub.add_parser("eval", help="Score the retrieval-only baselines against reference captions.",
                        description="Captions every photo of DATA with the nearest neighbour's caption and the "
                                    "neighbours' consensus caption, and scores them like `groundcap eval captions`.")
    e.add_argument("data", metavar="DIR_OR_JSONL", help="A folder holding captions.jsonl, or the file itself.")
    e.add_argument("--datastore", default="embedded", help=_DATASTORE_HELP + " Default: embedded.")
    e.add_argument("--split", default="test", help="Photos of this split (default test; 'all' for every one).")
    e.add_argument("--limit", type=int, default=None, help="Score a seeded random sample of this many photos.")
    e.add_argument("--sample-seed", type=int, default=0, help="Seed for --limit.")
    e.add_argument("--baseline", action="append", choices=sorted(BASELINES), default=None,
                   help="Which baseline (repeat for several; default: nearest and consensus).")
    e.add_argument("-k", type=int, default=DEFAULT_K, help=f"Neighbours retrieved (default {DEFAULT_K}).")
    e.add_argument("--no-meteor", action="store_true", help="Skip METEOR (it starts a Java process).")
    e.add_argument("--out", metavar="FILE.json", default=None,
                   help="Write scores, predictions, each photo's neighbours and the settings here.")
    e.set_defaults(func=run_eval)
    return p


def _open(setting: str):
    from groundcap.datastore import open_datastore, resolve_datastore

    path = resolve_datastore(setting)
    if path is None:
        raise GroundcapError("a datastore is needed here, not 'none'")
    return open_datastore(path, feature_cache="default")


def run_build(args: argparse.Namespace) -> int:
    """Runs ``datastore build``; prints the count, skipped photos by reason and the size on disk."""
    from groundcap.datastore import build_datastore

    try:
        summary = build_datastore(args.source, args.out, embedding=args.embedding, split=args.split,
                                  preprocess=args.preprocess, pca=args.pca, storage=args.storage,
                                  progress=sys.stderr.isatty())
    except (GroundcapError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in Path(summary.out).iterdir())
    skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items()) or "none"
    print(f"datastore {summary.out}: {summary.count} photos, dim {summary.dim}, {size / 1e6:.1f} MB; "
          f"skipped: {skipped}; {summary.seconds:.1f} s")
    for err in summary.errors:
        print(f"  {err}", file=sys.stderr)
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Runs ``datastore search``: one line per neighbour, then the consensus caption."""
    from groundcap.datastore.consensus import consensus_caption

    try:
        store = _open(args.datastore)
        near = store.neighbours(args.image, args.k)
    except (GroundcapError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    consensus = consensus_caption(near)
    if args.json:
        print(json.dumps({"image": args.image, "neighbours": [n.to_dict() for n in near],
                          "consensus": consensus}, ensure_ascii=False))
        return 0
    for rank, n in enumerate(near, start=1):
        print(f"{rank:3d}  {n.similarity:6.3f}  {n.key}  {n.captions[0]}")
    print(f"consensus: {consensus}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Runs ``datastore eval``: the scores table, and ``--out`` JSON like ``eval captions --out``."""
    from groundcap.data.captioned import read_captions_jsonl, select
    from groundcap.datastore.baselines import retrieval_predictions
    from groundcap.eval.caption_eval import score_items
    from groundcap.eval.caption_metrics import score_table

    src = Path(args.data)
    try:
        items = select(read_captions_jsonl(src / "captions.jsonl" if src.is_dir() else src), args.split,
                       args.limit, args.sample_seed)
        store = _open(args.datastore)
    except (GroundcapError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not items:
        print(f"error: no images in {src} for split {args.split!r}", file=sys.stderr)
        return 2
    rows, saved = {}, {}
    for baseline in args.baseline or ["nearest", "consensus"]:
        preds, near, errors, per_image = retrieval_predictions(items, store, baseline=baseline, k=args.k,
                                                               progress=True)
        for err in errors.values():
            print(f"error: {err}", file=sys.stderr)
        if not preds:
            print("error: no photo could be captioned", file=sys.stderr)
            return 1
        scores = score_items(items, preds, meteor=not args.no_meteor)
        scores["seconds_per_image"] = per_image
        name = f"nearest ({store.embedding_name})" if baseline == "nearest" else \
            f"{baseline} (k={args.k}, {store.embedding_name})"
        rows[name] = scores
        saved[baseline] = {"scores": {k: v for k, v in scores.items() if not isinstance(v, dict)},
                           "predictions": preds,
                           "neighbours": {k: [n.to_dict() for n in v] for k, v in near.items()}}
    print(f"{len(preds)} of {len(items)} images scored, split {args.split}, datastore {store.path.name} "
          f"({len(store)} photos)")
    print(score_table(rows))
    if args.out:
        settings = {"data": str(args.data), "split": args.split, "limit": args.limit, "k": args.k,
                    "datastore": store.manifest}
        Path(args.out).write_text(json.dumps({"config": settings, "baselines": saved,
                                              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                             indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0

"""``groundcap index`` and ``groundcap search``: build an image index, then query it by text or image.

Registered in :mod:`groundcap.cli` with :func:`add_index_parser` and
:func:`add_search_parser`; usable on their own too:

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> sub = parser.add_subparsers()
>>> _ = add_index_parser(sub), add_search_parser(sub)
>>> args = parser.parse_args(["search", "a black dog", "-k", "3", "--object", "dog", "--object", "ball"])
>>> args.k, args.objects, args.func is run_search
(3, ['dog', 'ball'], True)
>>> parser.parse_args(["index", "runs/flickr", "--append"]).func is run_index
True
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from groundcap.config import IMAGE_TEXT
from groundcap.errors import GroundcapError
from groundcap.rerank.clip_cli import add_model_flags

__all__ = ["add_index_parser", "add_search_parser", "run_index", "run_search"]


def _create_model(name: str, pretrained: str | None, checkpoint: str | None, device: str) -> Any:
    """The image-text model; one place, so tests can swap in a fake."""
    from groundcap.rerank.models import create_image_text_model

    return create_image_text_model(name, pretrained=pretrained, checkpoint=checkpoint, device=device)


def _add_heatmap_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--heatmap", default=None, metavar="PNG", help=f"Save a cosine similarity heatmap of {what}.")
    p.add_argument("--heatmap-n", type=int, default=50, metavar="N", help="At most N images in the heatmap.")


def add_index_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the ``index`` subcommand; it runs :func:`run_index`."""
    p = subparsers.add_parser(
        "index", help="Build a searchable vector index of image embeddings with captions and metadata.",
        description="Reads a `groundcap run` folder (Parquet shards) or any captions source (captions.jsonl, "
                    "captions.txt, imagefolder, image+.txt folder), embeds each image and writes a LanceDB "
                    "index. Failed rows and unreadable images are skipped and counted.")
    p.add_argument("source", metavar="RUN_DIR", help="A run folder or a captions source.")
    p.add_argument("--out", default=None, metavar="DIR", help="Index folder (default: RUN_DIR/index).")
    p.add_argument("--append", action="store_true", help="Add to an existing index instead of replacing it.")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="Images embedded at a time.")
    add_model_flags(p, IMAGE_TEXT.model, f"Image-text embedding model (default: {IMAGE_TEXT.model}).")
    _add_heatmap_flags(p, "the first indexed images")
    p.set_defaults(func=run_index)
    return p


def add_search_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the ``search`` subcommand; it runs :func:`run_search`."""
    p = subparsers.add_parser(
        "search", help="Find indexed images by a text or an image query.",
        description="Ranks indexed images by cosine similarity to QUERY: text, or an image file. "
                    "Exit status 1 when nothing matches.")
    p.add_argument("query", metavar="QUERY", help="Text, or the path of an image file.")
    p.add_argument("--index", default=os.environ.get("GROUNDCAP_INDEX", "index"), metavar="DIR",
                   help="Index folder, or a run folder holding index/ (default: $GROUNDCAP_INDEX or ./index).")
    p.add_argument("-k", type=int, default=5, help="Number of results.")
    p.add_argument("--where", default=None, metavar="SQL",
                   help="SQL filter on key, path, caption, status, objects, width, height, "
                        "e.g. \"array_has(objects, 'dog') AND width > 400\".")
    p.add_argument("--object", dest="objects", action="append", default=[], metavar="LABEL",
                   help="Only images where LABEL was detected (repeat: all of them).")
    p.add_argument("--status", default=None, help="Only rows with this status.")
    p.add_argument("--json", action="store_true", help="Print one JSON object per hit.")
    add_model_flags(p, None, "Embedding model (default: the one the index was built with).")
    _add_heatmap_flags(p, "the hits")
    p.set_defaults(func=run_search)
    return p


def run_index(args: argparse.Namespace) -> int:
    """Runs ``index``; prints counts, skipped rows by reason and where the index went."""
    from groundcap.data.caption_sources import source_root
    from groundcap.rerank.index import index_vectors, open_index
    from groundcap.rerank.index_build import build_index

    out = Path(args.out) if args.out else source_root(args.source) / "index"
    try:
        model = _create_model(args.model, args.pretrained, args.checkpoint, args.device)
        spec = {"name": args.model, "pretrained": args.pretrained, "checkpoint": args.checkpoint}
        summary = build_index(args.source, model, out, append=args.append, batch_size=args.batch_size,
                              model_spec=spec)
    except (GroundcapError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items()) or "none"
    print(f"indexed {summary.indexed} images with {summary.model} (dim {summary.dim}) into {summary.out}: "
          f"{summary.rows} rows{', IVF-PQ index' if summary.ann else ''}; skipped: {skipped}; "
          f"{summary.seconds:.1f} s")
    for err in summary.errors:
        print(f"  {err}", file=sys.stderr)
    if summary.rows == 0:
        print(f"error: no images indexed from {args.source}", file=sys.stderr)
        return 1
    if args.heatmap:
        index = open_index(out)
        _heatmap(*index_vectors(index, limit=max(1, args.heatmap_n)), args.heatmap, args.heatmap_n)
    return 0


def run_search(args: argparse.Namespace) -> int:
    """Runs ``search``; prints a ranked table, or JSON lines with ``--json``."""
    from groundcap.rerank.index import index_vectors, open_index, search, where_clause

    try:
        index = open_index(args.index)
        spec = index.meta.get("model_spec") or {}
        if args.model is None:
            name, pretrained, checkpoint = (spec.get("name") or index.model, args.pretrained or spec.get("pretrained"),
                                            args.checkpoint or spec.get("checkpoint"))
        else:
            name, pretrained, checkpoint = args.model, args.pretrained, args.checkpoint
        model = _create_model(name, pretrained, checkpoint, args.device)
        where = where_clause(args.objects, args.status, args.where)
        hits = search(index, args.query, model, k=args.k, where=where)
    except (GroundcapError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for rank, hit in enumerate(hits, start=1):
        if args.json:
            print(json.dumps({"rank": rank, **hit.to_dict()}, ensure_ascii=False))
        else:
            caption = hit.caption if len(hit.caption) <= 70 else hit.caption[:67] + "..."
            print(f"{rank:3d}  {hit.score:6.3f}  {hit.path}  [{', '.join(hit.objects)}]  {caption}")
    if not hits:
        print("no matches", file=sys.stderr)
        return 1
    if args.heatmap:
        keys = [h.key for h in hits][: max(1, args.heatmap_n)]
        _heatmap(*index_vectors(index, keys), args.heatmap, args.heatmap_n)
    return 0


def _heatmap(vectors: Any, paths: list[str], png: str, limit: int) -> None:
    from groundcap.rerank.heatmap import similarity_heatmap

    written = similarity_heatmap(vectors, [Path(p).name for p in paths], png, max_images=max(1, limit))
    print(f"wrote a {len(paths)}-image similarity heatmap to {written}", file=sys.stderr)

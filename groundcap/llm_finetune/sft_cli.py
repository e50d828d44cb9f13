"""``groundcap build-sft``: a captioned image source in, SFT data for the LLM out.

Registered in :mod:`groundcap.cli` with :func:`add_build_sft_parser`; usable on
its own too:

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> _ = add_build_sft_parser(parser.add_subparsers())
>>> args = parser.parse_args(["build-sft", "data/", "--out", "sft/", "--references", "sample"])
>>> args.references, args.func is run_build_sft
('sample', True)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from groundcap.assets import cache_dir
from groundcap.config import FactsConfig, GenerateConfig, RetrieveConfig
from groundcap.config_cli import add_config_flags, config_from_args

__all__ = ["default_cache_dir", "add_build_sft_parser", "run_build_sft", "add_best_of_n_parser", "run_best_of_n"]


def default_cache_dir() -> Path:
    """``$GROUNDCAP_CACHE/facts``, else ``~/.cache/groundcap/facts``."""
    return cache_dir("facts")


def add_build_sft_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the ``build-sft`` subcommand; it runs :func:`run_build_sft`."""
    p = subparsers.add_parser(
        "build-sft", help="Build fine-tuning data (facts prompt -> human caption) from captioned images.",
        description="Reads captions.jsonl, a Flickr8k captions.txt, an imagefolder metadata.jsonl or images "
                    "with .txt sidecars; extracts facts (cached); writes OUT/hf, OUT/<split>.jsonl and OUT/build.json.")
    p.add_argument("source", metavar="SOURCE", help="A captions file or a folder holding one (or image+.txt pairs).")
    p.add_argument("--out", required=True, metavar="DIR", help="Output folder.")
    p.add_argument("--references", choices=("each", "sample"), default="each",
                   help="Train rows built: one per reference caption (each, the default and the shipped adapter's "
                        "recipe) or one per image with all references (sample). Not train-llm's --references, "
                        "which decides how the built rows are drawn per epoch.")
    p.add_argument("--style", choices=("short", "detailed"), default="short", help="Caption style in the instruction.")
    p.add_argument("--context-labels", action="store_true", help="Put the classifier's context labels in the prompt.")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help=f"Facts cache (default: {default_cache_dir()}, or $GROUNDCAP_CACHE/facts).")
    p.add_argument("--no-cache", action="store_true", help="Extract every image; read and write no cache.")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="Use a seeded sample of N images.")
    p.add_argument("--seed", type=int, default=0, help="Seed of --limit and of the 'sample' reference pick.")
    retrieve = RetrieveConfig()  # the same defaults as captioning, whose prompts the model learns
    p.add_argument("--datastore", default=retrieve.datastore, metavar="NAME|DIR",
                   help="Caption datastore whose nearest photos' captions go into each prompt: embedded (default, "
                        "as captioning and the shipped adapter), none or a `groundcap datastore build` folder. "
                        "A photo never retrieves itself.")
    p.add_argument("--neighbours", type=int, default=retrieve.neighbours, metavar="K",
                   help=f"Neighbours shown in each prompt (default {retrieve.neighbours}, as captioning).")
    p.add_argument("--neighbour-pool", type=int, default=10, metavar="P",
                   help="Train prompts show K of the P nearest, drawn per row (validation/test: the K nearest).")
    p.add_argument("--images-dir", default=None, metavar="DIR", help="captions.txt: the images' folder.")
    p.add_argument("--split-file", default=None, metavar="FILE", help="captions.txt: 'file_name,split' lines.")
    add_config_flags(p, FactsConfig)
    p.set_defaults(func=run_build_sft)
    return p


def run_build_sft(args: argparse.Namespace) -> int:
    """Runs ``build-sft``; prints counts per split, cache hits and misses, and the time taken."""
    from groundcap.data.caption_sources import read_captioned, source_root, split_counts
    from groundcap.data.captioned import select
    from groundcap.data.facts_cache import FactsCache
    from groundcap.facts import FactsExtractor
    from groundcap.llm_finetune.sft_data import build_sft, save_sft

    start = time.perf_counter()
    try:
        items = read_captioned(args.source, images_dir=args.images_dir, split_file=args.split_file)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    items = select(items, "all", args.limit, args.seed)
    if not items:
        print(f"error: no captioned images in {args.source}", file=sys.stderr)
        return 2
    print(f"read {len(items)} images from {args.source}: {dict(sorted(split_counts(items).items()))}")
    config = config_from_args(FactsConfig, args)
    extractor = FactsExtractor(config)
    cache = None if args.no_cache else FactsCache(args.cache or default_cache_dir(), config)
    root = source_root(args.source)
    if not all(Path(os.path.abspath(it.path)).is_relative_to(root) for it in items):
        root = None  # images kept elsewhere (--images-dir): paths relative to their common folder
    from groundcap.datastore import open_datastore, resolve_datastore

    where = resolve_datastore(args.datastore)
    datastore = open_datastore(where, feature_cache="default") if where is not None else None
    dsd = build_sft(items, extractor, cache, references=args.references, style=args.style, seed=args.seed,
                    context_labels=args.context_labels, root=root, source=str(Path(args.source).resolve()),
                    datastore=datastore, neighbours=args.neighbours, neighbour_pool=args.neighbour_pool)
    build = save_sft(dsd, args.out)
    info, stats = dsd.build_info, dsd.build_stats
    for split in dsd:
        print(f"{split:>10}: {info['images'][split]:5d} images {build['rows'][split]:6d} rows")
    dropped = {k: v for k, v in info["dropped"].items() if v}
    if dropped:
        print(f"dropped images: {dropped}")
    for err in info["errors"]:
        print(f"  {err['image']}: {err['reason']}", file=sys.stderr)
    where = f" ({cache.dir})" if cache is not None else ""
    print(f"facts cache: {stats['cache_hits']} hits, {stats['cache_misses']} misses{where}")
    print(f"data_hash {build['data_hash'][:16]}  wrote {Path(args.out)}  in {time.perf_counter() - start:.1f} s")
    return 0


def add_best_of_n_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the ``best-of-n`` subcommand; it runs :func:`run_best_of_n`."""
    p = subparsers.add_parser(
        "best-of-n", help="Self-training data: the writer's best of N candidates per train photo as its target.",
        description="Samples N candidates for each train prompt of a build-sft output with the writer "
                    "(--adapter, default the shipped one), keeps the one with the best CIDEr-D against the "
                    "photo's references, and writes a build-sft-shaped folder to train on with "
                    "`groundcap train-llm OUT --init-adapter embedded`. Running it again resumes.")
    p.add_argument("data", metavar="SFT_DIR", help="Output folder of groundcap build-sft.")
    p.add_argument("--out", required=True, metavar="DIR", help="Output folder (a build-sft layout).")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="Only the first N train photos.")
    p.add_argument("--chunk", type=int, default=64, metavar="K",
                   help="Prompts per generator call and per append to OUT/candidates.jsonl (default 64).")
    add_config_flags(p, GenerateConfig)
    p.set_defaults(func=run_best_of_n)
    return p


def run_best_of_n(args: argparse.Namespace) -> int:
    """Runs ``best-of-n``; prints the mean CIDEr-D of the first and of the best candidate."""
    from groundcap.errors import ConfigError
    from groundcap.llm_finetune.best_of_n import best_of_n
    from groundcap.llm_finetune.generators import create_generator

    config = config_from_args(GenerateConfig, args)
    try:
        generator = create_generator(config)
        build = best_of_n(args.data, args.out, generator.generate, batch=args.chunk, limit=args.limit)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stats = build["best_of_n"]
    print(f"{stats['photos']} photos, {stats['candidates_per_photo']} candidates each: CIDEr-D of the first "
          f"{stats['first_cider']}, of the best {stats['best_cider']} (first kept {stats['first_kept']}); "
          f"wrote {Path(args.out)} in {stats['seconds']} s")
    return 0

"""The ``groundcap run`` subcommand (the batch runner is :mod:`groundcap.batch`)."""

from __future__ import annotations

import argparse
import sys

from groundcap.config import RunConfig
from groundcap.config_cli import add_config_flags, config_from_args

__all__ = ["add_run_parser"]


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="Caption a folder, manifest or dataset into training-ready outputs (resumable).",
        description="Captions every image of SOURCE into OUT: Parquet shards (one row per image, with its status), "
                    "WebDataset tars, open_clip's CSV, a Hugging Face dataset, an imagefolder or sidecar captions. "
                    "Stop it at any moment; the same command resumes where it stopped.")
    p.add_argument("source", metavar="SOURCE",
                   help="A folder of images (with optional IMAGE.txt prior captions), a manifest "
                        "(.csv/.tsv/.jsonl/.parquet with a path column), or a datasets save_to_disk folder.")
    p.add_argument("--out", required=True, metavar="DIR", help="Output folder.")
    p.add_argument("--overwrite", action="store_true", help="Remove the outputs of an earlier run in OUT first.")
    p.add_argument("--retry-failed", action="store_true", help="Also redo the images that failed before.")
    add_config_flags(p, RunConfig)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from groundcap.batch import run

    config = config_from_args(RunConfig, args)
    try:
        summary = run(args.source, args.out, config, overwrite=args.overwrite, retry_failed=args.retry_failed)
    except KeyboardInterrupt:
        print(f"\nstopped: the finished shards in {args.out} are kept; run the same command to resume",
              file=sys.stderr)
        return 130
    except OSError as e:  # a full or failing disk, an --out that cannot be created: say so, without a traceback
        print(f"error: {e} (writing {args.out}; the finished shards are kept: fix this and run the same command "
              "to resume)", file=sys.stderr)
        return 2
    print(summary.describe())
    return 0 if summary.counts.get("ok", 0) + summary.counts.get("fallback", 0) == sum(summary.counts.values()) else 1

"""``groundcap train-clip`` and ``groundcap eval retrieval``: training and measuring image-text models.

Registered in :mod:`groundcap.cli` with :func:`add_train_clip_parser` and
:func:`add_eval_retrieval_parser`; usable on their own too:

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> _ = add_train_clip_parser(parser.add_subparsers())
>>> args = parser.parse_args(["train-clip", "data/", "--out", "clip/", "--init", "scratch", "--epochs", "3"])
>>> args.split, args.func is run_train_clip
('train', True)
"""

from __future__ import annotations

import argparse
import json
import sys

from groundcap.config import IMAGE_TEXT, TrainClipConfig
from groundcap.config_cli import add_config_flags, config_from_args

__all__ = ["add_model_flags", "add_train_clip_parser", "run_train_clip", "add_eval_retrieval_parser", "run_eval_retrieval"]


def add_train_clip_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the ``train-clip`` subcommand; it runs :func:`run_train_clip`."""
    p = subparsers.add_parser(
        "train-clip", help="Train an image-text model (the embedded heads or an open_clip model) on captioned images.",
        description="Contrastive (CLIP) training on (image, caption) pairs from a captions source (one pair per "
                    "reference caption) or a `groundcap run` output folder (its ok captions). Writes the weights "
                    "and groundcap_clip.json (config, data hash, metrics, versions) to --out.")
    p.add_argument("source", metavar="SOURCE",
                   help="A captions file or folder (captions.jsonl, captions.txt, metadata.jsonl, image+.txt), "
                        "or a `groundcap run` output folder.")
    p.add_argument("--out", required=True, metavar="DIR", help="Output folder.")
    p.add_argument("--split", default="train",
                   help="Captions source: train on this split (default train; 'all' for every image).")
    add_config_flags(p, TrainClipConfig)
    p.set_defaults(func=run_train_clip)
    return p


def run_train_clip(args: argparse.Namespace) -> int:
    """Runs ``train-clip``; prints a JSON summary (the output folder, the data and the metrics)."""
    from pathlib import Path

    from groundcap.rerank.clip_pairs import read_pairs
    from groundcap.rerank.train_clip import train_clip

    config = config_from_args(TrainClipConfig, args)
    try:
        pairs = read_pairs(args.source, args.split)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not pairs:
        print(f"error: no (image, caption) pairs in {args.source} for split {args.split!r}", file=sys.stderr)
        return 2
    meta = train_clip(pairs, args.out, config, source=str(Path(args.source).resolve()))
    metrics = {k: v for k, v in meta["metrics"].items() if k != "epoch_losses"}
    print(json.dumps({"out": args.out, "model": meta["model"], "init_from": meta["init_from"],
                      "pairs": meta["data"]["pairs"], "images": meta["data"]["images"],
                      "data_hash": meta["data"]["data_hash"][:16], **metrics}))
    return 0


def add_model_flags(p: argparse.ArgumentParser, default: str | None, model_help: str) -> None:
    """``--model/--pretrained/--checkpoint/--device``: which image-text model a command uses.

    The flags of :class:`~groundcap.config.ImageTextConfig` (``IMAGE_TEXT`` gives their defaults);
    ``--pretrained`` and ``--checkpoint`` default to ``None``, which the model factory reads as its empty.
    """
    p.add_argument("--model", default=default, help=model_help)
    p.add_argument("--pretrained", default=None, help="open_clip weights of --model: a pretrained tag or a file.")
    p.add_argument("--checkpoint", default=None, metavar="DIR", help="A train-clip output folder.")
    p.add_argument("--device", default=IMAGE_TEXT.device, help="cpu, cuda or auto.")


def add_eval_retrieval_parser(eval_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds ``eval retrieval`` under ``groundcap eval``; it runs :func:`run_eval_retrieval`."""
    p = eval_subparsers.add_parser(
        "retrieval", help="Image<->text retrieval Recall@1/5/10 of an image-text model on captioned images.",
        description="Embeds every image and every reference caption; an image is a hit at K when any of its "
                    "captions is among the K nearest texts, a caption when its image is among the K nearest "
                    "images. Prints the model's row beside chance.")
    p.add_argument("source", metavar="SOURCE", help="A captions file or folder (captions.jsonl, captions.txt, ...).")
    p.add_argument("--split", default="test", help="Images of this split (default test; 'all' for every image).")
    add_model_flags(p, IMAGE_TEXT.model, "embedded, or an open_clip architecture (ViT-B-32, open_clip:RN50); "
                                   "default embedded.")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="Use a seeded sample of N images.")
    p.add_argument("--seed", type=int, default=0, help="Seed of --limit.")
    p.add_argument("--json", action="store_true", help="Print the results as JSON instead of a table.")
    p.set_defaults(func=run_eval_retrieval)
    return p


def run_eval_retrieval(args: argparse.Namespace) -> int:
    """Runs ``eval retrieval``; prints R@1/5/10 in both directions, beside chance."""
    from groundcap.data.caption_sources import read_captioned
    from groundcap.data.captioned import select
    from groundcap.eval.retrieval import evaluate_retrieval, retrieval_table
    from groundcap.rerank.models import create_image_text_model

    try:
        items = select(read_captioned(args.source), args.split, args.limit, args.seed)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    items = [it for it in items if it.captions]
    if len(items) < 2:
        print(f"error: need at least 2 captioned images in {args.source} for split {args.split!r}", file=sys.stderr)
        return 2
    model = create_image_text_model(args.model, pretrained=args.pretrained, checkpoint=args.checkpoint,
                                    device=args.device)
    result = evaluate_retrieval(model, items)
    if args.json:
        print(json.dumps({"source": args.source, "split": args.split, **result}))
        return 0
    print(f"{result['images']} images, {result['texts']} captions, split {args.split}, {result['seconds']:.1f} s")
    print(retrieval_table({"chance": result["chance"], result["model"]: result}))
    return 0

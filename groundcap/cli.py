"""The ``groundcap`` command: thin subcommands over the library.

Each subcommand parses its flags into config dataclasses, calls the library
and prints. ``main(argv)`` returns an exit code, so it can be called from
Python and tests as well as from the console script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from groundcap.config import CaptionConfig, FactsConfig, TrainLLMConfig
from groundcap.config_cli import add_config_flags, config_from_args
from groundcap.describe import describe_facts
from groundcap.errors import GroundcapError, ImageError
from groundcap.version import __version__

__all__ = ["main", "make_parser"]


def _facts_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("facts", help="Print the facts of one or more images.",
                       description="Detections, colors, relations and scene of each image, in English or JSON.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="Image files.")
    p.add_argument("--json", action="store_true", help="Print one JSON record per image (JSON lines).")
    p.add_argument("--context", action="store_true", help="Also print the classifier's context labels.")
    p.add_argument("-v", "--verbose", action="store_true", help="Print time per stage at the end.")
    add_config_flags(p, FactsConfig)
    p.set_defaults(func=_run_facts)


def _run_facts(args: argparse.Namespace) -> int:
    from groundcap.facts import FactsExtractor

    extractor = FactsExtractor(config_from_args(FactsConfig, args))

    def show(i: int, path: str, facts) -> None:
        if args.json:
            print(json.dumps({"image": path, "status": "ok", "facts": facts.to_dict()}, ensure_ascii=False))
            return
        if i:
            print()
        print(f"{path} ({facts.image.width}x{facts.image.height})")
        for line in describe_facts(facts, context=args.context).splitlines():
            print("  " + line)

    return _for_each_image(args, extractor.extract, show, extractor.timings)


def _for_each_image(args: argparse.Namespace, work: Callable, show: Callable, timings: dict[str, float]) -> int:
    """Runs ``work`` on each image; a bad image gets a status line and the rest go on."""
    failed = 0
    for i, path in enumerate(args.images):
        try:
            result = work(path)
        except ImageError as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
            if args.json:
                print(json.dumps({"image": path, "status": e.reason, "error": str(e)}))
            continue
        show(i, path, result)
    if args.verbose:
        n = max(1, len(args.images))
        parts = ", ".join(f"{k} {v * 1000 / n:.0f} ms" for k, v in timings.items())
        print(f"per image: {parts} (total {sum(timings.values()) * 1000 / n:.0f} ms)", file=sys.stderr)
    return 1 if failed else 0


def _caption_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="Caption one or more images with an LLM, grounded in their facts.",
                       description="Facts -> prompt -> N candidates -> ranking. Offline by default "
                                   "(SSD facts, the embedded SmolLM2).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="Image files (a sidecar IMAGE.txt is a prior caption).")
    p.add_argument("--json", action="store_true", help="Print one CaptionResult per image (JSON lines).")
    p.add_argument("--facts", dest="show_facts", action="store_true", help="Also print the facts.")
    p.add_argument("-v", "--verbose", action="store_true", help="Print time per stage at the end.")
    add_config_flags(p, CaptionConfig)
    p.set_defaults(func=_run_caption)


def _print_result(path: str, result, show_facts: bool) -> None:
    print(f"{path}: {result.caption}")
    if result.status != "ok":
        print(f"  status: {result.status} ({result.detail})")
    for i, c in enumerate(result.candidates, start=1):
        mark = "*" if i - 1 == result.chosen else " "
        scores = ", ".join(f"{k} {v:.2f}" for k, v in c.scores.items())
        text = c.text or f"({c.detail})"
        print(f"  {mark}{i}. [{c.status}{', ' + scores if scores else ''}] {text}")
        for claim in c.claims:
            sign = {"supported": "+", "contradicted": "x"}.get(claim.verdict, "?")
            print(f"       {sign} {claim.kind} {claim.text!r}: {claim.verdict}"
                  + (f" ({claim.evidence})" if claim.evidence else ""))
    if show_facts:
        for line in describe_facts(result.facts).splitlines():
            print("    " + line)


def _run_caption(args: argparse.Namespace) -> int:
    from groundcap.pipeline import Captioner

    captioner = Captioner(config_from_args(CaptionConfig, args))

    def show(i: int, path: str, result) -> None:
        if args.json:
            print(json.dumps({"image": path, **result.to_dict()}, ensure_ascii=False))
        else:
            _print_result(path, result, args.show_facts)

    return _for_each_image(args, captioner.caption, show, captioner.timings)


def _build_sft_parser(sub: argparse._SubParsersAction) -> None:
    from groundcap.llm_finetune.sft_cli import add_best_of_n_parser, add_build_sft_parser

    add_build_sft_parser(sub)
    add_best_of_n_parser(sub)


def _train_llm_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-llm", help="LoRA-tune the caption writer on a build-sft dataset.",
                       description="CPU: peft + trl on the embedded SmolLM2. GPU: --backend unsloth "
                                   "(CUDA only). Re-running the same command resumes from the last checkpoint.")
    p.add_argument("data", metavar="SFT_DIR", help="Output folder of groundcap build-sft.")
    p.add_argument("--out", required=True, metavar="DIR", help="Where the adapter and its checkpoints go.")
    add_config_flags(p, TrainLLMConfig)
    p.set_defaults(func=_run_train_llm)


def _run_train_llm(args: argparse.Namespace) -> int:
    from groundcap.llm_finetune.train import train_llm

    meta = train_llm(args.data, args.out, config_from_args(TrainLLMConfig, args))
    print(json.dumps({"adapter": args.out, **meta["metrics"]}))
    return 0


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="Measure groundcap against human captions.")
    esub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    f = esub.add_parser("facts", help="Agreement of the facts with reference captions, beside the seed baseline.")
    f.add_argument("data", metavar="DIR_OR_JSONL",
                   help="A folder holding captions.jsonl (like flickr8k-mini), or the .jsonl file itself.")
    f.add_argument("--split", default="all", help="Only images of this split (train, dev, test; default all).")
    f.add_argument("--limit", type=int, default=None, help="Score a seeded random sample of this many images.")
    f.add_argument("--seed", type=int, default=0, help="Seed for --limit.")
    f.add_argument("--no-baseline", action="store_true", help="Skip the seed baseline.")
    f.add_argument("--json", metavar="FILE", default=None, help="Also write the table as JSON here.")
    add_config_flags(f, FactsConfig)
    f.set_defaults(func=_run_eval_facts)
    _add_eval_captions(esub)
    from groundcap.eval.compare import add_compare_parser
    from groundcap.rerank.clip_cli import add_eval_retrieval_parser

    add_eval_retrieval_parser(esub)
    add_compare_parser(esub)


def _eval_items(args: argparse.Namespace, seed: int) -> list:
    """The captioned images an eval subcommand scores; says so on stderr when there are none."""
    from groundcap.data.captioned import read_captions_jsonl, select

    src = Path(args.data)
    items = select(read_captions_jsonl(src / "captions.jsonl" if src.is_dir() else src), args.split, args.limit, seed)
    if not items:
        print(f"error: no images in {src} for split {args.split!r}", file=sys.stderr)
    return items


def _add_eval_captions(esub: argparse._SubParsersAction) -> None:
    c = esub.add_parser("captions", help="Caption images that have references and score CIDEr-D, BLEU-4, "
                                         "METEOR, ROUGE-L and CHAIR.")
    c.add_argument("data", metavar="DIR_OR_JSONL", help="A folder holding captions.jsonl, or the file itself.")
    c.add_argument("--split", default="test", help="Images of this split (default test; 'all' for every image).")
    c.add_argument("--limit", type=int, default=None, help="Score a seeded random sample of this many images.")
    c.add_argument("--sample-seed", type=int, default=0, help="Seed for --limit.")
    c.add_argument("--human", action="store_true",
                   help="Score one human caption against the other four instead (the metric's noise floor).")
    c.add_argument("--no-meteor", action="store_true", help="Skip METEOR (it starts a Java process).")
    c.add_argument("--out", metavar="FILE.json", default=None,
                   help="Write predictions, every candidate with its scores, and the config here.")
    c.add_argument("--candidates", metavar="FILE.json", default=None,
                   help="Rank the candidates saved by an earlier --out again with this run's --rerank "
                        "settings instead of generating (same samples, different scorers).")
    c.add_argument("--name", default=None, help="Row name in the printed table.")
    c.add_argument("--no-progress", action="store_true", help="No progress bar (one is shown on stderr, "
                                                               "a line every 30 s when it is not a terminal).")
    add_config_flags(c, CaptionConfig)
    c.set_defaults(func=_run_eval_captions)


def _run_eval_captions(args: argparse.Namespace) -> int:
    from groundcap.config import to_dict
    from groundcap.eval.caption_eval import caption_items, score_items, write_predictions
    from groundcap.eval.caption_metrics import human_noise_floor, score_table

    items = _eval_items(args, args.sample_seed)
    if not items:
        return 2
    config = config_from_args(CaptionConfig, args)
    if args.human:
        scores = human_noise_floor({it.path.name: list(it.captions) for it in items}, seed=0,
                                   meteor=not args.no_meteor)
        name, results = args.name or "human (1 vs other 4)", {}
    else:
        from groundcap.pipeline import Captioner

        if args.candidates:
            from groundcap.eval.caption_eval import read_results, rerank_items

            # Nothing is generated: the template generator keeps the LLM unloaded.
            captioner = Captioner(dataclasses.replace(
                config, generate=dataclasses.replace(config.generate, generator="template")))
            results, errors = rerank_items(items, read_results(args.candidates), captioner), {}
        else:
            captioner = Captioner(config)
            results, errors = caption_items(items, captioner, batch_size=config.generate.batch_size,
                                            progress=not args.no_progress)
        for key, err in errors.items():
            print(f"error: {err}", file=sys.stderr)
        predictions = {k: r.caption for k, r in results.items()}
        scores = score_items(items, predictions, meteor=not args.no_meteor)
        name = args.name or f"{config.generate.generator}:{config.generate.model or 'default'}"
    print(f"{len(items)} images, split {args.split}")
    print(score_table({name: scores}))
    if args.out:
        write_predictions(args.out, results, {k: v for k, v in scores.items() if not isinstance(v, dict)},
                          to_dict(config))
    return 0


def _run_eval_facts(args: argparse.Namespace) -> int:
    from groundcap.eval.facts_agreement import evaluate_facts

    items = _eval_items(args, args.seed)
    if not items:
        return 2
    report = evaluate_facts(items, config_from_args(FactsConfig, args), baseline=not args.no_baseline,
                            progress=sys.stderr.isatty())
    print(f"{report.images} images, split {args.split}, {report.seconds:.0f} s")
    print(report.markdown())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 0


def _list_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="List the registered backends.")
    p.add_argument("what", choices=["detectors"])
    p.set_defaults(func=_run_list)


def _run_list(args: argparse.Namespace) -> int:
    from groundcap.detect import list_detectors

    for name in list_detectors():
        print(name)
    return 0


def _clip_parsers(sub: argparse._SubParsersAction) -> None:
    from groundcap.rerank.clip_cli import add_train_clip_parser
    from groundcap.rerank.index_cli import add_index_parser, add_search_parser

    add_train_clip_parser(sub)
    add_index_parser(sub)
    add_search_parser(sub)


def _datastore_parser(sub: argparse._SubParsersAction) -> None:
    from groundcap.datastore.cli import add_datastore_parser

    add_datastore_parser(sub)


def _doctor_parser(sub: argparse._SubParsersAction) -> None:
    from groundcap.doctor import add_doctor_parser

    add_doctor_parser(sub)


def _batch_parsers(sub: argparse._SubParsersAction) -> None:
    from groundcap.batch_cli import add_run_parser
    from groundcap.report import add_report_parser

    add_run_parser(sub)
    add_report_parser(sub)


_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _facts_parser, _caption_parser, _batch_parsers, _build_sft_parser, _train_llm_parser, _clip_parsers,
    _datastore_parser, _eval_parser, _list_parser, _doctor_parser)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="groundcap", description="Grounded image captions you can audit.")
    parser.add_argument("--version", action="version", version=f"groundcap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the exit code (0 ok, 1 some inputs failed, 2 usage or config error)."""
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except GroundcapError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

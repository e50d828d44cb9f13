"""The closed loop, measured: does CLIP learn more from reranked captions?

Given candidates an LLM wrote for images it was not tuned on (saved by
``groundcap eval captions --out``), this script

1. picks one caption per image four ways: (a) reranked by the configured
   scorers, (b) the first candidate (the greedy decode), (c) the template
   sentence from the facts, (d) a human caption (the upper bound);
2. scores each set against the images' human captions (CIDEr-D, CHAIR), to
   show what the image-text model is being fed;
3. fine-tunes the image-text model from the same start once per set and
   seed, and reports test retrieval R@1/5/10 as mean ± sd over the seeds.

The split file names the roles: ``train`` = the images the LLM and the
starting image-text model were tuned on, ``dev`` = the images whose
captions fine-tune it, ``test`` = held out from both.

Usage (the README shows the whole recipe):
    python experiments/closed_loop.py LOOP/clip/captions.jsonl --candidates gen-B.json \\
        --start LOOP/lit-A --out LOOP/results --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

KINDS = ("reranked", "first", "template", "human")
KS = ("i2t_R@1", "i2t_R@5", "i2t_R@10", "t2i_R@1", "t2i_R@5", "t2i_R@10")


def choose_captions(items, results, rerank_config, start: str) -> dict[str, dict[str, str]]:
    """One caption per image for each kind."""
    from groundcap.config import CaptionConfig, GenerateConfig
    from groundcap.eval.caption_eval import rerank_items
    from groundcap.llm_finetune.generators.template import template_caption
    from groundcap.pipeline import Captioner

    rc = dataclasses.replace(rerank_config, clip_checkpoint=rerank_config.clip_checkpoint or start)
    captioner = Captioner(CaptionConfig(generate=GenerateConfig(generator="template"), rerank=rc))
    reranked = rerank_items(items, results, captioner)
    out: dict[str, dict[str, str]] = {k: {} for k in KINDS}
    for it in items:
        key = it.path.name
        r = results[key]
        greedy = [c for c in r.candidates if c.greedy and c.usable]
        out["reranked"][key] = reranked[key].caption
        out["first"][key] = greedy[0].text if greedy else r.caption
        out["template"][key] = template_caption(r.facts)
        out["human"][key] = it.captions[0]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="captions.jsonl with splits train (LLM + start model), dev (loop), test (held out)")
    p.add_argument("--candidates", required=True, help="groundcap eval captions --out of the dev images")
    p.add_argument("--start", required=True, help="train-clip folder the fine-tunes start from")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--wise-ft", type=float, default=1.0)
    p.add_argument("--with-start-data", action="store_true",
                   help="add the start model's own training pairs (train split, human) to every set, "
                        "as when generated captions extend a training pool")
    p.add_argument("--scorers", default="grounding,clip,logprob")
    p.add_argument("--weights", default="1,0.1,0.1")
    args = p.parse_args(argv)

    from groundcap.config import RerankConfig, TrainClipConfig
    from groundcap.data.captioned import read_captions_jsonl, select
    from groundcap.eval.caption_eval import read_results, score_items
    from groundcap.eval.retrieval import evaluate_retrieval
    from groundcap.rerank.models import create_image_text_model
    from groundcap.rerank.train_clip import train_clip

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    all_items = read_captions_jsonl(args.data)
    loop_items, test_items = select(all_items, "dev"), select(all_items, "test")
    overlap = {it.path.name for it in loop_items} & {it.path.name for it in test_items}
    if overlap or not loop_items or not test_items:
        print(f"error: bad splits (loop {len(loop_items)}, test {len(test_items)}, overlap {len(overlap)})")
        return 2
    rerank = RerankConfig(scorers=tuple(args.scorers.split(",")),
                          weights=tuple(float(w) for w in args.weights.split(",")))
    captions = choose_captions(loop_items, read_results(args.candidates), rerank, args.start)
    (out / "captions.json").write_text(json.dumps(captions, indent=1, ensure_ascii=False) + "\n")

    quality = {k: score_items(loop_items, captions[k], meteor=False) for k in KINDS if k != "human"}
    # a human caption is one of its own references: score it against the other four instead
    others = [dataclasses.replace(it, captions=it.captions[1:]) for it in loop_items]
    quality["human"] = score_items(others, captions["human"], meteor=False)
    extra = [(it.path, c) for it in select(all_items, "train") for c in it.captions] if args.with_start_data else []
    before = evaluate_retrieval(create_image_text_model(checkpoint=args.start), test_items)
    runs: dict[str, list[dict]] = {k: [] for k in KINDS}
    by_name = {it.path.name: it.path for it in loop_items}
    for kind in KINDS:
        pairs = [(by_name[k], c) for k, c in captions[kind].items()] + extra
        for seed in args.seeds:
            cfg = TrainClipConfig(checkpoint=args.start, init="pretrained", epochs=args.epochs,
                                  learning_rate=args.learning_rate, wise_ft=args.wise_ft, seed=seed, device="cpu")
            ckpt = out / f"{kind}-seed{seed}"
            train_clip(pairs, ckpt, cfg, source=f"closed loop: {kind}")
            runs[kind].append(evaluate_retrieval(create_image_text_model(checkpoint=str(ckpt)), test_items))

    def cell(values):
        return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 \
            else f"{values[0]:.1f}"

    lines = [f"{len(loop_items)} loop images, {len(test_items)} test images, seeds {args.seeds}, "
             f"rerank {args.scorers} weights {args.weights}, epochs {args.epochs}, lr {args.learning_rate}, "
             f"wise-ft {args.wise_ft}, start data {'added' if extra else 'not added'}", "",
             "| captions CLIP is tuned on | CIDEr-D vs human | CHAIR_i | " + " | ".join(KS) + " |",
             "|---|---:|---:|" + "---:|" * len(KS),
             "| (before fine-tuning) | | | " + " | ".join(f"{before[k]:.1f}" for k in KS) + " |"]
    for kind in KINDS:
        q = quality[kind]
        lines.append(f"| {kind} | {q['CIDEr-D']:.1f} | {q['CHAIR_i']:.1f} | "
                     + " | ".join(cell([r[k] for r in runs[kind]]) for k in KS) + " |")
    table = "\n".join(lines)
    print(table)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps({"before": before, "runs": runs, "quality": quality,
                                                  "args": vars(args)}, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

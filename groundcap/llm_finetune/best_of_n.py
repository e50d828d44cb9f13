"""Best-of-N self-training data: the writer's own best caption per train photo becomes its target.

A light form of self-critical training (SCST-lite, or "expert iteration"):
the current writer samples ``n`` candidates for every train prompt of a
``build-sft`` output, each candidate is scored by CIDEr-D against that photo's
human references, and the best one replaces the human caption as the row's
``output``. Training on those rows (``groundcap train-llm --init-adapter``)
moves the writer toward the captions it can already write that people agree
with most, which the consensus ranking finds only part of the time.

The prompts are the build's own, so a photo never sees its own captions among
the retrieved ones (``build-sft`` excludes it). Validation and test rows are
copied unchanged: their loss stays comparable with the first adapter's.

Candidates are appended to ``OUT/candidates.jsonl`` as they are written, a
batch at a time; running the same command again skips the photos already
there, so a cut-off run loses at most one batch.

>>> row = {"instruction": "Write a caption.", "input": "Objects: dog_1."}
>>> p = row_prompt(row)
>>> p.text.endswith("### Response:\\n"), p.stop
(True, ('###',))
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from groundcap.records import Prompt

__all__ = ["row_prompt", "pick_best", "best_of_n"]

CANDIDATES_FILE = "candidates.jsonl"


def row_prompt(row: Mapping[str, Any]) -> Prompt:
    """The Alpaca prompt of one ``build-sft`` row, exactly as captioning renders it."""
    from groundcap.llm_finetune.prompt_templates import alpaca_text

    instruction, query = row["instruction"], row["input"]
    return Prompt((("user", f"{instruction}\n\n{query}"),), text=alpaca_text(instruction, query),
                  template="alpaca", stop=("###",))


def pick_best(candidates: Mapping[str, Sequence[str]], references: Mapping[str, Sequence[str]],
              ) -> dict[str, dict[str, Any]]:
    """Each image's candidate with the highest CIDEr-D against its references.

    All candidates of all images are scored in one corpus: copying an image's
    references once per candidate multiplies every document frequency and the
    corpus size by the same factor, so CIDEr-D's idf is the one of the image set.
    Ties go to the earlier candidate (the greedy one comes first).

    Returns:
        image → ``{"text", "index", "cider", "first_cider"}`` (first: candidate 0);
        images without a candidate are left out.
    """
    from groundcap.eval.caption_metrics import caption_metrics

    preds, refs = {}, {}
    for image, cands in candidates.items():
        for j, text in enumerate(cands):
            preds[f"{image}\t{j}"] = text
            refs[f"{image}\t{j}"] = list(references[image])
    if not preds:
        return {}
    scores = caption_metrics(preds, refs, meteor=False, per_image=True)["per_image"]
    out: dict[str, dict[str, Any]] = {}
    for image, cands in candidates.items():
        each = [scores[f"{image}\t{j}"]["CIDEr-D"] for j in range(len(cands))]
        if not each:
            continue
        best = max(range(len(each)), key=lambda j: (each[j], -j))
        out[image] = {"text": cands[best], "index": best, "cider": each[best], "first_cider": each[0]}
    return out


def _done(path: Path) -> dict[str, list[str]]:
    """Candidates already written (a torn last line from a cut-off run is ignored)."""
    done: dict[str, list[str]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[rec["image"]] = rec["candidates"]
    return done


def best_of_n(sft_dir: str | Path, out_dir: str | Path, generate: Callable[[list[Prompt]], list[list[Any]]], *,
              batch: int = 64, limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Writes a ``build-sft``-shaped folder whose train outputs are the best of the writer's candidates.

    Args:
        sft_dir: A ``build-sft`` output.
        out_dir: Where the new build goes (``hf/``, ``<split>.jsonl``, ``build.json``,
            ``candidates.jsonl``).
        generate: Prompts → candidates per prompt (``Generator.generate``); the
            texts of candidates with status ``ok`` are kept.
        batch: Prompts per call of ``generate`` (and per append to ``candidates.jsonl``).
        limit: Only the first ``limit`` train photos.
        progress: A tqdm bar on stderr.

    Returns:
        What was written to ``build.json``, whose ``best_of_n`` entry holds the
        mean CIDEr-D of the first candidate and of the best one over the train photos.
    """
    from datasets import Dataset, DatasetDict

    from groundcap.llm_finetune.sft_data import load_sft, save_sft

    dsd, build = load_sft(sft_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = list({r["image"]: r for r in reversed(list(dsd["train"]))}.values())[::-1]  # one row per photo
    rows = rows[:limit] if limit is not None else rows
    path = out / CANDIDATES_FILE
    done = _done(path)
    todo = [r for r in rows if r["image"] not in done]
    start = time.perf_counter()
    _write_candidates(path, todo, generate, batch, progress, done)
    cands = {r["image"]: done[r["image"]] for r in rows if done.get(r["image"])}
    best = pick_best(cands, {r["image"]: r["references"] for r in rows})
    train = [{**r, "output": best[r["image"]]["text"], "ref_index": -1} for r in rows if r["image"] in best]
    if not train:
        raise ValueError(f"no candidates were written for the {len(rows)} train photos of {sft_dir}")
    new = DatasetDict({"train": Dataset.from_list(train), **{k: v for k, v in dsd.items() if k != "train"}})
    picked = list(best.values())
    info = {**{k: v for k, v in build.items() if k not in ("rows", "data_hash", "groundcap_version")},
            "best_of_n": {"from": Path(sft_dir).name, "photos": len(train),
                          "candidates_per_photo": round(sum(len(c) for c in cands.values()) / len(cands), 2),
                          "first_cider": round(sum(p["first_cider"] for p in picked) / len(picked), 2),
                          "best_cider": round(sum(p["cider"] for p in picked) / len(picked), 2),
                          "first_kept": sum(p["index"] == 0 for p in picked),
                          "seconds": round(time.perf_counter() - start, 1)}}
    return save_sft(new, out, info=info)


def _write_candidates(path: Path, todo: Sequence[Mapping[str, Any]], generate: Callable, batch: int,
                      progress: bool, done: dict[str, list[str]]) -> None:
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="best-of-n", unit="photo")
    with path.open("a", encoding="utf-8") as fh:
        for chunk in _chunks(todo, batch):
            results = generate([row_prompt(r) for r in chunk])
            for r, cands in zip(chunk, results):
                texts = [c.text for c in cands if c.status == "ok" and c.text.strip()]
                done[r["image"]] = texts
                fh.write(json.dumps({"image": r["image"], "candidates": texts}, ensure_ascii=False) + "\n")
            fh.flush()
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]

"""``groundcap eval captions``: caption a set of images with references, then score it.

Works on any captions.jsonl (flickr8k-mini's or your own), with ``--split``,
``--limit`` and ``--seed`` to pick a reproducible held-out set. Images that
fail to decode are reported and left out of the scores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from groundcap.data import load_image
from groundcap.data.captioned import CaptionedImage
from groundcap.errors import ConfigError, ImageError
from groundcap.records import CaptionResult

__all__ = ["caption_items", "rerank_items", "read_results", "score_items", "write_predictions"]


def caption_items(items: Sequence[CaptionedImage], captioner: Any, *, batch_size: int = 8,
                  progress: bool = False) -> tuple[dict[str, CaptionResult], dict[str, str]]:
    """Captions each item; returns (id -> result, id -> error) with ids = image file names."""
    predictions: dict[str, CaptionResult] = {}
    errors: dict[str, str] = {}
    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        # In a log file (no terminal) a line every 30 s, not a redraw per image.
        bar = tqdm(total=len(items), unit="img", desc="captioning", file=sys.stderr,
                   mininterval=1.0 if sys.stderr.isatty() else 30.0)
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        good, arrays = [], []
        for it in batch:  # decode first, so one bad file does not sink its batch
            try:
                arrays.append(load_image(it.path)[0])
                good.append(it)
            except ImageError as e:
                errors[it.path.name] = str(e)
        # Decoded arrays go in, so nothing is decoded twice; and no sidecar priors:
        # the references must not leak into the prompt.
        for it, result in zip(good, captioner.caption_many(arrays, [""] * len(arrays))):
            predictions[it.path.name] = result
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return predictions, errors


def score_items(items: Sequence[CaptionedImage], predictions: dict[str, str], *, meteor: bool = True) -> dict[str, Any]:
    """CIDEr-D, BLEU-4, METEOR, ROUGE-L and CHAIR for the captioned items."""
    from groundcap.eval.caption_metrics import caption_metrics, chair

    refs = {it.path.name: list(it.captions) for it in items if it.path.name in predictions}
    scores = caption_metrics(predictions, refs, meteor=meteor)
    c = chair(predictions, refs)
    scores.update({"CHAIR_i": c["CHAIR_i"], "CHAIR_s": c["CHAIR_s"]})
    return scores


def rerank_items(items: Sequence[CaptionedImage], results: dict[str, CaptionResult], captioner: Any
                 ) -> dict[str, CaptionResult]:
    """Ranks saved candidates again with ``captioner``'s scorers (no generation).

    Comparing scorers on the same generations takes sampling noise out of
    the comparison.
    """
    missing = [it.path.name for it in items if it.path.name not in results]
    if missing:
        raise ConfigError(f"the saved results lack {len(missing)} of the images, e.g. {missing[0]}")
    out = {}
    for it in items:
        array = load_image(it.path)[0]
        out[it.path.name] = captioner.rerank([results[it.path.name]], [array])[0]
    return out


def read_results(path: str | Path) -> dict[str, CaptionResult]:
    """The per-image results saved by :func:`write_predictions`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if "results" not in data:
        raise ConfigError(f"{path} holds no candidates; write it with a newer `groundcap eval captions --out`")
    return {k: CaptionResult.from_dict(v) for k, v in data["results"].items()}


def write_predictions(path: str | Path, results: dict[str, CaptionResult], scores: dict[str, Any],
                      config: dict) -> None:
    """Predictions, every candidate, scores and the config side by side, so a row can be re-checked."""
    Path(path).write_text(json.dumps({
        "scores": scores, "config": config, "predictions": {k: r.caption for k, r in results.items()},
        "results": {k: r.to_dict() for k, r in results.items()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8")

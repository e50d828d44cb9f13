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
from groundcap.data.captions import CaptionedImage
from groundcap.errors import ImageError

__all__ = ["caption_items", "score_items"]


def caption_items(items: Sequence[CaptionedImage], captioner: Any, *, batch_size: int = 8,
                  progress: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """Captions each item; returns (id -> caption, id -> error) with ids = image file names."""
    predictions: dict[str, str] = {}
    errors: dict[str, str] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="img", desc="captioning")
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
            predictions[it.path.name] = result.caption
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return predictions, errors


def score_items(items: Sequence[CaptionedImage], predictions: dict[str, str], *, meteor: bool = True) -> dict[str, Any]:
    """CIDEr-D, BLEU-4, METEOR, ROUGE-L and CHAIR for the captioned items."""
    from groundcap.eval.captions import caption_metrics, chair

    refs = {it.path.name: list(it.captions) for it in items if it.path.name in predictions}
    scores = caption_metrics(predictions, refs, meteor=meteor)
    c = chair(predictions, refs)
    scores.update({"CHAIR_i": c["CHAIR_i"], "CHAIR_s": c["CHAIR_s"]})
    return scores


def write_predictions(path: str | Path, predictions: dict[str, str], scores: dict[str, Any], config: dict) -> None:
    """Predictions, scores and the config beside each other, so a row can be re-checked."""
    Path(path).write_text(json.dumps({"scores": scores, "config": config, "predictions": predictions,
                                      "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                     indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

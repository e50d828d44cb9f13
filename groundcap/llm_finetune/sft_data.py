"""Supervised fine-tuning data: (facts prompt, human caption) pairs as a ``datasets.DatasetDict``.

The prompts are made by the same helpers captioning uses
(:func:`~groundcap.llm_finetune.prompt_templates.alpaca_instruction`,
:func:`~groundcap.llm_finetune.prompt_templates.alpaca_input` and the ``chat``
template), so an adapter is trained on exactly the strings it will be asked
with. Every row has these columns:

* ``image``: the image path relative to the source root (POSIX separators);
* ``sha256``: the hash of the image file's bytes;
* ``instruction``, ``input``, ``output``: the Alpaca fields;
* ``messages``: the chat form, system and user from the ``chat`` template
  then the assistant's caption (``[{"role": ..., "content": ...}, ...]``);
* ``facts``: the :class:`~groundcap.records.Facts` as JSON, ``image.source``
  set to ``image`` so the data does not depend on where it was built;
* ``references``: every reference caption, as the source wrote it (for scoring);
* ``references_clean``: the same made training targets by :func:`clean_reference`
  (a caption that cleans to nothing is left out);
* ``ref_index``: which of ``references_clean`` ``output`` is.

Splits are ``train``, ``validation`` (Flickr's ``dev``) and ``test``, always
all three. Images of split ``none`` are dropped and counted, and so are images
whose facts fail and images without a usable caption. In train,
``references="each"`` gives one row per reference; ``"sample"`` gives one row
per image whose ``output`` is one reference picked by ``seed`` (the trainer may
draw another from ``references_clean`` each epoch). Validation and test always have
one row per image, ``output`` the first reference. Rows keep the order of the
input items, references in their own order.

>>> clean_reference("a dog runs on the beach , near water .")
'A dog runs on the beach, near water.'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from groundcap.config import config_hash, to_dict
from groundcap.data.atomic import atomic_file
from groundcap.data.caption_sources import normalize_split
from groundcap.data.captioned import CaptionedImage
from groundcap.errors import ConfigError, ImageError
from groundcap.llm_finetune.prompt_templates import alpaca_input, alpaca_instruction, load_template
from groundcap.records import Facts

__all__ = ["SPLITS", "REFERENCE_MODES", "clean_reference", "build_sft", "data_hash", "save_sft", "load_sft"]

#: The splits every built dataset has, in order.
SPLITS = ("train", "validation", "test")

#: How train references become rows.
REFERENCE_MODES = ("each", "sample")

_SPLIT_OF = {"train": "train", "dev": "validation", "test": "test"}
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
_MAX_LOGGED_ERRORS = 20


def clean_reference(text: str) -> str:
    """A human caption made into a training target; ``""`` when nothing is left.

    Flickr's `` .`` and `` ,`` lose their space, whitespace is collapsed, the
    first letter is capitalised and the caption ends with a full stop (unless
    it ends with ``!`` or ``?``).

    >>> clean_reference("  two dogs play in   the snow ")
    'Two dogs play in the snow.'
    """
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(str(text).split()))
    text = text.rstrip(" ,;:-")
    if not any(c.isalnum() for c in text):
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _features() -> Any:
    import datasets

    s = datasets.Value("string")
    return datasets.Features({
        "image": s, "sha256": s, "instruction": s, "input": s, "output": s,
        "messages": datasets.List({"role": s, "content": s}),
        "facts": s, "references": datasets.List(s), "references_clean": datasets.List(s),
        "ref_index": datasets.Value("int32"),
    })


def _relative(path: Path, root: Path) -> str:
    for p, r in ((Path(os.path.abspath(path)), Path(os.path.abspath(root))), (path.resolve(), root.resolve())):
        if p.is_relative_to(r):
            return p.relative_to(r).as_posix()
    raise ValueError(f"image {path} is not under the source root {root}")


def _facts_of(paths: Sequence[Path], extractor: Any, cache: Any) -> list[Facts | ImageError]:
    if cache is not None:
        return cache.facts_for(paths, extractor)
    out: list[Facts | ImageError] = []
    for p in paths:
        try:
            out.append(extractor.extract(str(p)))
        except ImageError as e:
            out.append(e)
    return out


def build_sft(items: Iterable[CaptionedImage], extractor: Any, cache: Any = None, *, references: str = "each",
              style: str = "short", seed: int = 0, context_labels: bool = False, root: str | Path | None = None,
              source: str | None = None, datastore: Any = None, neighbours: int = 5, neighbour_pool: int = 10
              ) -> Any:
    """Builds the SFT dataset of a captioned source.

    Args:
        items: Images with their reference captions and split (``train``,
            ``dev``/``validation``, ``test`` or ``none``).
        extractor: A :class:`~groundcap.facts.FactsExtractor`.
        cache: A :class:`~groundcap.data.facts_cache.FactsCache` for the
            extractor's config, or ``None`` to extract every image.
        references: ``"each"`` (a train row per reference) or ``"sample"``
            (a train row per image, all references kept).
        style: Caption style of the instruction, as in captioning (``short``).
        seed: Picks the ``output`` of ``"sample"`` train rows (per image, so
            independent of the order of items).
        context_labels: Put the classifier's labels in the prompt, as
            ``PromptConfig.context_labels`` does when captioning.
        root: What ``image`` paths are relative to; default the deepest
            folder holding every image.
        source: Recorded in ``build_info`` (the path the items came from).
        datastore: A :class:`~groundcap.datastore.Datastore` whose nearest
            photos' captions go into each prompt, as when captioning with
            one; ``None`` for prompts without retrieval. A photo never
            retrieves itself (its file name is excluded).
        neighbours: How many neighbours each prompt shows.
        neighbour_pool: Train rows show ``neighbours`` drawn (seeded, per
            row) from this many nearest, kept in similarity order, so the
            model learns to use them rather than copy the nearest one;
            validation and test rows show the nearest ``neighbours``, as
            captioning does.

    Returns:
        A ``datasets.DatasetDict`` with splits :data:`SPLITS`. Its
        ``build_info`` attribute (a dict, written to ``build.json`` by
        :func:`save_sft`) holds the counts and settings; ``build_stats`` holds
        this run's cache hits and misses.

    Raises:
        ValueError: for an unknown mode, style or split name, or an image
            outside ``root``.
    """
    import datasets

    if references not in REFERENCE_MODES:
        raise ValueError(f"references must be one of {', '.join(REFERENCE_MODES)}, got {references!r}")
    if datastore is not None and not 1 <= neighbours <= neighbour_pool:
        raise ValueError(f"need 1 <= neighbours ({neighbours}) <= neighbour_pool ({neighbour_pool})")
    instruction = alpaca_instruction(style)
    template = load_template("chat")
    items = list(items)
    kept, split_of = [], []
    dropped = {"no_split": 0, "image_error": 0, "no_reference": 0}
    for it in items:
        split = normalize_split(it.split, f"{it.path}: ")
        if split == "none":
            dropped["no_split"] += 1
        else:
            kept.append(it)
            split_of.append(_SPLIT_OF[split])
    if root is None:
        root = os.path.commonpath([os.path.abspath(it.path.parent) for it in kept]) if kept else "."
    root = Path(root)
    hits0, misses0 = (cache.hits, cache.misses) if cache is not None else (0, 0)
    all_facts = _facts_of([it.path for it in kept], extractor, cache)
    pools = _neighbour_pools(kept, all_facts, datastore, neighbour_pool) if datastore is not None else None
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    errors = []
    for index, (it, split, facts) in enumerate(zip(kept, split_of, all_facts)):
        rel = _relative(it.path, root)
        if isinstance(facts, ImageError):
            dropped["image_error"] += 1
            errors.append({"image": rel, "reason": facts.reason})
            continue
        refs = [c for c in (clean_reference(r) for r in it.captions) if c]
        if not refs:
            dropped["no_reference"] += 1
            continue
        facts = dataclasses.replace(facts, image=dataclasses.replace(facts.image, source=rel))
        if split != "train":
            picks = [0]
        elif references == "each":
            picks = list(range(len(refs)))
        else:
            picks = [random.Random(f"{seed}:{facts.image.sha256}").randrange(len(refs))]
        for k in picks:
            near: tuple = ()
            if pools is not None:
                pool = pools[index]
                near = pool[:neighbours] if split != "train" else tuple(
                    pool[i] for i in sorted(random.Random(f"{seed}:{facts.image.sha256}:{k}").sample(
                        range(len(pool)), min(neighbours, len(pool)))))
            base = {
                "image": rel,
                "sha256": facts.image.sha256,
                "instruction": instruction,
                "input": alpaca_input(facts, None, context_labels, near),
                "prompt": [{"role": r, "content": c} for r, c in
                           template.render(facts, style=style, context_labels=context_labels,
                                           neighbours=near).messages],
                "facts": json.dumps(facts.to_dict(), ensure_ascii=False),
                "references": [str(c) for c in it.captions],
                "references_clean": refs,
            }
            rows[split].append(_row(base, refs[k], k))
    features = _features()
    # from_dict by columns, because from_list cannot type an empty split
    dsd = datasets.DatasetDict({s: datasets.Dataset.from_dict({c: [r[c] for r in rows[s]] for c in features},
                                                              features=features) for s in SPLITS})
    dsd.build_info = {
        "source": source,
        "references": references,
        "style": style,
        "seed": seed,
        "context_labels": context_labels,
        "retrieval": None if datastore is None else {
            "datastore": datastore.path.name, "photos": len(datastore), "embedding": datastore.embedding_name,
            "neighbours": neighbours, "neighbour_pool": neighbour_pool},
        "facts_config": to_dict(extractor.config),
        "facts_config_hash": config_hash(extractor.config),
        "images": {s: len({r["image"] for r in rows[s]}) for s in SPLITS},
        "rows": {s: len(rows[s]) for s in SPLITS},
        "items_read": len(items),
        "dropped": dropped,
        "errors": errors[:_MAX_LOGGED_ERRORS],
    }
    dsd.build_stats = {"cache_hits": (cache.hits - hits0) if cache is not None else 0,
                       "cache_misses": (cache.misses - misses0) if cache is not None else len(kept)}
    return dsd


def _neighbour_pools(items: Sequence[CaptionedImage], all_facts: Sequence[Facts | ImageError], datastore: Any,
                     pool: int) -> list[tuple]:
    """The ``pool`` nearest datastore photos of each item, never the item itself (matched by file name)."""
    usable = [i for i, f in enumerate(all_facts) if not isinstance(f, ImageError)]
    out: list[tuple] = [() for _ in items]
    for start in range(0, len(usable), 256):
        chunk = usable[start:start + 256]
        vectors = datastore.embed([items[i].path for i in chunk])
        found = datastore.neighbours_of_vectors(vectors, pool, [[items[i].path.name] for i in chunk])
        for i, near in zip(chunk, found):
            out[i] = near
    return out


def _row(base: Mapping[str, Any], output: str, ref_index: int) -> dict[str, Any]:
    return {
        "image": base["image"], "sha256": base["sha256"], "instruction": base["instruction"],
        "input": base["input"], "output": output,
        "messages": [*base["prompt"], {"role": "assistant", "content": output}],
        "facts": base["facts"], "references": list(base["references"]),
        "references_clean": list(base["references_clean"]), "ref_index": ref_index,
    }


def data_hash(rows: Iterable[Mapping[str, Any]]) -> str:
    """sha256 over the ``(sha256, output)`` pairs of rows, in order: which data an adapter saw.

    Each pair is hashed as the JSON line ``["<sha256>", "<output>"]\\n``.
    """
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r["sha256"], r["output"]], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def save_sft(dsd: Any, out_dir: str | os.PathLike[str], *, info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Writes a built dataset: ``hf/`` (``save_to_disk``), ``<split>.jsonl`` and ``build.json``.

    ``build.json`` is ``info`` (default: the ``build_info`` :func:`build_sft`
    attached) plus ``rows`` per split and ``data_hash`` of the train split
    (see :func:`data_hash`). Nothing in it depends on the time or the cache,
    so the same inputs give the same file.

    Returns:
        What was written to ``build.json``.
    """
    from groundcap.version import __version__

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "hf").is_dir():
        shutil.rmtree(out / "hf")  # a split that vanished must not survive from an older build
    _save_quietly(dsd, out / "hf")
    for split, ds in dsd.items():
        with atomic_file(out / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for row in ds:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    train = dsd["train"] if "train" in dsd else []
    build = {
        **dict(info if info is not None else getattr(dsd, "build_info", {})),
        "rows": {split: len(ds) for split, ds in dsd.items()},
        "data_hash": data_hash({"sha256": s, "output": o} for s, o in
                               zip(train["sha256"], train["output"])) if len(train) else data_hash([]),
        "groundcap_version": __version__,
    }
    (out / "build.json").write_text(json.dumps(build, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return build


def load_sft(data_dir: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Reads a :func:`save_sft` folder back: ``(DatasetDict, build.json)``.

    Raises:
        ConfigError: when the folder is not a ``build-sft`` output.
    """
    data_dir = Path(data_dir)
    hf = data_dir / "hf"
    if not hf.is_dir():
        raise ConfigError(f"{data_dir} is not a build-sft output (no hf/ folder); run groundcap build-sft first")
    build = json.loads((data_dir / "build.json").read_text()) if (data_dir / "build.json").is_file() else {}
    return _load_splits(hf), build


def _load_splits(hf: Path) -> Any:
    """``load_from_disk`` per split: datasets 5 saves an empty split (Flickr8k-224 has no test) without a
    data file and then cannot load the whole dict back, so such a split is rebuilt empty from its features."""
    from datasets import Dataset, DatasetDict, Features, load_from_disk

    splits = json.loads((hf / "dataset_dict.json").read_text())["splits"]
    out = {}
    for split in splits:
        state = json.loads((hf / split / "state.json").read_text())
        if state.get("_data_files"):
            out[split] = load_from_disk(str(hf / split))
        else:
            features = Features.from_dict(json.loads((hf / split / "dataset_info.json").read_text())["features"])
            out[split] = Dataset.from_dict({name: [] for name in features}, features=features)
    return DatasetDict(out)


def _save_quietly(dsd: Any, path: Path) -> None:
    """``save_to_disk`` without its per-split progress bars, restoring the caller's setting."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        dsd.save_to_disk(str(path))
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()

"""Caption scores as papers report them: CIDEr-D, BLEU-4, METEOR, ROUGE-L and CHAIR.

The n-gram metrics are pycocoevalcap's, the standard COCO caption scorer,
run the way its ``COCOEvalCap`` runs them: both sides through the Stanford
PTBTokenizer (lower-cased, punctuation dropped), then ``Bleu(4)``,
``Meteor()``, ``Rouge()`` and ``Cider()``; every score is ×100.

Two Java programs are driven here rather than through pycocoevalcap's own
wrappers, with the same jars, options and parsing:

- its ``PTBTokenizer`` writes a temporary file next to its own module (inside
  site-packages), which fails when the package folder is read-only; here the
  sentences go through stdin and nothing is written anywhere;
- its ``Meteor`` reads the jar's answers with blocking ``readline`` and never
  drains stderr, so a stalled JVM or an answer out of step hangs the caller
  forever; here a reader thread and a deadline guard every answer.

Without ``java`` on PATH the captions go through :func:`_simple_ptb_tokenize`,
a small Python imitation of the PTB rules (``"tokenizer": "python"`` in the
result, and a warning), and METEOR is ``None``. METEOR is also ``None``, with a
warning, when its jar or paraphrase table is missing or the JVM fails.

CIDEr-D (pycocoevalcap's ``Cider``: clipped n-gram counts, Gaussian length
penalty, σ=6) takes its idf from the references of the evaluated set, so it is
only comparable between runs on the same images: the result carries
``n_images``. A set of one image scores 0 (every n-gram has idf 0).
"""

from __future__ import annotations

import math
import queue
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

from groundcap.text.vocab import mentioned_classes

__all__ = ["METRICS", "TABLE_COLUMNS", "caption_metrics", "chair", "human_noise_floor", "score_table"]

METRICS = ("CIDEr-D", "BLEU-4", "METEOR", "ROUGE-L")
TABLE_COLUMNS = METRICS + ("CHAIR_i", "CHAIR_s")

# Java reads a line per caption: any of these inside a caption would split it.
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")


def _coco() -> Any:
    try:
        import pycocoevalcap  # noqa: F401
    except ImportError:
        raise ImportError("caption metrics need pycocoevalcap: pip install 'pycocoevalcap>=1.2'") from None
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer import ptbtokenizer

    return Bleu, Cider, Rouge, ptbtokenizer


def _check_ids(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
               ) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    """Ids in reference order, one predicted caption each, reference lists.

    Raises:
        ValueError: for ids on one side only (named), an id without
            references, or a prediction that is not exactly one caption.
    """
    missing = [k for k in references if k not in predictions]
    extra = [k for k in predictions if k not in references]
    if missing or extra:
        def show(ids: list[str]) -> str:
            return ", ".join(map(repr, ids[:10])) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        parts = ([f"no prediction for {len(missing)} id(s): {show(missing)}"] if missing else []) + \
                ([f"no references for {len(extra)} id(s): {show(extra)}"] if extra else [])
        raise ValueError("prediction and reference ids differ: " + "; ".join(parts))
    if not references:
        raise ValueError("no captions to score")
    preds: dict[str, str] = {}
    refs: dict[str, list[str]] = {}
    for k, caps in references.items():
        p = predictions[k]
        if not isinstance(p, str):
            if isinstance(p, Sequence) and len(p) == 1 and isinstance(p[0], str):
                p = p[0]
            else:
                raise ValueError(f"prediction for {k!r} must be exactly one caption, got {p!r}")
        caps = [caps] if isinstance(caps, str) else [str(c) for c in caps]
        if not caps:
            raise ValueError(f"no reference captions for {k!r}")
        preds[k], refs[k] = p, caps
    return list(references), preds, refs


# --- tokenization ---------------------------------------------------------------------------------------------------

_SIMPLE_TOKEN = re.compile(r"[a-z0-9]+(?:[-'.&/][a-z0-9]+)*|'(?:s|re|ve|ll|d|m)(?![a-z])|\.\.\.|--|``|''|\S")
_CLITIC = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}


def _simple_ptb_tokenize(text: str, punctuation: frozenset[str]) -> str:
    """The PTB rules that matter for captions, in Python, for when Java is missing.

    Lower-cases; splits off punctuation and the clitics ``n't 's 're 've 'll
    'd 'm``; keeps hyphenated words, decimals and ``o'clock`` whole; writes
    brackets as ``-lrb-`` etc. (the Java tokenizer does, and pycocoevalcap's
    punctuation list only drops them upper-case); then drops the punctuation
    tokens and quote marks.

    >>> _simple_ptb_tokenize("A dog isn't on the t-shirt (blue)!", frozenset({"!"}))
    "a dog is n't on the t-shirt -lrb- blue -rrb-"
    """
    out = []
    for tok in _SIMPLE_TOKEN.findall(text.lower()):
        m = _CLITIC.match(tok)
        for part in (m.group(1), m.group(2)) if m else (tok,):
            part = _BRACKETS.get(part, part)
            if part not in punctuation and part not in {'"', "``", "''"}:
                out.append(part)
    return " ".join(out)


def _tokenize(sentences: list[str], java: str | None, timeout: float) -> tuple[list[str], str]:
    """PTB-tokenized sentences (pycocoevalcap's rules) and which tokenizer ran."""
    _, _, _, ptb = _coco()
    punctuation = frozenset(ptb.PUNCTUATIONS)
    jar = Path(ptb.__file__).parent / ptb.STANFORD_CORENLP_3_4_1_JAR
    if java is None or not jar.is_file():
        why = "java is not on PATH" if java is None else f"{jar} is missing"
        warnings.warn(f"{why}: captions tokenized by a Python imitation of PTBTokenizer; "
                      "scores may differ slightly from the standard ones", RuntimeWarning, stacklevel=3)
        return [_simple_ptb_tokenize(s, punctuation) for s in sentences], "python"
    text = "".join(_LINE_BREAKS.sub(" ", s) + "\n" for s in sentences)
    cmd = [java, "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer",
           "-encoding", "utf-8", "-preserveLines", "-lowerCase"]
    try:
        done = subprocess.run(cmd, input=text, capture_output=True, text=True, encoding="utf-8", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"PTBTokenizer took over {timeout:.0f} s on {len(sentences)} captions") from None
    lines = done.stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if done.returncode != 0 or len(lines) != len(sentences):
        raise RuntimeError(f"PTBTokenizer failed (exit {done.returncode}, {len(lines)} lines for "
                           f"{len(sentences)} captions): {done.stderr[-500:]}")
    return [" ".join(w for w in line.rstrip().split(" ") if w and w not in punctuation) for line in lines], "ptb"


# --- METEOR ---------------------------------------------------------------------------------------------------------

def _meteor_clean(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).replace("|||", "").replace("  ", " ")


def _meteor(java: str | None, hyps: list[str], refs: list[list[str]], timeout: float
            ) -> tuple[float, list[float]] | None:
    """Corpus METEOR 1.5 and per-caption scores, as pycocoevalcap's ``Meteor``.

    Returns ``None`` (with a warning) rather than raising or hanging when
    Java, the jar or its paraphrase table is missing, the JVM fails, or an
    answer takes longer than ``timeout`` seconds in all.
    """
    from pycocoevalcap.meteor import meteor as m

    jar = Path(m.__file__).parent / m.METEOR_JAR
    missing = [p for p in (jar, jar.parent / "data" / "paraphrase-en.gz") if not p.is_file()]
    if java is None or missing:
        warnings.warn(f"METEOR not computed: {'java is not on PATH' if java is None else f'missing {missing[0]}'}",
                      RuntimeWarning, stacklevel=3)
        return None
    lines = ["SCORE ||| " + " ||| ".join(_meteor_clean(r) for r in rs) + " ||| " + _meteor_clean(h)
             for h, rs in zip(hyps, refs)]
    cmd = [java, "-Xmx2G", "-Dfile.encoding=UTF-8", "-jar", str(jar), "-", "-", "-stdio", "-l", "en", "-norm"]
    answers: queue.Queue[str | None] = queue.Queue()
    deadline = time.monotonic() + timeout

    def take(n: int) -> list[str]:
        got = []
        for _ in range(n):
            line = answers.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise EOFError("METEOR exited early")
            got.append(line.strip())
        return got

    def feed(text: str, close: bool) -> None:
        def run() -> None:
            try:
                proc.stdin.write(text)  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                if close:
                    proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError, ValueError):
                pass  # the JVM died; take() reports it
        threading.Thread(target=run, daemon=True).start()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            answers.put(line)
        answers.put(None)

    # stderr to a file in the system temp dir, so a chatty JVM cannot fill a pipe and stall
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, text=True, encoding="utf-8")
        except OSError as e:
            warnings.warn(f"METEOR not computed: {e}", RuntimeWarning, stacklevel=3)
            return None
        try:
            threading.Thread(target=read, daemon=True).start()
            feed("".join(s + "\n" for s in lines), close=False)
            stats = take(len(lines))
            feed("EVAL ||| " + " ||| ".join(stats) + "\n", close=True)
            scores = [float(s) for s in take(len(lines) + 1)]
        except (queue.Empty, EOFError, ValueError) as e:
            proc.kill()
            proc.wait()
            err.seek(0)
            tail = err.read()[-500:].decode("utf-8", "replace")
            why = f"no answer within {timeout:.0f} s" if isinstance(e, queue.Empty) else str(e)
            warnings.warn(f"METEOR not computed: {why}. {tail}", RuntimeWarning, stacklevel=3)
            return None
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return scores[-1], scores[:-1]


# --- public API -----------------------------------------------------------------------------------------------------

def caption_metrics(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], *,
                    meteor: bool = True, per_image: bool = False, timeout: float = 300.0) -> dict[str, Any]:
    """CIDEr-D, BLEU-4, METEOR and ROUGE-L (×100) of one caption per image.

    Args:
        predictions: image id → the one generated caption (may be empty: it scores 0).
        references: image id → its human captions; the same ids as ``predictions``.
        meteor: ``False`` skips METEOR (the slow one: ~6 s of JVM start-up to
            load its paraphrase table) and reports it as ``None``.
        per_image: also return ``"per_image"``: id → that caption's scores
            (BLEU-4 per caption is pycocoevalcap's smoothed sentence BLEU).
        timeout: seconds allowed for each Java subprocess.

    Returns:
        ``{"CIDEr-D", "BLEU-4", "METEOR", "ROUGE-L"}`` (BLEU-4 and METEOR are
        corpus-level, CIDEr-D and ROUGE-L means over images; METEOR may be
        ``None``), ``"n_images"`` (CIDEr-D's idf depends on the set) and
        ``"tokenizer"``: ``"ptb"`` (Stanford, Java) or ``"python"`` (fallback).

    Raises:
        ValueError: naming the ids that appear on one side only, or when a
            prediction is not exactly one caption.
        RuntimeError: when Java is there but its PTBTokenizer fails.
    """
    Bleu, Cider, Rouge, _ = _coco()
    ids, preds, refs = _check_ids(predictions, references)
    java = shutil.which("java")
    flat = [preds[k] for k in ids] + [c for k in ids for c in refs[k]]
    toks, tokenizer = _tokenize(flat, java, timeout)
    res = {k: [toks[i]] for i, k in enumerate(ids)}
    gts, at = {}, len(ids)
    for k in ids:
        gts[k], at = toks[at:at + len(refs[k])], at + len(refs[k])

    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_each = Rouge().compute_score(gts, res)
    cider, cider_each = Cider().compute_score(gts, res)
    met = _meteor(java, [res[k][0] for k in ids], [gts[k] for k in ids], timeout) if meteor else None
    out: dict[str, Any] = {
        "CIDEr-D": 100 * float(cider), "BLEU-4": 100 * float(bleu[3]),
        "METEOR": None if met is None else 100 * met[0], "ROUGE-L": 100 * float(rouge),
        "n_images": len(ids), "tokenizer": tokenizer,
    }
    if per_image:
        out["per_image"] = {k: {"CIDEr-D": 100 * float(cider_each[i]), "BLEU-4": 100 * float(bleu_each[3][i]),
                                "METEOR": None if met is None else 100 * met[1][i],
                                "ROUGE-L": 100 * float(rouge_each[i])} for i, k in enumerate(ids)}
    return out


def chair(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """CHAIR (Rohrbach et al. 2018) against human captions instead of segmentations.

    An object is a COCO class that a caption names through the synonym table
    of :func:`groundcap.text.vocab.mentioned_classes` ("puppy" is a dog); it is
    hallucinated when none of the image's human captions names that class.
    Each class counts once per caption.

    Returns:
        ``CHAIR_i`` (hallucinated objects / objects named, ×100; 0 when no
        caption names one), ``CHAIR_s`` (captions with ≥1 hallucinated object
        / captions, ×100), the counts ``n_captions``, ``n_mentions``,
        ``n_hallucinated``, ``n_captions_hallucinated``, and
        ``hallucinated_by_class`` (label → count) and ``hallucinated`` (id →
        sorted labels, only ids with some).

    >>> r = chair({"a": "A puppy and a cat", "b": "A man"}, {"a": ["A dog ."], "b": ["A person ."]})
    >>> round(r["CHAIR_i"], 1), r["CHAIR_s"], r["hallucinated"]
    (33.3, 50.0, {'a': ['cat']})
    """
    ids, preds, refs = _check_ids(predictions, references)
    mentions = 0
    by_class: Counter[str] = Counter()
    wrong_by_id: dict[str, list[str]] = {}
    for k in ids:
        said = mentioned_classes(preds[k])
        seen = set().union(*(mentioned_classes(c) for c in refs[k]))
        mentions += len(said)
        if wrong := sorted(said - seen):
            wrong_by_id[k] = wrong
            by_class.update(wrong)
    hallucinated = sum(by_class.values())
    return {
        "CHAIR_i": 100 * hallucinated / mentions if mentions else 0.0,
        "CHAIR_s": 100 * len(wrong_by_id) / len(ids),
        "n_captions": len(ids), "n_mentions": mentions, "n_hallucinated": hallucinated,
        "n_captions_hallucinated": len(wrong_by_id),
        "hallucinated_by_class": dict(by_class.most_common()), "hallucinated": wrong_by_id,
    }


def human_noise_floor(references: Mapping[str, Sequence[str]], seed: int | None = 0, *,
                      meteor: bool = True, timeout: float = 300.0) -> dict[str, Any]:
    """Scores one held-out human caption per image against the image's other captions.

    What a person scores shows the metrics' own ceiling and noise. Note that
    the held-out caption meets one reference fewer than a model's caption
    does (4 instead of 5 on Flickr8k/COCO), which lowers BLEU and METEOR a
    little, so read it as a floor for "human-like", not an exact ceiling.

    Args:
        references: image id → its human captions (at least two each).
        seed: which caption is held out is drawn per image from
            ``random.Random(f"{seed}:{id}")``, so an image's choice does not
            depend on the other images in the set; ``None`` always holds out
            the first caption.
        meteor, timeout: as in :func:`caption_metrics`.

    Returns:
        :func:`caption_metrics`' keys, :func:`chair`'s keys, and ``held_out``:
        id → index of the caption scored.

    Raises:
        ValueError: naming images with fewer than two captions.
    """
    short = [k for k, caps in references.items() if isinstance(caps, str) or len(caps) < 2]
    if short:
        raise ValueError(f"{len(short)} image(s) have fewer than two captions: {short[:10]}")
    held = {k: 0 if seed is None else random.Random(f"{seed}:{k}").randrange(len(caps))
            for k, caps in references.items()}
    preds = {k: references[k][i] for k, i in held.items()}
    rest = {k: [c for j, c in enumerate(references[k]) if j != i] for k, i in held.items()}
    out = caption_metrics(preds, rest, meteor=meteor, timeout=timeout)
    out.update(chair(preds, rest))
    out["held_out"] = held
    return out


def score_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """A markdown table of scores, one row per named system, one decimal.

    Missing, ``None`` and non-numeric values print as "—".

    >>> print(score_table({"human": {"CIDEr-D": 85.04, "BLEU-4": 21.0, "CHAIR_i": 3.5}}))
    | name | CIDEr-D | BLEU-4 | METEOR | ROUGE-L | CHAIR_i | CHAIR_s |
    |---|---:|---:|---:|---:|---:|---:|
    | human | 85.0 | 21.0 | — | — | 3.5 | — |
    """
    def cell(v: Any) -> str:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return f"{v:.1f}" if ok else "—"

    lines = ["| name | " + " | ".join(TABLE_COLUMNS) + " |", "|---|" + "---:|" * len(TABLE_COLUMNS)]
    for name, scores in rows.items():
        lines.append(f"| {str(name).replace('|', '/')} | " + " | ".join(cell(scores.get(c)) for c in TABLE_COLUMNS) + " |")
    return "\n".join(lines)

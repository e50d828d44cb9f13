"""CIDEr-D between one caption and a few others, with the n-gram weights of a caption corpus.

The caption metric (Vedantam et al. 2015, the ``-D`` variant of the COCO
server: clipped n-gram counts and a Gaussian length penalty) as a
similarity the ranking can use: how well a candidate would score if the
given captions were its references. The n-gram weights (idf) come from a
corpus of captioned photos, one document per photo, as pycocoevalcap takes
them from the references of the set it scores; a caption datastore is such
a corpus.

>>> corpus = CiderCorpus([("a dog runs on the grass .", "a brown dog on grass ."),
...                       ("a man climbs a rock .", "a climber on a cliff ."),
...                       ("two dogs play in the snow .",)])
>>> refs = ["a dog running through the snow .", "a dog plays in snow ."]
>>> corpus.score("a dog plays in the snow", refs) > corpus.score("a dog runs on the grass", refs)
True
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

__all__ = ["CiderCorpus", "cider_words"]

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|'(?:s|re|ve|ll|d|m)(?![a-z])")
_CLITIC = re.compile(r"^(.+?)('s|'re|'ve|'ll|'d|'m)$")
MAX_N = 4
SIGMA = 6.0


def cider_words(text: str) -> tuple[str, ...]:
    """Lower-case words without punctuation, clitics split off, close to the PTB tokens the metric sees.

    >>> cider_words("A dog's ball, on the t-shirt!")
    ('a', 'dog', "'s", 'ball', 'on', 'the', 't-shirt')
    """
    out: list[str] = []
    for tok in _WORD.findall(text.lower()):
        m = _CLITIC.match(tok)
        out.extend((m.group(1), m.group(2)) if m else (tok,))
    return tuple(out)


def _ngrams(words: Sequence[str]) -> Counter:
    return Counter(tuple(words[i:i + n]) for n in range(1, MAX_N + 1) for i in range(len(words) - n + 1))


class _Vector:
    """One caption's tf-idf n-gram weights, per n, with their norms and the caption's length."""

    __slots__ = ("weights", "norms", "length")

    def __init__(self, counts: Counter, idf: dict, default_idf: float, words: int) -> None:
        self.weights: list[dict[tuple[str, ...], float]] = [{} for _ in range(MAX_N)]
        squares = [0.0] * MAX_N
        for gram, tf in counts.items():
            w = tf * idf.get(gram, default_idf)
            self.weights[len(gram) - 1][gram] = w
            squares[len(gram) - 1] += w * w
        self.norms = [math.sqrt(s) for s in squares]
        self.length = words


def _similarity(hyp: _Vector, ref: _Vector) -> float:
    """pycocoevalcap's CIDEr-D ``sim``: per n, clipped dot product over the norms, times the length penalty."""
    penalty = math.exp(-((hyp.length - ref.length) ** 2) / (2 * SIGMA ** 2))
    total = 0.0
    for n in range(MAX_N):
        if not hyp.norms[n] or not ref.norms[n]:
            continue
        rw = ref.weights[n]
        dot = sum(min(w, rw[g]) * rw[g] for g, w in hyp.weights[n].items() if g in rw)
        total += dot / (hyp.norms[n] * ref.norms[n])
    return total / MAX_N * penalty


class CiderCorpus:
    """The idf of a caption corpus, and CIDEr-D of a caption against references under it.

    Args:
        documents: One group of captions per photo (a photo's captions are
            one document, as in CIDEr). An empty (or one-photo) corpus weighs every n-gram alike.

    Scores are pycocoevalcap's per-image CIDEr-D (x10, before the x100 of
    reported tables): a caption that repeats a typical reference scores about 1-3.
    """

    def __init__(self, documents: Iterable[Sequence[str]]) -> None:
        df: Counter = Counter()
        count = 0
        for captions in documents:
            count += 1
            df.update({g for c in captions for g in _ngrams(cider_words(c))})
        self.documents = count
        # pycocoevalcap: weight = log(N) - log(max(1, df)); an n-gram the corpus never saw gets log(N).
        # One document would weigh all its n-grams 0: below two, every n-gram weighs 1.
        log_n = math.log(count) if count > 1 else 1.0
        self._idf = {g: log_n - math.log(max(1.0, float(d))) for g, d in df.items()} if count > 1 else {}
        self._default = log_n
        self._cache: dict[str, _Vector] = {}

    def __len__(self) -> int:
        return self.documents

    def vector(self, text: str) -> _Vector:
        """The caption's weights (memoised: neighbours' captions recur across photos)."""
        vec = self._cache.get(text)
        if vec is None:
            words = cider_words(text)
            vec = _Vector(_ngrams(words), self._idf, self._default, max(len(words) - 1, 0))
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[text] = vec
        return vec

    def score(self, candidate: str, references: Sequence[str]) -> float:
        """CIDEr-D of ``candidate`` against ``references`` (0 with none)."""
        if not references:
            return 0.0
        hyp = self.vector(candidate)
        return 10.0 * sum(_similarity(hyp, self.vector(r)) for r in references) / len(references)

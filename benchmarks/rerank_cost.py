"""Reranking against generation: what choosing the caption costs next to writing the candidates.

The default Captioner (embedded SmolLM2 with its adapter writing the default
N candidates; the grounding check, the embedded CLIP-style model and the
consensus ranking them) runs on real Flickr photos whose facts are measured
beforehand. Each repeat takes a fresh set of photos, so that the image
embedding cache never helps the reranker, and times, on that set:

* generation: ``Captioner.propose`` (prompts and the N candidates of each image);
* reranking: ``Captioner.decide`` on those candidates (claims extracted and
  checked against the facts, CLIP image and text embeddings, the combined score).

Target: reranking < 10% of generation.

Run: ``python -m benchmarks rerank`` (``--images N --repeats R``: N photos per repeat).
"""

from __future__ import annotations

import time

from benchmarks.common import Row, flickr_images, main_for


def run(n_images: int = 4, repeats: int = 3) -> list[Row]:
    from groundcap.data import load_image
    from groundcap.pipeline import Captioner

    captioner = Captioner()
    paths = flickr_images(n_images * (repeats + 1))
    sets = [paths[i * n_images:(i + 1) * n_images] for i in range(repeats + 1)]
    measured = []
    for batch in sets:
        arrays = [load_image(p)[0] for p in batch]
        measured.append((arrays, [captioner.extractor.extract(a) for a in arrays]))
    gen_s, rerank_s, candidates = [], [], 0
    for i, (arrays, facts) in enumerate(measured):
        t = time.perf_counter()
        proposals = captioner.propose(facts, [None] * len(facts))
        g = time.perf_counter() - t
        t = time.perf_counter()
        captioner.decide(arrays, facts, proposals)
        r = time.perf_counter() - t
        if i == 0:
            continue  # warm-up: lazy model loads and kernels
        gen_s.append(g)
        rerank_s.append(r)
        candidates += sum(len(p.candidates) for p in proposals)
    row = Row("rerank (grounding + clip + logprob) vs generation (N=5)", rerank_s, gen_s, target="< 0.10",
              note=f"{candidates} candidates over {n_images * repeats} images; "
                   f"scorers {', '.join(captioner.config.rerank.scorers)}")
    row.passed = row.ratio < 0.10
    return [row]


def main(argv: list[str] | None = None) -> int:
    return main_for("rerank", run, __doc__, argv, {"images": 4, "repeats": 3})


if __name__ == "__main__":
    raise SystemExit(main())

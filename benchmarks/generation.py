"""LLM generation cost: N=5 candidates against N=1, and tokens/s.

Both run the embedded SmolLM2 through groundcap's hf generator on the same
Alpaca prompts built from real Flickr facts. N=5 is one generate call (the
prompt is tokenized once; row 0 is the greedy decode, rows 1-4 samples).
Target: N=5 ≤ 2× N=1. Also reported: groundcap's N=1 against a bare
``model.generate`` on the same tokens (the wrapper's overhead).

Run: ``python -m benchmarks generation`` (``--images N --repeats R``).
"""

from __future__ import annotations


from benchmarks.common import Row, flickr_images, interleaved, main_for


def run(n_images: int = 8, repeats: int = 3, max_new_tokens: int = 32) -> list[Row]:
    import torch

    from groundcap.config import GenerateConfig
    from groundcap.facts import FactsExtractor
    from groundcap.llm_finetune.generators import create_generator
    from groundcap.llm_finetune.prompt_templates import load_template

    extractor = FactsExtractor()
    template = load_template("alpaca")
    prompts = [template.render(extractor.extract(p)) for p in flickr_images(n_images)]
    gen = create_generator(GenerateConfig(max_new_tokens=max_new_tokens, batch_size=1))
    tok, model = gen.tokenizer, gen.model
    rows = []

    def n5():
        gen.generate_raw(prompts, 5)

    def n1():
        gen.generate_raw(prompts, 1)

    o, r = interleaved(n5, n1, repeats)
    rows.append(Row("generate N=5 vs N=1 (hf, SmolLM2)", o, r, target="≤ 2×"))
    rows[-1].passed = rows[-1].ratio <= 2.0

    encoded = [tok(p.as_text(tok), return_tensors="pt") for p in prompts]

    def bare():
        with torch.inference_mode():
            for enc in encoded:
                model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                               stop_strings=["###"], tokenizer=tok)

    o, r = interleaved(n1, bare, repeats)
    rows.append(Row("generate N=1: groundcap vs bare model.generate", o, r, target="≤ 1.05×"))
    rows[-1].passed = rows[-1].ratio <= 1.05

    produced = sum(len(tok(c.text).input_ids) for cands in gen.generate_raw(prompts, 1) for c in cands)
    secs = min(r)
    rows.append(Row("greedy tokens/s (batch 1)", [produced / secs], [produced / secs], unit="tok/s",
                    note=f"{produced / secs:.1f} tokens/s, {produced} tokens over {len(prompts)} prompts"))
    return rows


def main(argv: list[str] | None = None) -> int:
    return main_for("generation", run, __doc__, argv, {"images": 8, "repeats": 3})


if __name__ == "__main__":
    raise SystemExit(main())

"""Offline batched generation with vLLM on a GPU (``pip install 'groundcap[gpu]'``).

vLLM is imported only here, and only when this backend is built. Without
vLLM or without CUDA, building it raises :class:`ModelLoadError` with a
message that says which is missing; nothing else in groundcap changes.
"""

from __future__ import annotations

import importlib.util
from typing import Sequence

from groundcap.config import GenerateConfig
from groundcap.errors import ModelLoadError
from groundcap.llm_finetune.generators.base import Completion, Generator
from groundcap.records import Facts, Prompt

__all__ = ["VLLMGenerator", "vllm_unavailable_reason"]


def vllm_unavailable_reason() -> str | None:
    """Why vLLM cannot run here, or ``None`` when it can."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'groundcap[gpu]' on a CUDA machine)"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "vLLM needs a CUDA GPU and none is visible"
    return None


class VLLMGenerator(Generator):
    """vLLM's ``LLM.generate`` with the greedy decode plus n-1 samples per prompt."""

    name = "vllm"

    def __init__(self, config: GenerateConfig | None = None) -> None:
        super().__init__(config)
        reason = vllm_unavailable_reason()
        if reason:
            raise ModelLoadError(f"the vllm generator cannot run: {reason}")
        from vllm import LLM

        from groundcap.llm_finetune.adapters import resolve_adapter
        from groundcap.llm_finetune.generators.hf import EMBEDDED_MODEL, embedded_model_dir

        model = self.config.model or EMBEDDED_MODEL
        path = str(embedded_model_dir()) if model == EMBEDDED_MODEL else model
        self.adapter = resolve_adapter(self.config.adapter, generator=self.name, model=self.config.model)
        self._llm = LLM(model=path, enable_lora=self.adapter is not None, seed=self.config.seed,
                        trust_remote_code=self.config.trust_remote_code)
        self._tokenizer = self._llm.get_tokenizer()

    @property
    def model_id(self) -> str:
        from groundcap.llm_finetune.adapters import adapter_label
        from groundcap.llm_finetune.generators.hf import EMBEDDED_MODEL

        return (self.config.model or EMBEDDED_MODEL) + adapter_label(self.adapter)

    def generate_raw(self, prompts: Sequence[Prompt], n: int, facts: Sequence[Facts] | None = None
                     ) -> list[list[Completion]]:
        from vllm import SamplingParams

        cfg = self.config
        texts = [p.as_text(self._tokenizer) for p in prompts]
        stops = sorted({s for p in prompts for s in p.stop}) or None
        lora = None
        if self.adapter is not None:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("adapter", 1, str(self.adapter))
        greedy = SamplingParams(n=1, temperature=0.0, max_tokens=cfg.max_new_tokens, logprobs=0, stop=stops)
        sampled = SamplingParams(n=max(0, n - 1) or 1, temperature=cfg.temperature, top_p=cfg.top_p,
                                 max_tokens=cfg.max_new_tokens, logprobs=0, stop=stops, seed=cfg.seed)
        g = self._llm.generate(texts, greedy, lora_request=lora, use_tqdm=False)
        s = self._llm.generate(texts, sampled, lora_request=lora, use_tqdm=False) if n > 1 else None
        out = []
        for i in range(len(prompts)):
            outs = [(o, True) for o in g[i].outputs] + ([(o, False) for o in s[i].outputs] if s else [])
            out.append([Completion(o.text, (o.cumulative_logprob / max(1, len(o.token_ids))
                                            if o.cumulative_logprob is not None else None), greedy=gr)
                        for o, gr in outs])
        return out

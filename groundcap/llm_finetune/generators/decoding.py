"""A lean decoding loop for the hf generator: one prefill per prompt, N rows after it.

``model.generate`` spends most of a CPU caption on work that a caption does
not need: a full-vocabulary sort and multinomial per sampled row and step
(SmolLM2 has 49,152 tokens), the logits of every step kept for the log-probs,
and rows that have finished still decoded until the longest one ends. This
loop keeps the same semantics (row 0 of each prompt greedy, the others sampled
with temperature and top-p from one seeded generator, a row ends at its end
token, at a stop string or once its sentence is settled) and does less:

- the prompt is prefilled once, then its key/value cache is repeated for the
  N rows (``Cache.batch_repeat_interleave``);
- the head that every prompt of the batch starts with (the template's header
  and instruction, about a third of a default prompt) is prefilled once for
  the whole batch, and each prompt's own tail after it (:func:`shared_head`);
  with a :class:`.prefill.HeadMemo`, a head is prefilled once for all later
  calls too, single prompts included;
- the tails are prefilled a few at a time in order of length, each group
  padded only to its own longest (:mod:`.prefill`), not all to the longest;
- top-p is exact but looks at the top :data:`TOP_K_FAST` tokens first: a row
  whose nucleus fits there (nearly all of them) never sorts the vocabulary;
- every row draws its own uniform number per step (inverse-CDF sampling), so
  a row's sample does not depend on which other rows are still in the batch;
- each chosen token's log-probability is taken from a log-sum-exp per step;
- finished rows leave the batch (``Cache.batch_select_indices``), so the cost
  of a step follows the rows still writing;
- the key/value cache is written into room kept ahead (:func:`roomy_cache`)
  instead of being concatenated, that is copied whole, at every step.

The samples are not the ones ``model.generate`` draws for the same seed (the
random numbers are consumed differently); row 0 is the same greedy decode.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from groundcap.llm_finetune.generators import shared_prefix
from groundcap.llm_finetune.generators.kv_cache import cache_argument, cache_of, positions_of, roomy_cache
from groundcap.llm_finetune.generators.prefill import HeadLayers, HeadMemo, head_layers, prefill

__all__ = ["DecodedRow", "decode", "shared_head", "positions_of", "roomy_cache", "cache_argument", "cache_of", "TOP_K_FAST",
           "MIN_SHARED_HEAD"]

#: Tokens a sampled row's nucleus is first looked for in; a wider nucleus falls back to a full sort.
TOP_K_FAST = 256
#: Compact the batch once this share of its rows has finished (each compaction copies the cache).
_COMPACT_SHARE = 0.25
#: Shortest common head (in tokens) worth a prefill of its own; shorter ones are prefilled with each prompt.
MIN_SHARED_HEAD = 16


@dataclass(frozen=True)
class DecodedRow:
    """One generated row: its new token ids (without the end token), mean log-prob, and whether it hit the limit."""

    ids: tuple[int, ...]
    logprob: float | None
    truncated: bool


def decode(model: Any, input_ids: Any, attention_mask: Any, *, n: int, max_new_tokens: int, temperature: float,
           top_p: float, seed: int, end_ids: Sequence[int], finished: Callable[[list[int]], bool] | None = None,
           share_head: bool = False, share_prompt: bool = True, prefill_group: int = 0,
           heads: HeadMemo | None = None) -> list[DecodedRow]:
    """Decodes ``n`` rows per left-padded prompt: row ``i*n`` greedy, the rest sampled.

    Args:
        model: A transformers causal LM in eval mode.
        input_ids: ``[prompts, length]`` left-padded token ids.
        attention_mask: Their mask.
        n: Rows per prompt.
        max_new_tokens: Longest answer.
        temperature: Sampling temperature of the sampled rows.
        top_p: Nucleus of the sampled rows.
        seed: Seeds the one generator all sampled rows draw from.
        end_ids: Tokens that end a row (not kept).
        finished: Called with a row's ids so far after each token; ``True`` ends the row there
            (a stop string came, or the sentence is settled).
        share_head: Prefill the tokens all prompts start with once for the batch (:func:`shared_head`).
        share_prompt: Decode a prompt's ``n`` rows against one copy of its keys and values
            (:mod:`.shared_prefix`) where the model supports it, instead of ``n`` copies.
        prefill_group: Prefill the prompts' tails this many at a time in order of length, each group
            padded only to its own longest (:func:`.prefill.prefill_grouped`); 0 prefills the batch at once.
        heads: With ``share_head``, the heads prefilled by earlier calls, reused and added to
            (:func:`_memo_head`); a single prompt's head is found there or against the previous one.

    Returns:
        ``prompts * n`` rows, prompt by prompt.
    """
    import torch

    device = input_ids.device
    prompts, _ = input_ids.shape
    rows = prompts * n
    gen = torch.Generator(device=device).manual_seed(seed)
    cache_arg = cache_argument(model)
    with torch.inference_mode():
        head_kv = None
        if share_head and heads is not None:
            head, head_kv = _memo_head(model, input_ids, attention_mask, heads, cache_arg)
        else:
            head = shared_head(input_ids, attention_mask) if share_head and prompts > 1 else 0
        logits, cache, attention_mask = prefill(model, input_ids, attention_mask,
                                                head=head if head >= MIN_SHARED_HEAD else 0,
                                                max_new_tokens=max_new_tokens, cache_arg=cache_arg,
                                                group=prefill_group, head_kv=head_kv)
        positions = positions_of(attention_mask)
        shared = None
        mask = None  # a shared cache holds the masks itself
        if n > 1 and share_prompt and shared_prefix.supports(model):
            cache = shared = shared_prefix.SharedPrefixCache.from_prefill(cache, attention_mask, n, max_new_tokens)
        else:
            if n > 1:
                cache.batch_repeat_interleave(n)
            mask = attention_mask.repeat_interleave(n, dim=0)
        if n > 1:
            logits = logits.repeat_interleave(n, dim=0)
        next_pos = positions[:, -1:].repeat_interleave(n, dim=0) + 1
        alive = torch.arange(rows, device=device)  # original row of each batch row
        greedy = (alive % n) == 0
        ends = torch.tensor(sorted(set(end_ids)), device=device)
        tokens: list[list[int]] = [[] for _ in range(rows)]
        logps: list[list[float]] = [[] for _ in range(rows)]
        done = [False] * rows
        truncated = [False] * rows
        steps = shared_prefix.active(model, shared) if shared is not None else contextlib.nullcontext()
        placeholder = torch.ones((1, 1, 1, 1), dtype=torch.bool, device=device)  # 4D: transformers passes it as is
        with steps:
            for step in range(max_new_tokens):
                uniform = torch.rand(rows, generator=gen, device=device)[alive]  # one per original row
                chosen = _choose(logits, greedy, temperature, top_p, uniform)
                lp = (logits.gather(1, chosen[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)).tolist()
                is_end = torch.isin(chosen, ends).tolist()
                rows_now = alive.tolist()
                for b, (row, tok) in enumerate(zip(rows_now, chosen.tolist())):
                    if done[row]:  # ended earlier, still in the batch until the next compaction
                        continue
                    if is_end[b]:
                        done[row] = True
                        continue
                    tokens[row].append(tok)
                    logps[row].append(lp[b])
                    if finished is not None and finished(tokens[row]):
                        done[row] = True
                    elif step == max_new_tokens - 1:
                        truncated[row] = True
                keep = [b for b, row in enumerate(rows_now) if not done[row]]
                if not keep or step == max_new_tokens - 1:
                    break
                if mask is not None:
                    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
                ids = chosen[:, None]
                if len(keep) <= (1 - _COMPACT_SHARE) * alive.numel():
                    idx = torch.tensor(keep, device=device)
                    cache.batch_select_indices(idx)
                    mask = mask[idx] if mask is not None else None
                    alive, greedy, next_pos, ids = alive[idx], greedy[idx], next_pos[idx], ids[idx]
                out = model(input_ids=ids, attention_mask=mask if mask is not None else placeholder,
                            position_ids=next_pos, use_cache=True, **{cache_arg: cache})
                cache = cache_of(out)
                logits = out.logits[:, -1].float()
                next_pos = next_pos + 1
    return [DecodedRow(tuple(tokens[r]), sum(logps[r]) / len(logps[r]) if logps[r] else None, truncated[r])
            for r in range(rows)]


def shared_head(input_ids: Any, attention_mask: Any) -> int:
    """Tokens that every left-padded prompt starts with, leaving each prompt at least one of its own.

    Example:
        >>> import torch
        >>> ids = torch.tensor([[0, 5, 6, 7], [5, 6, 8, 9]])
        >>> shared_head(ids, torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]]))
        2
    """
    lengths = attention_mask.long().sum(-1)
    shortest = int(lengths.min())
    if shortest < 2:
        return 0
    width = input_ids.shape[1]
    starts = (width - lengths).tolist()
    import torch

    heads = torch.stack([input_ids[b, s:s + shortest - 1] for b, s in enumerate(starts)])  # first tokens
    agree = (heads == heads[0]).all(0)
    return int(agree.long().cumprod(0).sum())


def _memo_head(model: Any, input_ids: Any, attention_mask: Any, heads: HeadMemo, cache_arg: str
               ) -> tuple[int, HeadLayers | None]:
    """The head to prefill the prompts after, and its keys and values where ``heads`` has them.

    A batch's head is what its prompts share (:func:`shared_head`), taken from
    ``heads`` or prefilled and kept there. A single prompt takes the longest
    head in ``heads`` it starts with; without one, the tokens it shares with
    the previous single prompt become a head, prefilled and kept.
    """
    real = int(attention_mask[0].sum())
    own = tuple(input_ids[0, input_ids.shape[1] - real:].tolist())  # the first prompt's tokens, without padding
    if input_ids.shape[0] > 1:
        head = shared_head(input_ids, attention_mask)
    else:
        found = heads.longest(own)
        last, heads.last = heads.last, own
        if found is not None:
            return len(found[0]), found[1]
        # what it shares with the previous one (element-wise), leaving it a token of its own
        head = 0 if last is None else len(os.path.commonprefix([last, own[:-1]]))
    if head < MIN_SHARED_HEAD:
        return 0, None
    key = own[:head]
    layers = heads.get(key)
    if layers is None:
        layers = head_layers(model, input_ids, attention_mask, head, cache_arg)
        heads.store(key, layers)
    return head, layers


def _choose(logits: Any, greedy: Any, temperature: float, top_p: float, uniform: Any) -> Any:
    """The next token of every row: argmax for greedy rows, a top-p sample (drawn with ``uniform``) for the others."""
    chosen = logits.argmax(dim=-1)
    sampled = (~greedy).nonzero().squeeze(1)
    if sampled.numel():
        chosen[sampled] = _sample_top_p(logits[sampled] / max(temperature, 1e-5), top_p, uniform[sampled])
    return chosen


def _sample_top_p(scaled: Any, top_p: float, uniform: Any) -> Any:
    """Exact nucleus sampling: the smallest set of top tokens whose probability reaches ``top_p``.

    As in transformers' ``TopPLogitsWarper``: a token is dropped when the
    probability of all tokens less likely than it (itself included) is at most
    ``1 - top_p``; the likeliest token always stays.
    """
    import torch

    probs = torch.softmax(scaled, dim=-1)
    k = min(TOP_K_FAST, probs.shape[-1])
    top, idx = probs.topk(k, dim=-1)  # descending
    covered = top.sum(-1) >= top_p
    if not bool(covered.all()):  # a flat distribution: sort the whole vocabulary for those rows
        top, idx = probs.sort(dim=-1, descending=True)
    # tail[j] = mass of tokens j.. (less likely than or as likely as j) = 1 - cumsum before j
    before = top.cumsum(-1) - top
    drop = (1 - before) <= (1 - top_p)
    drop[:, 0] = False
    top = top.masked_fill(drop, 0.0)
    cdf = top.cumsum(-1)
    cdf = cdf / cdf[:, -1:]
    pick = (cdf < uniform[:, None]).sum(-1).clamp(max=top.shape[-1] - 1)  # inverse CDF
    return idx.gather(1, pick[:, None]).squeeze(1)

"""The prefill of the lean decoding loop: a batch of left-padded prompts into one key/value cache.

Three ways, the same cache layout out (``head | pad | tail``, each prompt's
own tokens right-aligned, the mask saying which are real):

- whole: the batch in one forward, padded to its longest prompt;
- with a shared head: the tokens every prompt starts with once, then every
  tail against that cache (:func:`prefill_with_head`);
- grouped: the tails sorted by length and prefilled a few at a time, each
  group padded only to its own longest tail (:func:`prefill_grouped`). A
  batch's prompts vary in length (a photo with many objects has long facts),
  so one padded forward spends much of its work on padding: in a
  ``groundcap run`` batch of 16 real prompts the padded tails were 1.9x
  their real tokens.

Each prompt's logits and keys come from its own tokens only (padding is
masked), so the ways differ only in floating-point rounding.

A head's keys and values are the same in every call, so :class:`HeadMemo`
keeps the last few a generator prefilled: a later batch with the same head,
or a single prompt that starts with one, skips its forward. A single prompt
has no batch to share a head with; its head is the tokens it has in common
with the previous single prompt (the template's header and instruction, a
third of a default prompt), so from the third call of a loop over photos
on, each call prefills only its own tail.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from groundcap.llm_finetune.generators import kv_cache

__all__ = ["prefill", "HeadMemo"]

#: (keys, values) of every layer, ``[1, kv_heads, head, head_dim]`` each.
HeadLayers = list[tuple[Any, Any]]


class HeadMemo:
    """The keys and values of the prompt heads a generator prefilled last, by their token ids.

    Args:
        size: Heads kept (the least recently used is dropped first).
        max_tokens: Tokens kept over all heads, so that long prompts that happen to share much
            (the same photo twice) do not hold much memory; a longer head is used once, not kept.

    Example:
        >>> memo = HeadMemo(size=2)
        >>> memo.store((1, 2, 3), [("k", "v")])
        >>> memo.longest((1, 2, 3, 4))
        ((1, 2, 3), [('k', 'v')])
        >>> memo.longest((1, 2, 3)) is None  # a prompt keeps at least one token of its own
        True
        >>> memo.store((1, 2), [("k", "v")]); memo.store((5, 6), [("k", "v")])
        >>> len(memo), memo.longest((1, 2, 3, 4))[0]  # the oldest went first
        (2, (1, 2))
        >>> small = HeadMemo(max_tokens=2)
        >>> small.store((1, 2, 3), [])  # too long to keep
        >>> len(small)
        0
    """

    def __init__(self, size: int = 4, max_tokens: int = 1024) -> None:
        self.size, self.max_tokens = size, max_tokens
        self._heads: OrderedDict[tuple[int, ...], HeadLayers] = OrderedDict()
        #: The real token ids of the previous single prompt, which the next one's head is looked for in.
        self.last: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self._heads)

    def get(self, head: tuple[int, ...]) -> HeadLayers | None:
        layers = self._heads.get(head)
        if layers is not None:
            self._heads.move_to_end(head)
        return layers

    def store(self, head: tuple[int, ...], layers: HeadLayers) -> None:
        if len(head) > self.max_tokens:
            return
        self._heads[head] = layers
        self._heads.move_to_end(head)
        while len(self._heads) > self.size or sum(map(len, self._heads)) > self.max_tokens:
            self._heads.popitem(last=False)

    def longest(self, prompt: tuple[int, ...]) -> tuple[tuple[int, ...], HeadLayers] | None:
        """The longest kept head that ``prompt`` starts with and goes on past, or ``None``."""
        fits = [head for head in self._heads if len(prompt) > len(head) and prompt[:len(head)] == head]
        best = max(fits, key=len, default=None)
        return None if best is None else (best, self.get(best))


def prefill(model: Any, input_ids: Any, attention_mask: Any, *, head: int, max_new_tokens: int, cache_arg: str,
            group: int = 0, head_kv: HeadLayers | None = None) -> tuple[Any, Any, Any]:
    """Prefills left-padded prompts, leaving room for ``max_new_tokens``.

    Args:
        model: A transformers causal LM in eval mode.
        input_ids: ``[prompts, width]`` left-padded token ids.
        attention_mask: Their mask.
        head: Tokens every prompt starts with, to prefill once (0: none).
        max_new_tokens: Positions to keep free in the cache.
        cache_arg: The model's name for its cache argument (:func:`.kv_cache.cache_argument`).
        group: Prompts per tail prefill, sorted by length; 0, or a batch no larger, prefills them together
            (as does a transformers without pluggable cache layers).
        head_kv: The head's keys and values, prefilled before (:func:`head_layers`); ``None`` prefills it here.

    Returns:
        Float32 logits of each prompt's last token ``[prompts, vocab]``, the cache, and its attention mask.
    """
    prompts = input_ids.shape[0]
    if group and prompts > group and kv_cache.roomy_cache(0) is not None:  # needs transformers 5's cache layers
        return prefill_grouped(model, input_ids, attention_mask, head, max_new_tokens, cache_arg, group, head_kv)
    if head:
        out, attention_mask = prefill_with_head(model, input_ids, attention_mask, head, max_new_tokens, cache_arg,
                                                head_kv)
    else:
        roomy = kv_cache.roomy_cache(max_new_tokens)
        out = model(input_ids=input_ids, attention_mask=attention_mask,
                    position_ids=kv_cache.positions_of(attention_mask), use_cache=True, logits_to_keep=1,
                    **({cache_arg: roomy} if roomy is not None else {}))
    return out.logits[:, -1].float(), kv_cache.cache_of(out), attention_mask


def head_layers(model: Any, input_ids: Any, attention_mask: Any, head: int, cache_arg: str) -> HeadLayers:
    """The keys and values of the ``head`` tokens the prompts share, prefilled once for one row."""
    import torch

    first = int((attention_mask[0] == 0).sum())
    head_ids = input_ids[:1, first:first + head]
    out = model(input_ids=head_ids, attention_mask=torch.ones_like(head_ids),
                position_ids=torch.arange(head, device=input_ids.device)[None], use_cache=True, logits_to_keep=1,
                **({cache_arg: c} if (c := kv_cache.roomy_cache(0)) is not None else {}))
    return [(layer.keys, layer.values) for layer in kv_cache.cache_of(out).layers]


def _expanded(layers: HeadLayers, rows: int) -> HeadLayers:
    return [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers]


def _tails(input_ids: Any, attention_mask: Any, head: int, rows: list[int], width: int) -> tuple[Any, Any]:
    """The tails of ``rows`` after their head, right-aligned in ``width`` columns, and the mask of
    ``head | pad | tail`` (``head + width`` columns) that they are prefilled and decoded with."""
    lengths = attention_mask.long().sum(-1)
    tails = input_ids.new_full((len(rows), width), int(input_ids[0, 0]))
    mask = attention_mask.new_zeros((len(rows), head + width))
    mask[:, :head] = 1
    for i, b in enumerate(rows):
        own = int(lengths[b]) - head
        tails[i, width - own:] = input_ids[b, input_ids.shape[1] - own:]
        mask[i, head + width - own:] = 1
    return tails, mask


def prefill_with_head(model: Any, input_ids: Any, attention_mask: Any, head: int, max_new_tokens: int,
                      cache_arg: str, head_kv: HeadLayers | None = None) -> tuple[Any, Any]:
    """Prefills the ``head`` tokens all prompts share once, then every prompt's tail against that cache.

    The tails are left-padded after the head (``head | pad | tail``), so the
    mask keeps the batch's width and the positions count only real tokens:
    each row sees the keys and positions of its unshared prefill.

    Returns:
        The tails' forward output (logits of each prompt's last token, the
        batch's cache) and the attention mask of the new layout.
    """
    prompts, width = input_ids.shape
    tail_width = width - head  # the longest prompt's tail; shorter tails are padded on the left
    if head_kv is None:
        head_kv = head_layers(model, input_ids, attention_mask, head, cache_arg)
    cache = kv_cache.cache_of_layers(_expanded(head_kv, prompts), tail_width + max_new_tokens)  # copies the head
    tails, mask = _tails(input_ids, attention_mask, head, list(range(prompts)), tail_width)
    out = model(input_ids=tails, attention_mask=mask, position_ids=kv_cache.positions_of(mask)[:, head:],
                use_cache=True, logits_to_keep=1, **{cache_arg: cache})
    return out, mask


def prefill_grouped(model: Any, input_ids: Any, attention_mask: Any, head: int, max_new_tokens: int, cache_arg: str,
                    group: int, head_kv: HeadLayers | None = None) -> tuple[Any, Any, Any]:
    """Prefills the tails ``group`` at a time in order of length, then lays their keys out as one batch.

    Each group is padded only to its own longest tail. The keys and values
    are then copied into one cache of the batch's width, each prompt's
    right-aligned after the head, and the padding's positions left at zero
    (the mask hides them). Returns what :func:`prefill` returns.
    """
    import torch

    prompts = input_ids.shape[0]
    lengths = attention_mask.long().sum(-1).tolist()
    tail_width = max(lengths) - head
    if head and head_kv is None:
        head_kv = head_layers(model, input_ids, attention_mask, head, cache_arg)
    order = sorted(range(prompts), key=lambda b: lengths[b])
    layers: list[tuple[Any, Any]] = []
    logits = None
    for start in range(0, prompts, group):
        rows = order[start:start + group]
        width = max(lengths[b] for b in rows) - head
        tails, mask = _tails(input_ids, attention_mask, head, rows, width)
        extra = {}
        if head:
            extra[cache_arg] = kv_cache.cache_of_layers(_expanded(head_kv, len(rows)), width)
        out = model(input_ids=tails, attention_mask=mask, position_ids=kv_cache.positions_of(mask)[:, head:],
                    use_cache=True, logits_to_keep=1, **extra)
        last = out.logits[:, -1].float()
        if logits is None:
            logits = last.new_empty((prompts, last.shape[-1]))
        idx = torch.tensor(rows, device=input_ids.device)
        logits[idx] = last
        for i, layer in enumerate(kv_cache.cache_of(out).layers):
            k, v = layer.keys, layer.values
            if len(layers) <= i:
                _, heads, _, dim = k.shape
                layers.append(tuple(k.new_zeros((prompts, heads, head + tail_width, dim)) for _ in range(2)))
            for full, part in zip(layers[i], (k, v)):
                full[idx, :, :head] = part[:, :, :head]
                full[idx, :, head + tail_width - width:] = part[:, :, head:]
        del out
    _, mask = _tails(input_ids, attention_mask, head, list(range(prompts)), tail_width)
    return logits, kv_cache.cache_of_layers(layers, max_new_tokens), mask

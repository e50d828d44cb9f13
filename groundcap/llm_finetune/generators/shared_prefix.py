"""Decoding N rows per prompt against one copy of the prompt's keys and values.

After the prefill, the lean loop used to repeat each prompt's key/value
cache for its N rows (``Cache.batch_repeat_interleave``), so every decode
step read N copies of the same prompt, and each compaction of the batch
copied them all again. For a batch of 16 default prompts at N=5 that is 80
copies of about 230 positions (about 420 MB in bfloat16 for SmolLM2) read
at every step, and at N=16 three times as much, held in memory too.

:class:`SharedPrefixCache` keeps one copy of each prompt's keys and values
(in float32, so the attention is computed as exactly as SDPA's float32
accumulators do) and, per row, only the tokens that row wrote. The
attention (:func:`shared_prefix_attention`, registered with transformers'
``AttentionInterface``) scores every row's query against its prompt's
keys in one batched matmul per prompt, and against its own keys, with a
single softmax over both. The rows are the ones the repeated cache gives
(float32: the same tokens, tested); only the memory read per step changes.

It covers the decode steps of models whose attention is plain scaled
dot-product attention over all positions (:data:`MODEL_TYPES`); others keep
the repeated cache.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Any, Iterator

__all__ = ["SharedPrefixCache", "shared_prefix_attention", "supports", "active", "ATTENTION", "MODEL_TYPES"]

#: The name the attention is registered under in transformers' ``AttentionInterface``.
ATTENTION = "groundcap_shared_prefix"
#: Model types whose attention is softmax(q·k·scale)·v over every position, without sliding windows,
#: soft-capping or attention sinks, which is all :func:`shared_prefix_attention` computes.
MODEL_TYPES = frozenset({"llama"})

_ACTIVE: ContextVar[Any] = ContextVar("groundcap_shared_prefix_cache", default=None)
_REGISTERED = False


def supports(model: Any) -> bool:
    """Whether ``model``'s decode steps can run on a :class:`SharedPrefixCache`."""
    config = getattr(model, "config", None)
    return (getattr(config, "model_type", None) in MODEL_TYPES
            and getattr(config, "_attn_implementation", None) in ("sdpa", "eager", None))


class SharedPrefixCache:
    """The prompts' keys and values once, each row's own keys and values after them.

    Rows are prompt-major (rows ``g*n .. g*n+n-1`` belong to prompt ``g``).
    The model sees it as its cache: :meth:`update` stores the step's keys and
    values of the rows in the batch; :func:`shared_prefix_attention` reads them.

    Args:
        prefix: Per layer, ``(keys, values)`` of the prompts, ``[prompts, kv_heads, length, head_dim]``.
        prefix_mask: ``[prompts, length]``, true where a prompt has a real token (the rest is padding).
        n: Rows per prompt.
        room: Positions kept for each row's own tokens (the longest answer).
    """

    def __init__(self, prefix: list[tuple[Any, Any]], prefix_mask: Any, n: int, room: int) -> None:
        import torch

        self.prefix = [(k.float(), v.float()) for k, v in prefix]
        prompts = prefix_mask.shape[0]
        self.n, self.prompts, self.room = n, prompts, room
        self.slots = torch.arange(prompts * n, device=prefix_mask.device)  # the original row of each batch row
        # additive mask of the prompts' padding, one row per prompt: 0 where attended, -inf where not
        self.prefix_bias = torch.zeros(prefix_mask.shape, dtype=torch.float32, device=prefix_mask.device)
        self.prefix_bias.masked_fill_(~prefix_mask.bool(), float("-inf"))
        self.own: list[list[Any] | None] = [None] * len(prefix)
        self.filled = [0] * len(prefix)

    @classmethod
    def from_prefill(cls, cache: Any, attention_mask: Any, n: int, room: int) -> "SharedPrefixCache":
        """From the cache a prefill of the prompts returned (one entry per prompt) and its attention mask."""
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        return cls(layers, attention_mask, n, room)

    @property
    def groups(self) -> Any:
        """The prompt of each row in the batch."""
        return self.slots // self.n

    def update(self, key_states: Any, value_states: Any, layer_idx: int, *args: Any, **kwargs: Any
               ) -> tuple[Any, Any]:
        """Stores the step's keys and values of the batch's rows for ``layer_idx``; returns them as given."""
        step = key_states.shape[-2]
        own = self.own[layer_idx]
        filled = self.filled[layer_idx]
        if own is None or filled + step > own[0].shape[-2]:
            rows, heads, _, dim = key_states.shape
            grown = [key_states.new_empty((rows, heads, filled + step + self.room, dim), dtype=self._dtype)
                     for _ in range(2)]
            if own is not None and filled:
                for new, old in zip(grown, own):
                    new[:, :, :filled] = old[:, :, :filled]
            own = self.own[layer_idx] = grown
        own[0][:, :, filled:filled + step] = key_states
        own[1][:, :, filled:filled + step] = value_states
        self.filled[layer_idx] = filled + step
        return key_states, value_states

    @property
    def _dtype(self) -> Any:
        return self.prefix[0][0].dtype

    def batch_select_indices(self, indices: Any) -> None:
        """Keeps only the batch rows at ``indices`` (in order), as ``Cache.batch_select_indices`` does."""
        self.slots = self.slots[indices]
        self.own = [None if own is None else [t[indices] for t in own] for own in self.own]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.prefix[layer_idx][0].shape[-2] + self.filled[layer_idx]


def shared_prefix_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                            scaling: float | None = None, dropout: float = 0.0, **kwargs: Any
                            ) -> tuple[Any, None]:
    """Attention of one decode step on the active :class:`SharedPrefixCache` (transformers' signature).

    ``key`` and ``value`` (the step's own) are already in the cache, and
    ``attention_mask`` is a placeholder: the masks are the cache's.

    Returns:
        ``([rows, 1, heads, head_dim], None)``, as transformers' SDPA attention returns.
    """
    import torch

    cache: SharedPrefixCache = _ACTIVE.get()
    if cache is None:
        raise RuntimeError("shared_prefix_attention runs only inside decoding.decode's shared-prefix steps")
    layer = module.layer_idx
    rows, heads, q_len, dim = query.shape
    if q_len != 1:
        raise ValueError(f"the shared-prefix attention decodes one token per row, got {q_len}")
    pk, pv = cache.prefix[layer]
    prompts, kv_heads, length, _ = pk.shape
    rep, n = heads // kv_heads, cache.n
    scale = dim ** -0.5 if scaling is None else scaling
    q = query.to(pk.dtype).reshape(rows, kv_heads, rep, dim) * scale
    slots = cache.slots

    # the prompt's part: every row's query in its prompt's slot, one matmul per prompt and key/value head
    dense = q.new_zeros((prompts * n, kv_heads, rep, dim))
    dense[slots] = q
    dense = dense.view(prompts, n, kv_heads, rep, dim).transpose(1, 2).reshape(prompts, kv_heads, n * rep, dim)
    on_prompt = (dense @ pk.transpose(-1, -2)).view(prompts, kv_heads, n, rep, length).transpose(1, 2)
    on_prompt = on_prompt.reshape(prompts * n, kv_heads, rep, length)[slots]
    on_prompt = on_prompt + cache.prefix_bias[cache.groups][:, None, None, :]
    # the row's own part: the tokens it wrote, this step's included
    filled = cache.filled[layer]
    ok, ov = (t[:, :, :filled] for t in cache.own[layer])
    on_own = q @ ok.transpose(-1, -2)  # [rows, kv_heads, rep, filled]
    probs = torch.softmax(torch.cat([on_prompt, on_own], dim=-1), dim=-1)
    p_prompt, p_own = probs.split([length, filled], dim=-1)

    spread = p_prompt.new_zeros((prompts * n, kv_heads, rep, length))
    spread[slots] = p_prompt
    spread = spread.view(prompts, n, kv_heads, rep, length).transpose(1, 2).reshape(prompts, kv_heads, n * rep,
                                                                                   length)
    out = (spread @ pv).view(prompts, kv_heads, n, rep, dim).transpose(1, 2).reshape(prompts * n, kv_heads, rep,
                                                                                    dim)[slots]
    out = out + p_own @ ov
    return out.reshape(rows, 1, heads, dim).to(query.dtype), None


@contextlib.contextmanager
def active(model: Any, cache: SharedPrefixCache) -> Iterator[None]:
    """Runs the model's attention on ``cache`` inside the block (this thread and context only for the cache).

    The model's ``config._attn_implementation`` is switched for the block and
    restored after it, so the same model must not run forwards in another
    thread meanwhile (the generator runs in one thread).
    """
    _register()
    token = _ACTIVE.set(cache)
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = ATTENTION
    try:
        yield
    finally:
        config._attn_implementation = before
        _ACTIVE.reset(token)


def _register() -> None:
    global _REGISTERED
    if not _REGISTERED:
        from transformers import AttentionInterface

        AttentionInterface.register(ATTENTION, shared_prefix_attention)
        _REGISTERED = True

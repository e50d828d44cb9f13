"""Key/value caches for the lean decoding loop: room kept ahead, and the names transformers gives them.

transformers' ``DynamicLayer`` appends with ``torch.cat``, so every decode
step copies the whole cache; :func:`roomy_cache` writes into room kept ahead
instead. :func:`cache_argument` and :func:`cache_of` read the cache under the
name of the installed transformers (``cache`` in 5, ``past_key_values`` in 4).
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["positions_of", "roomy_cache", "cache_of_layers", "cache_argument", "cache_of"]


def positions_of(attention_mask: Any) -> Any:
    """Position ids that count only a row's real tokens (padding, left or within, takes its neighbour's)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def roomy_cache(headroom: int) -> Any:
    """A transformers cache whose layers write new keys into room kept ahead, or ``None`` where unsupported.

    transformers' ``DynamicLayer`` appends with ``torch.cat``, so every step
    copies the whole cache (for 80 rows of a 250-token prompt, about 460 MB
    in bfloat16). This layer allocates ``headroom`` more positions when it
    is filled or first written and then writes in place, exposing views of
    the filled part. It needs transformers 5's pluggable cache layers; with
    an older transformers the model's own cache is used.
    """
    try:
        from transformers.cache_utils import Cache, DynamicLayer
        cache = Cache(layer_class_to_replicate=_roomy_layer(DynamicLayer, headroom))
    except (ImportError, TypeError):
        return None
    return cache


def _roomy_layer(base: type, headroom: int) -> type:
    class RoomyLayer(base):  # type: ignore[misc, valid-type]
        """A ``DynamicLayer`` that keeps ``headroom`` free positions instead of concatenating per step."""

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self._room = None
                self._filled = 0
            k = key_states.shape[-2]
            if self._room is None or self._filled + k > self._room[0].shape[-2]:
                b, h, _, d = key_states.shape
                size = (b, h, self._filled + k + headroom, d)
                room = (key_states.new_empty(size), value_states.new_empty(size))
                if self._filled:
                    for new, old in zip(room, self._room):
                        new[:, :, :self._filled] = old[:, :, :self._filled]
                self._room = room
            self._room[0][:, :, self._filled:self._filled + k] = key_states
            self._room[1][:, :, self._filled:self._filled + k] = value_states
            self._filled += k
            return self._expose()

        def _expose(self) -> tuple[Any, Any]:
            self.keys, self.values = (r[:, :, :self._filled] for r in self._room)
            return self.keys, self.values

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.is_initialized and self._filled:
                self._room = tuple(r.repeat_interleave(repeats, dim=0) for r in self._room)
                self._expose()

        def batch_select_indices(self, indices: Any) -> None:
            if self.is_initialized and self._filled:
                self._room = tuple(r[indices] for r in self._room)
                self._expose()

        def crop(self, tokens_to_remove: int) -> None:
            if self.is_initialized and self._filled and tokens_to_remove < 0:
                self._filled = max(0, self._filled + tokens_to_remove)
                self._expose()
            else:
                super().crop(tokens_to_remove)

        def reset(self) -> None:
            self._room, self._filled = None, 0
            super().reset()

    return RoomyLayer


def cache_argument(model: Any) -> str:
    """transformers 5 calls the key/value cache ``cache``; 4.x called it ``past_key_values``."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model's own forward
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


def cache_of(out: Any) -> Any:
    """The key/value cache a forward returned, under either name."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def cache_of_layers(layers: Sequence[tuple[Any, Any]], headroom: int) -> Any:
    """A cache holding the given ``(keys, values)`` of each layer, with ``headroom`` positions kept ahead.

    Example:
        >>> import torch
        >>> cache = cache_of_layers([(torch.zeros(2, 1, 3, 4), torch.zeros(2, 1, 3, 4))], headroom=8)
        >>> cache.get_seq_length()
        3
    """
    cache = roomy_cache(headroom)
    if cache is None:
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=[(k, v) for k, v in layers])
    for i, (k, v) in enumerate(layers):
        cache.update(k, v, i)
    return cache

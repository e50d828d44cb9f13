"""The C heap of a long run: large blocks mapped from the OS, so resident memory stays flat.

glibc's ``malloc`` serves a block above its mmap threshold with a fresh
mapping and unmaps it on ``free``; below, it carves the block from the heap,
whose freed holes it keeps. The threshold is adaptive: every freed mapped
block raises it to that block's size (up to 32 MB on 64-bit). A caption run
frees and allocates key/value caches and activations of a few MB whose sizes
follow each batch's prompt lengths, so after the first batches they all come
from the heap, every new size that fits no hole grows it, and the peak
resident memory creeps up with the number of batches seen (docs/performance.md).
A fixed threshold (``mallopt(M_MMAP_THRESHOLD)``, which also switches the
adaptation off) gives each such block back on ``free``.

Example:
    >>> from groundcap.engines.heap import map_large_blocks
    >>> map_large_blocks(0.0)  # 0 leaves glibc's adaptive threshold alone
    False
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

__all__ = ["map_large_blocks"]

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_MAX_MB = 32.0  # glibc ignores thresholds above HEAP_MAX/2 (32 MB on 64-bit)


def map_large_blocks(threshold_mb: float) -> bool:
    """Sets glibc's mmap threshold to ``threshold_mb`` for this process.

    A no-op (returning False) for 0, off Linux, and where the C library is
    not glibc. The setting is process-wide and lasts until changed.

    Args:
        threshold_mb: Blocks at least this large (MB) are mapped and unmapped
            on their own; 0 keeps glibc's default.

    Returns:
        Whether the threshold was set.

    Raises:
        ValueError: For a threshold below 0 or above 32 MB.
    """
    if not 0.0 <= threshold_mb <= _MAX_MB:
        raise ValueError(f"the mmap threshold must be between 0 and {_MAX_MB:g} MB, got {threshold_mb:g}")
    if threshold_mb == 0.0 or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = mallopt(_M_MMAP_THRESHOLD, int(threshold_mb * 2**20)) == 1
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused %g MB", threshold_mb)
    return done

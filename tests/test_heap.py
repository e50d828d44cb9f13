"""The run's heap setting: glibc's mmap threshold, set once per process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from groundcap.config import OutputConfig
from groundcap.engines.heap import map_large_blocks
from groundcap.errors import ConfigError


def test_zero_leaves_the_heap_alone_and_bad_values_are_refused():
    assert map_large_blocks(0.0) is False
    with pytest.raises(ValueError, match="between 0 and 32"):
        map_large_blocks(64.0)
    with pytest.raises(ConfigError, match="heap_mmap_mb"):
        OutputConfig(heap_mmap_mb=-1.0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_a_freed_large_block_goes_back_to_the_os():
    # In a fresh process: with glibc's adaptive threshold, a freed 16 MB block raises the threshold, so
    # 8 MB blocks come from the heap and stay resident once freed; with a 1 MB threshold each goes back.
    code = """
import ctypes, sys
from groundcap.engines.heap import map_large_blocks
if sys.argv[1] == "1":
    assert map_large_blocks(1.0)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
size = 8 << 20
libc.free(libc.malloc(2 * size))  # mapped either way; freeing it raises glibc's adaptive threshold above size
blocks = []
for i in range(4):
    p = libc.malloc(size + i * 4096)
    ctypes.memset(p, 1, size)
    blocks.append(p)
for p in blocks[:3]:
    libc.free(p)  # the last block pins the heap's top: heap blocks below it cannot be trimmed
print(rss())
"""
    def resident(flag):
        out = subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    adaptive, mapped = resident("0"), resident("1")
    assert adaptive - mapped > 16 * 1024  # KB: the three freed 8 MB blocks stayed resident only without it

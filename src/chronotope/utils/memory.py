"""Freed memory goes back to the OS at once, so a streamed pass stays at the size of a chunk.

glibc's malloc serves a large block with its own mmap, returned on free, but raises that
threshold (up to 32 MB) each time such a block is freed; after that, blocks of a few MB come
from the heap, whose freed space is kept and fragments. A streamed VAE pass allocates and frees
blocks of every size chunk after chunk, and its resident memory crept up with the clip's length
(a 256 px clip: +47 MB from 33 to 289 frames) though nothing was held. A fixed threshold of 1 MB
keeps it flat (+0 MB), at the cost of a page fault per large allocation, small beside the
convolutions that fill it. Only entry points call `return_freed_memory` (it is a process-wide
setting); elsewhere (other C libraries) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 1 << 20


@functools.cache
def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold at 1 MB; True where it took effect (glibc), else False."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError, TypeError):
        return False

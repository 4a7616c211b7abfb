"""Allocator settings for the long-running server (issue 3: 2,000 idle TLS connections < 200 MB).

uvloop gives every TLS connection a 256 KiB read buffer and the ``ssl`` module allocates a 256 KiB
bytes object for every read. glibc serves such blocks with ``mmap`` (only the pages written become
resident) until the first one is freed; from then on its *dynamic* mmap threshold rises above
256 KiB and the blocks come from the heap, where freed and reused pages stay resident: about
22 KB more per idle connection. Fixing the threshold at glibc's own default (128 KiB) keeps the
first behaviour for the whole life of the process. The cost: every TLS read's 256 KiB scratch
block is an ``mmap``/``munmap`` too (measured: ~25% more CPU reading bulk TLS input, ~10% fewer
messages/s in ``bench/smtp_ingest.py``); ``MALLOC_MMAP_THRESHOLD_=1048576`` chooses the other way.

``mss serve`` and ``mss demo`` call :func:`tune_allocator` before the event loop starts. An
administrator who sets ``MALLOC_MMAP_THRESHOLD_`` (or any ``MALLOC_*`` tunable of glibc) in the
environment keeps their own choice; on a C library other than glibc nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's default, made fixed (setting it disables the dynamic one)


def tune_allocator() -> bool:
    """Fix glibc's mmap threshold; True when it was set here."""
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False  # the administrator's tunables win (see ``man 3 mallopt``)
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    log.debug("malloc mmap threshold fixed=%s bytes=%d", done, MMAP_THRESHOLD)
    return done

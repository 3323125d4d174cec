"""Hand freed heap back to the system after each answer.

A long-running app answers from several threads; glibc gives each thread's allocations an arena and keeps what they
free for reuse, so resident memory climbs although nothing stays alive (benchmarks/soak.py, 30 minutes of 4 threads:
first and last quarter 2.02 / 2.67 GB without this, 1.62 / 1.59 GB with it). `malloc_trim(0)` returns those free
pages. It walks the heap, so it runs at most once every `INTERVAL_S` seconds, after an answer, never during one.
Elsewhere than glibc it is a no-op."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time

INTERVAL_S = 20.0

_lock = threading.Lock()
_last = 0.0
_trim = None


def _malloc_trim():
    global _trim
    if _trim is None:
        try:
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to hand back this way
            _trim = False
    return _trim


def release_freed(force: bool = False) -> bool:
    """Return freed heap pages to the system if `INTERVAL_S` passed since the last time (or `force`). True if
    it trimmed."""
    global _last
    trim = _malloc_trim()
    if not trim:
        return False
    with _lock:
        now = time.monotonic()
        if not force and now - _last < INTERVAL_S:
            return False
        _last = now
    trim(0)
    return True

"""Optional per-thread cProfile of a node process (``fcl node start --profile DIR``).

cProfile sees one thread only, and the node does its heavy work on several (the event
loop, the application thread, the sign-state thread). When profiling is on, each of
them calls :func:`profile_this_thread` when it starts; :func:`dump` (at exit, after the
worker threads have stopped) writes one ``pstats`` file per thread into the directory,
``<pid>-<thread name>.prof``. ``python -m pstats`` or :func:`summarise` read them. Times
are each thread's CPU time (``time.thread_time``), so waiting and being descheduled by
other processes do not count.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import threading
import time
from pathlib import Path

__all__ = ["dump", "enabled", "profile_this_thread", "set_directory", "summarise"]

_directory: Path | None = None
_profiles: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


def set_directory(directory: str | Path | None) -> None:
    global _directory
    _directory = None if directory is None else Path(directory)
    if _directory is not None:
        _directory.mkdir(parents=True, exist_ok=True)


def enabled() -> bool:
    return _directory is not None


def profile_this_thread(name: str | None = None) -> None:
    """Start profiling the calling thread (no-op unless a directory is set)."""
    if _directory is None:
        return
    profile = cProfile.Profile(time.thread_time)  # CPU time of this thread, not wall time
    with _lock:
        _profiles.append((name or threading.current_thread().name, profile))
    profile.enable()


def dump() -> list[Path]:
    """Write every thread's profile; call once the profiled worker threads are idle."""
    if _directory is None:
        return []
    out = []
    with _lock:
        items = list(_profiles)
        _profiles.clear()
    for name, profile in items:
        profile.disable()
        path = _directory / f"{os.getpid()}-{name}.prof"
        profile.dump_stats(str(path))
        out.append(path)
    return out


def summarise(paths: list[Path] | list[str], top: int = 25, sort: str = "tottime") -> str:
    """The ``top`` functions of the merged profiles, as ``pstats`` prints them."""
    stream = io.StringIO()
    stats = pstats.Stats(*[str(p) for p in paths], stream=stream)
    stats.sort_stats(sort).print_stats(top)
    return stream.getvalue()

"""Side-by-side timing: ours and a peer on identical inputs, in one process, alternating runs.

Each benchmark is a function returning a :class:`Pair`: two zero-argument callables (ours, peer), a check
that their results agree, and a description of the input. :func:`measure` runs warm-up calls, then
alternates A B A B ... and reports the median of each and the median of the per-pair ratios, so a
machine that speeds up or slows down during the run affects both sides alike.

A benchmark against a time budget instead of a peer (``peer=None``, ``target_s`` set) times ours only;
its ratio is target / our time (above 1: within the budget).
"""

from __future__ import annotations

import gc
import platform
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Pair:
    name: str
    inputs: str
    ours: Callable[[], Any]
    peer: Callable[[], Any] | None
    peer_name: str
    check: Callable[[Any, Any], str]
    notes: list[str] = field(default_factory=list)
    target_s: float | None = None
    max_runs: int | None = None  # cap on timed runs (a peer taking minutes per call)


@dataclass
class Measurement:
    name: str
    inputs: str
    peer_name: str
    ours_s: float
    peer_s: float
    ratio: float
    agreement: str
    runs: int
    notes: list[str]
    target_s: float | None = None


def _timed(fn):
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure(pair: Pair, runs: int = 5, warmup: int = 1) -> Measurement:
    """Median wall time of ours and the peer, and the median of the per-run ratios peer / ours.

    Without a peer: median of ours, and ratio = ``target_s`` / that median.
    """
    if pair.peer is None and pair.target_s is None:
        raise ValueError(f"{pair.name}: a benchmark needs a peer or a target time")
    ours_result = peer_result = None
    for _ in range(warmup):
        _, ours_result = _timed(pair.ours)
        if pair.peer is not None:
            _, peer_result = _timed(pair.peer)
    agreement = pair.check(ours_result, peer_result)
    if pair.max_runs is not None:
        runs = max(1, min(runs, pair.max_runs))
    ours_t, peer_t = [], []
    for _ in range(runs):
        t, _ = _timed(pair.ours)
        ours_t.append(t)
        if pair.peer is not None:
            t, _ = _timed(pair.peer)
            peer_t.append(t)
    ours_med = statistics.median(ours_t)
    if pair.peer is None:
        peer_med, ratio = float("nan"), pair.target_s / ours_med
    else:
        peer_med = statistics.median(peer_t)
        ratio = statistics.median([p / o for o, p in zip(ours_t, peer_t)])
    return Measurement(
        pair.name, pair.inputs, pair.peer_name, ours_med, peer_med, ratio, agreement, runs, pair.notes, pair.target_s,
    )


def machine_description() -> str:
    import os

    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; Python {platform.python_version()}"

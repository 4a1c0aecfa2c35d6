"""How many worker threads csceval uses (one policy for the estimators and the records panel).

Kept apart from ``csceval.did`` so that code which only needs the policy does not import the estimators.
"""

from __future__ import annotations

import os

__all__ = ["MAX_THREADS", "worker_threads"]

#: Never more threads than this, whatever the machine.
MAX_THREADS = 4


def worker_threads() -> int:
    """Threads csceval may use for large independent blocks of work (bootstrap draws, row sorts, read-ahead).

    ``OMP_NUM_THREADS`` when it is set (the workflow sets 1: its jobs already run side by side), else
    the CPUs this process may run on; at most :data:`MAX_THREADS`. numpy, scipy and pyarrow release
    the GIL in these blocks, and the threads wait rather than spin, so a busy machine costs little.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return min(int(env), MAX_THREADS)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, MAX_THREADS))

"""Helpers shared by the CPU benchmarks of converted models (dtln_benchmark.py, dfn3_benchmark.py).

    cpu = bench_util.pin_to_one_cpu(-1)   # the last allowed CPU; or a given index; None if impossible
"""

import os


def pin_to_one_cpu(cpu):
    """Pins this process (and the threads it starts later) to CPU `cpu` (-1: the last one
    allowed); returns that CPU, or None where pinning is not possible."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    c = allowed[-1] if cpu < 0 else cpu
    if c not in allowed:
        return None
    os.sched_setaffinity(0, {c})
    return c

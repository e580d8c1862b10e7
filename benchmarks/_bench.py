"""What the benchmark scripts share: their options, the warm-up-then-median timer, the output."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def options(repeats: int | None = None, models: bool = False) -> argparse.Namespace:
    """``--out FILE`` (and ``--repeats N`` where the script repeats, ``--models a,b`` where it
    takes a list); warnings silenced, and torchvision imported through fxcost's tolerant importer."""
    ap = argparse.ArgumentParser()
    if repeats is not None:
        ap.add_argument("--repeats", type=int, default=repeats)
    if models:
        ap.add_argument("--models", default=None, help="comma-separated names (default: the whole sample)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    from fxcost.zoo.targets import import_torchvision

    import_torchvision()
    return a


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def emit(text: str, out: str | None) -> None:
    """Print the result, and write it to ``out`` when given."""
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)

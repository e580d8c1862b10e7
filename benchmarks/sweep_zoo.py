"""``fxcost sweep`` over a whole zoo: wall time, rows per minute, statuses.

    python benchmarks/sweep_zoo.py [--targets 'timm:*'] [--jobs 2] [--timeout 300] [--out FILE.md]

Models are built on meta where the zoo allows it; each runs in its own worker process. The rows
go to a JSON-lines file beside the report (``benchmarks/results/sweep_<zoo>.jsonl``, resumable).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import time

from _bench import emit

import fxcost
from fxcost.zoo.sweep import expand


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default="timm:*")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    zoo = a.targets.split(":")[0]
    rows_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"sweep_{zoo}.jsonl")
    if os.path.exists(rows_path):
        os.remove(rows_path)  # a benchmark times the whole sweep, not a resumed one
    targets = expand([a.targets])
    start = time.perf_counter()
    rows = fxcost.sweep(targets, out=rows_path, jobs=a.jobs, timeout=a.timeout)
    wall = time.perf_counter() - start
    status = collections.Counter(r["status"] for r in rows)
    ok = [r for r in rows if r["status"] == "ok"]
    lines = [
        f"`fxcost sweep '{a.targets}' --jobs {a.jobs} --timeout {a.timeout:g}` on {os.cpu_count()} cores: "
        f"{len(rows)} models in {wall / 60:.1f} min, {len(rows) / (wall / 60):.0f} rows per minute.",
        "",
        "| status | models |",
        "|---|---|",
        *[f"| {s} | {n} |" for s, n in status.most_common()],
        "",
        f"Complete (every op has a rule): {sum(r['complete'] for r in ok)} of {len(ok)} counted; "
        f"median count {statistics.median(r['seconds'] for r in ok):.3f} s, median wall per model "
        f"(build + count, in its own process) {statistics.median(r['wall_seconds'] for r in ok):.2f} s.",
    ]
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["", "Not ok:", ""] + [
            f"- {r['target']}: {r['status']}: {(r.get('error') or '')[:160]}" for r in failed
        ]
    emit("\n".join(lines), a.out)


if __name__ == "__main__":
    main()

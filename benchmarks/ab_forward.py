"""The forward count's time, for comparing two checkouts of fxcost in one session.

    git worktree add /tmp/old c6064d3
    python benchmarks/ab_forward.py /tmp/old mobilenet_v3_large
    python benchmarks/ab_forward.py . mobilenet_v3_large

Imports fxcost from the checkout given, profiles the torchvision model once (warm-up), then
prints the median of 30 in-process calls.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings


def main() -> None:
    checkout, name = sys.argv[1], sys.argv[2]
    sys.path.insert(0, checkout)
    warnings.filterwarnings("ignore")
    from fxcost.zoo.targets import import_torchvision

    tv = import_torchvision()
    import torch

    import fxcost

    model, x = tv.models.get_model(name).eval(), torch.randn(1, 3, 224, 224)
    fxcost.profile(model, (x,))
    times = []
    for _ in range(30):
        t = time.perf_counter()
        fxcost.profile(model, (x,))
        times.append(time.perf_counter() - t)
    print(f"{checkout} {name}: {statistics.median(times) * 1e3:.2f} ms (median of 30)")


if __name__ == "__main__":
    main()

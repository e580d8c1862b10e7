"""Training-step counting speed (issue 12): fxcost against FlopCounterMode under FakeTensorMode.

    python benchmarks/training.py [--repeats 3] [--out benchmarks/results/training.md]

Each (tool, model) runs in a fresh process; the model is built before the clock starts. The
step is transformers' ``LlamaForCausalLM`` with ``labels`` and ``use_cache=False``: forward,
loss, backward. fxcost runs on meta stand-ins; FlopCounterMode runs on FakeTensors made from the
meta model (the way to run it without memory). MACs are reported so that the counts can be
compared, and peak RSS above a process that only imports torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _bench import emit  # noqa: E402
from run import LLAMA, ROOT, baseline_rss, build  # noqa: E402

PAIRS = [("fxcost", "llama_7b"), ("flop_counter_fake", "llama_7b"), ("fxcost", "llama2_70b")]


def count(tool: str, model, ids) -> float:
    import torch

    kwargs = {"input_ids": ids, "labels": ids, "use_cache": False}
    if tool == "fxcost":
        import fxcost

        return fxcost.profile(model, (), kwargs, backward=True).total.macs
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with fake:
        params = {k: fake.from_tensor(v).requires_grad_() for k, v in model.named_parameters()}
        fake_ids = fake.from_tensor(ids)
    with fake, FlopCounterMode(display=False) as fc:
        out = torch.func.functional_call(model, params, (), {**kwargs, "input_ids": fake_ids, "labels": fake_ids})
        out.loss.backward()
    return fc.get_total_flops() / 2


def child(tool: str, name: str) -> None:
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    model, args, _ = build(name)
    model.train()
    t = time.perf_counter()
    macs = count(tool, model, args[0])
    print(
        "RESULT "
        + json.dumps(
            {
                "tool": tool,
                "model": name,
                "seconds": time.perf_counter() - t,
                "macs": macs,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    base = baseline_rss()
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(a.repeats):  # interleaved repeats
        for tool, name in PAIRS:
            p = subprocess.run(
                [sys.executable, __file__, "--child", tool, name], capture_output=True, text=True, timeout=600, cwd=ROOT
            )
            line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{tool} on {name} failed: {p.stderr.strip().splitlines()[-1:]}")
            runs.setdefault((tool, name), []).append(json.loads(line[7:]))
    lines = ["| tool | model | seconds (median) | MACs | peak RSS above import, MB |", "|---|---|---:|---:|---:|"]
    med = {}
    for (tool, name), rs in runs.items():
        med[(tool, name)] = statistics.median(r["seconds"] for r in rs)
        rss = max(r["rss_mb"] for r in rs) - base
        lines.append(
            f"| {tool} | {name} {LLAMA[name][2]} layers, seq {LLAMA[name][6]} | {med[(tool, name)]:.3f} | "
            f"{rs[0]['macs']:.4g} | {rss:.0f} |"
        )
    ratio = med[("fxcost", "llama_7b")] / med[("flop_counter_fake", "llama_7b")]
    lines += [
        "",
        f"Llama-7B training step: fxcost / FlopCounterMode under FakeTensorMode = {ratio:.2f}x "
        f"(target <= 0.5x); {a.repeats} repeats, fresh process each, torch {_torch_version()}.",
    ]
    emit("\n".join(lines) + "\n", a.out)


def _torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    main()

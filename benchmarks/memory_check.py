"""Peak memory against PyTorch's MemTracker on real CPU runs (issue 14), and the 7B timing.

python benchmarks/memory_check.py [--out benchmarks/results/memory.md]
"""

from __future__ import annotations

import os
import sys
import time

from _bench import emit, options

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))


def main() -> None:
    a = options()
    import torch
    import transformers as T
    from test_memory import _models, _tracked_peak

    import fxcost

    lines = [
        "| model | mode | fxcost peak B | MemTracker peak B | fxcost / MemTracker - 1 |",
        "|---|---|---:|---:|---:|",
    ]
    for name, (model, args, kwargs) in _models().items():
        model.train()
        for train in (False, True):
            ours = fxcost.profile(model, args, kwargs, backward=train, memory=True).memory["peak_bytes"]
            ref = _tracked_peak(model, args, kwargs, train)
            lines.append(
                f"| {name} | {'training step' if train else 'inference'} | {ours} | {ref} | "
                f"{100 * (ours / ref - 1):+.4f} % |"
            )
    with torch.device("meta"):
        llama = T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=32))
    ids = torch.zeros(1, 2048, dtype=torch.long, device="meta")
    t = time.perf_counter()
    r = fxcost.profile(
        llama, (), {"input_ids": ids, "labels": ids, "use_cache": False}, backward=True, memory=True, optimizer="adamw"
    )
    lines += [
        "",
        f"Llama-7B shape training step (seq 2048, AdamW) on meta: {time.perf_counter() - t:.2f} s, "
        f"peak {r.memory['peak_bytes'] / 2**30:.1f} GiB; torch {torch.__version__}, CPU.",
    ]
    text = "\n".join(lines) + "\n"
    emit(text, a.out)


if __name__ == "__main__":
    main()

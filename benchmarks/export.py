"""Costing an exported program against profiling the eager model (issue 19).

    python benchmarks/export.py [--repeats 5] [--out benchmarks/results/export.md]

resnet50 (CPU weights, 1x3x224x224) and the Llama-7B shape (transformers LlamaForCausalLM on
meta, 32 layers, seq 2048, use_cache=False). The program is exported before the clock starts
(exporting is the user's step); each timing is the median of ``--repeats`` calls after a warm-up.
"""

from __future__ import annotations

import time

from _bench import emit, options, timed


def main() -> None:
    a = options(repeats=5)
    from fxcost.zoo.targets import import_torchvision

    tv = import_torchvision()
    import torch
    import transformers as T

    import fxcost

    cases = []
    resnet = tv.models.resnet50().eval()
    x = torch.randn(1, 3, 224, 224)
    cases.append(("resnet50", resnet, (x,), {}))
    with torch.device("meta"):
        llama = T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=32)).eval()
    cases.append(
        (
            "llama_7b",
            llama,
            (),
            {"input_ids": torch.zeros(1, 2048, dtype=torch.long, device="meta"), "use_cache": False},
        )
    )
    lines = [
        "| model | profile(model) s | export s (not counted) | profile(ep) s | profile(core ATen ep) s | "
        "ratio | MACs equal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, model, args, kwargs in cases:
        eager = timed(lambda: fxcost.profile(model, args, kwargs), a.repeats)
        t = time.perf_counter()
        ep = torch.export.export(model, args, kwargs)
        export_s = time.perf_counter() - t
        core = ep.run_decompositions()
        prog = timed(lambda: fxcost.profile(ep), a.repeats)
        prog_core = timed(lambda: fxcost.profile(core), a.repeats)
        same = (
            fxcost.profile(ep).total.macs
            == fxcost.profile(core).total.macs
            == fxcost.profile(model, args, kwargs).total.macs
        )
        lines.append(
            f"| {name} | {eager:.3f} | {export_s:.1f} | {prog:.3f} | {prog_core:.3f} | "
            f"{max(prog, prog_core) / eager:.2f}x | {same} |"
        )
    text = (
        "\n".join(lines) + f"\n\nMedians of {a.repeats} after a warm-up, torch {torch.__version__}; "
        "target: costing the program takes no longer than profiling the eager model (ratio <= 1).\n"
    )
    emit(text, a.out)


if __name__ == "__main__":
    main()

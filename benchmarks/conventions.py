"""transformers as people call them (issue 13): the counting time of each calling convention
against the input_ids-only call on the same model, and of generation.

    python benchmarks/conventions.py [--repeats 5] [--out benchmarks/results/conventions.md]

The Llama-7B shape (transformers LlamaForCausalLM, 32 layers) on meta, sequence 2048; one
warm-up call each, then the median of ``--repeats`` calls in this process.
"""

from __future__ import annotations

from _bench import emit, options, timed


def main() -> None:
    a = options(repeats=5)
    import torch
    import transformers as T

    import fxcost

    with torch.device("meta"):
        model = T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=32, max_position_embeddings=8192)).eval()
    L = 2048
    ids = torch.zeros(1, L, dtype=torch.long, device="meta")
    ones = torch.ones(1, L, dtype=torch.long, device="meta")
    conventions = {
        "input_ids": {"input_ids": ids},
        "use_cache=False": {"input_ids": ids, "use_cache": False},
        "attention_mask": {"input_ids": ids, "attention_mask": ones},
        "position_ids + use_cache=False": {
            "input_ids": ids,
            "position_ids": torch.arange(L, device="meta")[None],
            "use_cache": False,
        },
        "labels": {"input_ids": ids, "labels": ids, "use_cache": False},
    }

    base = None
    lines = [
        "| call (Llama-7B shape, seq 2048, meta) | seconds (median) | vs input_ids only | MACs |",
        "|---|---:|---:|---:|",
    ]
    for name, kwargs in conventions.items():
        s = timed(lambda: fxcost.profile(model, (), kwargs), a.repeats)
        base = base or s
        macs = fxcost.profile(model, (), kwargs).total.macs
        lines.append(f"| {name} | {s:.3f} | {s / base:.2f}x | {macs:.6g} |")
    s = timed(lambda: fxcost.profile(model, (), conventions["labels"], backward=True), a.repeats)
    lines.append(
        f"| labels, backward=True (training step) | {s:.3f} | {s / base:.2f}x | "
        f"{fxcost.profile(model, (), conventions['labels'], backward=True).total.macs:.6g} |"
    )
    s = timed(lambda: fxcost.profile_generation(model, prompt_tokens=4096, new_tokens=4096), a.repeats)
    gen = fxcost.profile_generation(model, prompt_tokens=4096, new_tokens=4096)
    lines.append(f"| profile_generation(prompt 4096, new 4096) | {s:.3f} | {s / base:.2f}x | {gen.total.macs:.6g} |")
    text = (
        "\n".join(lines) + f"\n\n{a.repeats} repeats after a warm-up, torch {torch.__version__}, "
        f"transformers {T.__version__}; target: each convention within 2x of input_ids only, generation < 5 s.\n"
    )
    emit(text, a.out)


if __name__ == "__main__":
    main()

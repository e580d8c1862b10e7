"""fxcost.formula against profile() in the same process: a Llama-7B shape (32 layers, d 4096) in
batch and sequence length, resnet50 in height and width; and a 10,000-size sweep.

Targets (issue 16): formula() <= 10x one profile(); the sweep < 1 s.

    python benchmarks/formula.py --repeats 3 --out benchmarks/results/formula.md
"""

import time

import torch
from _bench import emit, options, timed

import fxcost

a = options(repeats=3)
import torchvision  # noqa: E402
import transformers as T  # noqa: E402

cfg = T.LlamaConfig(
    hidden_size=4096,
    intermediate_size=11008,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    vocab_size=32000,
    max_position_embeddings=4096,
)
with torch.device("meta"):
    llama = T.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")


def ids(b, seq):
    return {"input_ids": torch.zeros(b, seq, dtype=torch.long, device="meta"), "use_cache": False}


cases = [
    (
        "Llama-7B shape in B, L",
        llama,
        (),
        ids(2, 2048),
        {"B": [("input_ids", 0)], "L": [("input_ids", 1)]},
        {"B": 2, "L": 2048},
    ),
    (
        "resnet50 in H, W",
        torchvision.models.resnet50(),
        (torch.randn(2, 3, 224, 224),),
        {},
        {"H": [(0, 2)], "W": [(0, 3)]},
        {"H": 224, "W": 224},
    ),
]
rows = [
    "| model | profile() s | formula() s | ratio | equal at the example | sweep of 10,000 sizes s |",
    "|---|---|---|---|---|---|",
]
for name, model, args, kwargs, dims, at in cases:
    tp = timed(lambda: fxcost.profile(model, args, kwargs), a.repeats)
    tf = timed(lambda: fxcost.formula(model, args, kwargs, dims=dims), a.repeats)
    f = fxcost.formula(model, args, kwargs, dims=dims)
    same = f(**at) == fxcost.profile(model, args, kwargs).total
    first = next(iter(dims))
    sizes = {k: (list(range(64, 10_064)) if k == first else v) for k, v in at.items()}  # inside f.valid
    t = time.perf_counter()
    f.sweep(**sizes)
    ts = time.perf_counter() - t
    rows.append(f"| {name} | {tp:.3f} | {tf:.3f} | {tf / tp:.1f}x | {same} | {ts:.3f} |")
emit(
    f"torch {torch.__version__}, transformers {T.__version__}; medians of {a.repeats} after a warm-up, "
    "same process\n\n" + "\n".join(rows) + "\n",
    a.out,
)

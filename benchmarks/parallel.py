"""profile_parallel on a Llama-2-70B shape (80 layers, d 8192, GQA 64/8, seq 4096): one rank of a
training step under FSDP2 over dp=64 and Megatron tensor parallelism over tp=8, in a fresh
process; time and peak RSS above the imports.

Targets (issue 17): < 60 s and < 4 GB.

    python benchmarks/parallel.py --out benchmarks/results/parallel.md
"""

import resource
import time

import torch
from _bench import emit, options

import fxcost
from fxcost.analyses.plans import plan

a = options()
import transformers as T  # noqa: E402

cfg = T.LlamaConfig(
    hidden_size=8192,
    intermediate_size=28672,
    num_hidden_layers=80,
    num_attention_heads=64,
    num_key_value_heads=8,
    vocab_size=32000,
    max_position_embeddings=4096,
)


def build():
    return T.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")


ids = torch.zeros(1, 4096, dtype=torch.long)
mesh = {"dp": 64, "tp": 8}
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
r = fxcost.profile_parallel(
    build,
    (),
    {"input_ids": ids, "labels": ids, "use_cache": False},
    mesh=mesh,
    parallelize=plan("fsdp+tp", mesh),
    backward=True,
)
seconds = time.perf_counter() - t
rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
e = r.estimate("H100", {"tp": "nvlink4", "dp": "ib_ndr"})
rows = "\n".join(
    f"| {op} | {v['count']} | {v['bytes'] / 1e9:.2f} GB | {v['bus_bytes'] / 1e9:.2f} GB |"
    for op, v in r.totals().items()
)
emit(
    f"torch {torch.__version__}, transformers {T.__version__}; Llama-2-70B shape, seq 4096, batch 1 per rank, "
    f"mesh dp=64 x tp=8 (fsdp+tp), training step of rank 0\n\n"
    f"- time: {seconds:.1f} s (target < 60 s); peak RSS above the imports: {rss:.0f} MB (target < 4 GB)\n"
    f"- per-rank: {r.report.params / 1e6:.1f} M params, {r.report.total.macs / 1e12:.2f} T MACs\n"
    f"- on H100 (NVLink 4 for tp, InfiniBand NDR for dp): compute >= {e['compute_s']:.2f} s, communication >= "
    f"{e['communication_s']:.2f} s\n\n| collective | calls | bytes | bus bytes |\n|---|---|---|---|\n{rows}\n",
    a.out,
)

"""fxcost against the peers: time of the counting call, peak RSS, MACs reported, correctness.

    python benchmarks/run.py [--repeats 3] [--models resnet50,gpt2] [--tools fxcost,thop] [--out FILE]
    python benchmarks/run.py --scaling

Each (tool, model) pair runs in a fresh process with a timeout; tools run alternately, repeats
are interleaved, medians reported. "Right" = within 1 % of the reference: torchvision's published
MACs, or the analytic count for the transformers. Peers that are not installed are reported as
skipped. Install them with `pip install torch==2.13.0 -e '.[bench]'`.
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
ROOT = os.path.dirname(HERE)

TORCHVISION = {
    "resnet50": 4.089e9,
    "mobilenet_v3_large": 0.217e9,
    "vit_b_16": 17.564e9,
    "swin_t": 4.491e9,
    "convnext_tiny": 4.456e9,
}


def _block(d: int, L: int, ffn: int, kv: int | None = None) -> int:
    kv = d if kv is None else kv
    return L * (2 * d * d + 2 * d * kv + ffn) + 2 * L * L * d


LLAMA = {  # name: (hidden, ffn, layers, heads, kv heads, vocab, seq)
    "llama_small": (512, 1376, 4, 8, 8, 32000, 128),
    "llama_7b": (4096, 11008, 32, 32, 32, 32000, 2048),
    "llama2_70b": (8192, 28672, 80, 64, 8, 32000, 4096),
}


def reference(name: str) -> float:
    if name in TORCHVISION:
        return TORCHVISION[name]
    if name in ("bert", "gpt2"):
        d, L = 768, 128
        return 12 * _block(d, L, 8 * d * d) + (d * d if name == "bert" else 0)
    d, f, n, h, kvh, v, L = LLAMA[name]
    return n * _block(d, L, 3 * d * f, kv=d // h * kvh) + L * d * v


MODELS = list(TORCHVISION) + ["bert", "gpt2"] + list(LLAMA)
TOOLS = [
    "fxcost",
    "flop_counter",
    "fvcore",
    "thop",
    "ptflops",
    "ptflops_aten",
    "calflops",
    "deepspeed",
    "torch_flops",
    "torchprofile",
]


# ---------------------------------------------------------------------------------------------
# child: build one model, time one tool's counting call
# ---------------------------------------------------------------------------------------------
def build(name: str):
    import torch

    sys.path.insert(0, ROOT)
    from fxcost.zoo.targets import import_torchvision

    tv = import_torchvision()
    if name in TORCHVISION:
        return tv.models.get_model(name).eval(), (torch.randn(1, 3, 224, 224),), False
    import transformers as T

    # transformers models are called as profiling and training scripts call them: use_cache=False
    if name == "bert":
        return T.BertModel(T.BertConfig()).eval(), (torch.zeros(1, 128, dtype=torch.long),), False
    if name == "gpt2":
        return T.GPT2Model(T.GPT2Config(use_cache=False)).eval(), (torch.zeros(1, 128, dtype=torch.long),), False
    d, f, n, h, kvh, v, L = LLAMA[name]
    cfg = T.LlamaConfig(
        hidden_size=d,
        intermediate_size=f,
        num_hidden_layers=n,
        num_attention_heads=h,
        num_key_value_heads=kvh,
        vocab_size=v,
        use_cache=False,
    )
    meta = name != "llama_small"  # the 7B/70B shapes exist only on the meta device
    if meta:
        with torch.device("meta"):
            return T.LlamaForCausalLM(cfg).eval(), (torch.zeros(1, L, dtype=torch.long, device="meta"),), True
    return T.LlamaForCausalLM(cfg).eval(), (torch.zeros(1, L, dtype=torch.long),), False


def count(tool: str, model, args) -> float:
    import torch

    if tool == "fxcost":
        import fxcost

        return fxcost.profile(model, args).total.macs
    if tool == "flop_counter":
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(*args)
        return fc.get_total_flops() / 2
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis

        a = FlopCountAnalysis(model, args)
        a.unsupported_ops_warnings(False)
        a.uncalled_modules_warnings(False)
        return a.total()
    if tool == "thop":
        import thop

        return thop.profile(model, inputs=args, verbose=False)[0]
    if tool in ("ptflops", "ptflops_aten"):
        from ptflops import get_model_complexity_info

        x = args[0]
        macs, _ = get_model_complexity_info(
            model,
            tuple(x.shape[1:]),
            as_strings=False,
            print_per_layer_stat=False,
            verbose=False,
            backend="aten" if tool == "ptflops_aten" else "pytorch",
            input_constructor=lambda _: {"input_ids": x} if x.dtype == torch.long else x,
        )
        return macs
    if tool == "calflops":
        from calflops import calculate_flops

        x = args[0]
        kw = {"kwargs": {"input_ids": x}} if x.dtype == torch.long else {"args": [x]}
        _, macs, _ = calculate_flops(model, output_as_string=False, print_results=False, **kw)
        return macs
    if tool == "deepspeed":
        from deepspeed.profiling.flops_profiler import get_model_profile

        x = args[0]
        kw = {"kwargs": {"input_ids": x}} if x.dtype == torch.long else {"args": [x]}
        _, macs, _ = get_model_profile(model, print_profile=False, as_string=False, **kw)
        return macs
    if tool == "torch_flops":
        from torch_flops import TorchFLOPsByFX

        c = TorchFLOPsByFX(model)
        with torch.no_grad():
            c.propagate(*args)
        return c.print_total_flops(show=False) / 2
    if tool == "torchprofile":
        from torchprofile import profile_macs

        return profile_macs(model, args)
    raise ValueError(tool)


def child(tool: str, name: str) -> None:
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    result = {"tool": tool, "model": name}
    try:
        model, args, _ = build(name)
        t = time.perf_counter()
        macs = count(tool, model, args)
        result.update(seconds=time.perf_counter() - t, macs=float(macs))
    except ImportError as e:
        result.update(skipped=f"not installed ({e.name})")
    except Exception as e:  # a peer's failure is a result
        result.update(error=f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}")
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def baseline_rss() -> float:
    """Peak RSS of a process that imports torch and transformers and builds nothing."""
    code = (
        f"import resource, sys; sys.path.insert(0, {str(ROOT)!r}); from fxcost.zoo.targets import import_torchvision; "
        "import_torchvision(); import transformers; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip())


# ---------------------------------------------------------------------------------------------
# parent: schedule, collect, print
# ---------------------------------------------------------------------------------------------
_MODULES = {
    "fvcore": "fvcore",
    "thop": "thop",
    "ptflops": "ptflops",
    "ptflops_aten": "ptflops",
    "calflops": "calflops",
    "deepspeed": "deepspeed",
    "torch_flops": "torch_flops",
    "torchprofile": "torchprofile",
}


def run_pair(tool: str, name: str, timeout: float) -> dict:
    import importlib.util

    module = _MODULES.get(tool)
    if module and importlib.util.find_spec(module) is None:  # no process for a missing peer
        return {"tool": tool, "model": name, "skipped": f"not installed ({module})"}
    try:
        p = subprocess.run(
            [sys.executable, __file__, "--child", tool, name], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"tool": tool, "model": name, "error": f"timeout after {timeout:.0f} s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"tool": tool, "model": name, "error": (p.stderr.strip().splitlines() or ["crashed"])[-1][:120]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    if a.scaling:
        return scaling()
    models, tools = a.models.split(","), a.tools.split(",")
    runs: dict[tuple[str, str], list[dict]] = {}
    for r in range(a.repeats):
        for name in models:
            for tool in tools if r % 2 == 0 else tools[::-1]:  # alternate the order
                res = run_pair(tool, name, a.timeout)
                runs.setdefault((tool, name), []).append(res)
                print(
                    f"[{r + 1}/{a.repeats}] {name:18s} {tool:13s} "
                    + (
                        f"{res['seconds']:.3f}s {res['macs'] / 1e9:.3f} G"
                        if "seconds" in res
                        else res.get("skipped") or res.get("error")
                    ),
                    file=sys.stderr,
                    flush=True,
                )
    text = report(runs, models, tools, baseline_rss())
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


def _cell(rs: list[dict], key: str):
    ok = [r[key] for r in rs if key in r]
    return statistics.median(ok) if ok else None


def report(runs, models, tools, base_rss: float) -> str:
    import platform

    import torch

    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}; baseline RSS (torch + transformers imported) {base_rss:.0f} MB; "
        f"date {time.strftime('%Y-%m-%d')}.",
        "",
    ]
    head = "| model | reference G | " + " | ".join(tools) + " | fxcost / fastest right peer |"
    sep = "|" + "---|" * (len(tools) + 3)
    for title, fmt in (
        ("Counting time (s, median)", "time"),
        ("MACs reported (G); ✓ = within 1 %", "macs"),
        ("Peak RSS above baseline (MB)", "rss"),
    ):
        lines += [f"### {title}", "", head, sep]
        for name in models:
            ref = reference(name)
            row = [name, f"{ref / 1e9:.3f}"]
            best = None
            for tool in tools:
                rs = runs.get((tool, name), [])
                secs, macs, rss = _cell(rs, "seconds"), _cell(rs, "macs"), _cell(rs, "rss_mb")
                right = macs is not None and abs(macs - ref) <= 0.01 * ref
                if right and tool != "fxcost" and (best is None or secs < best):
                    best = secs
                if macs is None:
                    first = rs[0] if rs else {}
                    row.append("skip" if "skipped" in first else "err")
                elif fmt == "time":
                    row.append(f"{secs:.3f}" + ("" if right else " ✗"))
                elif fmt == "macs":
                    row.append(f"{macs / 1e9:.3f}" + (" ✓" if right else " ✗"))
                else:
                    row.append(f"{rss - base_rss:.0f}")
            ours = _cell(runs.get(("fxcost", name), []), "seconds")
            row.append(f"{ours / best:.2f}x" if ours and best else "no right peer")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    errors = sorted({f"- {t} on {m}: {rs[0].get('error')}" for (t, m), rs in runs.items() if rs and "error" in rs[0]})
    if errors:
        lines += ["Errors:", *errors]
    return "\n".join(lines)


def scaling() -> None:
    """Linear+ReLU chains of 100, 1 000 and 10 000 layers: fxcost time per node must stay flat."""
    import torch
    from torch import nn

    sys.path.insert(0, ROOT)
    import fxcost

    fxcost.profile(nn.Linear(2, 2), (torch.randn(1, 2),))  # first-call warm-up (lazy imports)
    print("| layers | nodes | seconds | µs per node |\n|---:|---:|---:|---:|")
    for n in (100, 1000, 10000):
        model = nn.Sequential(*[m for _ in range(n) for m in (nn.Linear(16, 16), nn.ReLU())])
        x = torch.randn(1, 16)
        t = time.perf_counter()
        r = fxcost.profile(model, (x,))
        dt = time.perf_counter() - t
        print(f"| {n} | {len(r.nodes)} | {dt:.3f} | {1e6 * dt / len(r.nodes):.1f} |")


if __name__ == "__main__":
    main()

"""fxcost against FlopCounterMode across a fixed, broad sample of models, not the ten of run.py.

    python benchmarks/zoo_speed.py [--repeats 5] [--models a,b] [--out benchmarks/results/zoo_speed.md]

Every model is built on meta and counted on meta inputs in this one process, by
``fxcost.profile`` and by ``torch.utils.flop_counter.FlopCounterMode`` (one thread, after a
warm-up call of each). Rounds are interleaved (each round times every model with both tools), and
each model's ratio is fxcost's median over FlopCounterMode's. The report gives the median, p90 and
worst ratio with the models named; the targets are a median of at most 0.5 and no model above 1.0.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from _bench import emit, options

# torchvision (tiny sequential CNNs to transformers), timm (long elementwise graphs: EvoNorm;
# windowed attention), transformers built from configs
TORCHVISION = [
    "alexnet",
    "squeezenet1_0",
    "vgg11",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "regnet_y_400mf",
    "densenet121",
    "shufflenet_v2_x1_0",
    "mnasnet1_0",
    "googlenet",
    "convnext_tiny",
    "swin_t",
    "vit_b_16",
    "maxvit_t",
]
TIMM = [
    "regnetz_b16_evos",
    "regnetz_c16_evos",
    "coatnet_0_rw_224",
    "maxvit_tiny_tf_224",
    "swin_tiny_patch4_window7_224",
    "convnext_atto",
    "efficientnet_b0",
    "deit_tiny_patch16_224",
    "resnet26d",
    "mixer_b16_224",
    "levit_128",
    "cait_xxs24_224",
]
HF = ["bert", "gpt2", "llama", "t5", "whisper", "mixtral"]


def build(name: str) -> tuple[Any, tuple, dict]:
    """The model on meta and its meta inputs."""
    import torch

    zoo, _, model = name.partition(":")
    meta = torch.device("meta")
    if zoo == "torchvision":
        import torchvision

        size = 299 if model == "inception_v3" else 224
        kw = {"init_weights": False} if model in ("googlenet", "inception_v3") else {}
        try:
            with meta:
                m = torchvision.models.get_model(model, **kw)
        except NotImplementedError:  # regnet computes its widths with tensors: built on the CPU
            m = torchvision.models.get_model(model, **kw).to(meta)
        return m.eval(), (torch.empty(1, 3, size, size, device=meta),), {}
    if zoo == "timm":
        import timm

        with meta:
            m = timm.create_model(model).eval()
        return m, (torch.empty(1, *m.default_cfg["input_size"], device=meta),), {}
    import transformers as T

    ids = torch.zeros(1, 128, dtype=torch.long, device=meta)
    small = dict(
        hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, intermediate_size=688
    )
    with meta:
        if model == "bert":
            return T.BertModel(T.BertConfig()).eval(), (ids,), {}
        if model == "gpt2":
            return T.GPT2Model(T.GPT2Config()).eval(), (ids,), {"use_cache": False}
        if model == "llama":
            return T.LlamaForCausalLM(T.LlamaConfig(**small)).eval(), (ids,), {"use_cache": False}
        if model == "mixtral":
            cfg = T.MixtralConfig(**small, num_local_experts=4, num_experts_per_tok=2)
            return T.MixtralForCausalLM(cfg).eval(), (ids,), {"use_cache": False}
        if model == "t5":
            return (
                T.T5Model(T.T5Config(num_layers=4, d_model=256, d_ff=1024, num_heads=4)).eval(),
                (ids,),
                {"decoder_input_ids": ids, "use_cache": False},
            )
        if model == "whisper":
            cfg = T.WhisperConfig(
                d_model=256, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4
            )
            feats = torch.empty(1, 80, 3000, device=meta)
            return T.WhisperModel(cfg).eval(), (feats,), {"decoder_input_ids": ids[:, :16], "use_cache": False}
    raise ValueError(name)


def _fxcost(model: Any, args: tuple, kwargs: dict) -> Callable[[], object]:
    import fxcost

    return lambda: fxcost.profile(model, args, kwargs)


def _flop_counter(model: Any, args: tuple, kwargs: dict) -> Callable[[], object]:
    from torch.utils.flop_counter import FlopCounterMode

    from fxcost.core.guards import tracing

    def run() -> int:
        # as fxcost runs a model: with torch.compiler.is_compiling() true, so that transformers
        # skips its value checks (which meta tensors cannot answer)
        with (
            tracing(),
            FlopCounterMode(display=False) as fc,
        ):  # grad mode on: its module tracker fails under no_grad (cait)
            model(*args, **kwargs)
        return fc.get_total_flops()

    return run


def _once(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    import torch

    a = options(repeats=5, models=True)
    torch.set_num_threads(1)
    names = [f"torchvision:{n}" for n in TORCHVISION] + [f"timm:{n}" for n in TIMM] + [f"hf:{n}" for n in HF]
    if a.models:
        names = [n for n in names if n.split(":")[1] in a.models.split(",") or n in a.models.split(",")]
    runs: dict[str, tuple[Callable, Callable]] = {}
    for name in names:
        model, args, kwargs = build(name)
        runs[name] = (_fxcost(model, args, kwargs), _flop_counter(model, args, kwargs))
        for fn in runs[name]:
            fn()  # warm-up: imports, the registry, torch's meta kernels
    times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in names}
    for _ in range(a.repeats):
        for name, (ours, theirs) in runs.items():
            times[name][0].append(_once(ours))
            times[name][1].append(_once(theirs))
    rows = []
    for name, (ours, theirs) in times.items():
        f, c = statistics.median(ours), statistics.median(theirs)
        rows.append((name, f, c, f / c))
    rows.sort(key=lambda r: r[3])
    ratios = [r[3] for r in rows]
    p90 = ratios[min(len(ratios) - 1, round(0.9 * (len(ratios) - 1)))]
    lines = [
        f"{len(rows)} models on meta, {a.repeats} interleaved rounds, one thread; ratio = fxcost.profile / "
        "FlopCounterMode (medians)",
        "",
        "| model | fxcost ms | FlopCounterMode ms | ratio |",
        "|---|---|---|---|",
    ]
    lines += [f"| {n} | {f * 1e3:.1f} | {c * 1e3:.1f} | {r:.2f} |" for n, f, c, r in rows]
    worst = rows[-1]
    lines += [
        "",
        f"median {statistics.median(ratios):.2f}, p90 {p90:.2f}, worst {worst[3]:.2f} ({worst[0]}); "
        f"above 1.0: {', '.join(n for n, *_, r in rows if r > 1.0) or 'none'}",
    ]
    emit("\n".join(lines), a.out)


if __name__ == "__main__":
    main()

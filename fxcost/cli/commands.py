"""Command line: the handlers, one per subcommand (``COMMANDS``): ``profile`` (one count here;
its other modes, by its flags, in ``modes.py``), ``memory``, ``devices``, ``example``, ``rules``, ``diff``,
``sweep``, ``plot``."""

from __future__ import annotations

import argparse
import os
import sys

from ..core.errors import FxcostError
from .io import pairs, read_json, read_report, write
from .modes import formula, generate, parallel


def plot_command(args: argparse.Namespace) -> int:
    """``fxcost plot REPORT``: a picture of a JSON report (matplotlib)."""
    from ..analyses.formula import Formula
    from ..reports import plot
    from ..reports.report import json_kind

    if args.kind in ("roofline", "modules", "operators"):
        read_report(args.report).plot(
            args.kind, args.out, device=args.device, depth=args.depth, metric=args.metric, top=args.top
        )
        return 0
    data = read_json(args.report)
    if args.kind == "generation":
        if not json_kind(data).startswith("a generation"):
            raise FxcostError(
                f"{args.report} is {json_kind(data)}, not a generation report. Fix: fxcost profile hf:NAME --prompt N "
                "--new-tokens M --format json --out gen.json."
            )
        plot.generation_figure(data, args.metric, args.out)
        return 0
    if not json_kind(data).startswith("a formula"):
        raise FxcostError(
            f"{args.report} is {json_kind(data)}, not a formula. Fix: fxcost profile TARGET --symbolic "
            "B=0:0,L=0:1 --format json --out f.json."
        )
    if args.size is None or args.range is None:
        raise FxcostError("--kind sweep needs --size and --range. Fix: --size L --range 128:4096:128 --fix B=1.")
    fixed = {k: int(v) for k, v in pairs(args.fix, "--fix", "B=1").items()}
    plot.sweep_figure(
        Formula.from_dict(data), args.size, plot.nice_range(args.range), fixed, metric=args.metric, out=args.out
    )
    return 0


def inputs(args: argparse.Namespace, default_args, default_kwargs) -> tuple[tuple, dict]:
    """The inputs ``--input``, ``--kwargs`` and ``--dtype`` ask for (``zoo.inputs``)."""
    from ..zoo.inputs import json_kwargs, model_inputs

    named = json_kwargs(args.kwargs) if args.kwargs else None
    return model_inputs(args.input, named, args.dtype, default_args, default_kwargs)


def count(args: argparse.Namespace, model, pos, kwargs) -> None:
    import torch

    import fxcost

    from ..zoo.inputs import cast
    from ..zoo.targets import parse_dtype

    model = cast(model, (), {}, parse_dtype(getattr(args, "dtype", "float32")))[0]
    device = getattr(args, "device", None)
    if device:
        model = model.to(device)
        pos = tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in pos)
        kwargs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    backward = getattr(args, "backward", False)
    report = fxcost.profile(
        model,
        pos,
        kwargs,
        real=getattr(args, "real", False),
        flops=args.flops,
        measure=args.time,
        backward=backward,
        memory=getattr(args, "memory", False),
        optimizer=getattr(args, "optimizer", None),
        keep_outputs=getattr(args, "keep_outputs", False),
    )
    if args.time and not backward:  # per-node times are of the forward graph
        from ..analyses.timing import time_nodes

        time_nodes(report, model, pos, kwargs)
    if args.format == "json":
        text = report.to_json()
    else:
        text = report.table(by=args.by, depth=args.depth, fmt=args.format, top=args.top, units=args.units)
    write(text, args.out)


def _example_hint() -> str:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return "\nPictures (roofline, modules, sweeps): pip install 'fxcost[plot]', then fxcost plot."
    return (
        "\nIts roofline: fxcost example --format json --out example.json && "
        "fxcost plot example.json --kind roofline --out roofline.png"
    )


def example_command(args: argparse.Namespace) -> int:
    """``fxcost example``: the built-in example model, counted and timed."""
    from .example import example

    model, pos = example()
    if args.time:
        print("fxcost: timing ExampleNet on this machine, a few seconds (--no-time skips it)", file=sys.stderr)
    count(args, model, pos, {})
    if args.out is None and args.format in ("plain", "github"):
        print(_example_hint())
    return 0


def profile_command(args: argparse.Namespace) -> int:
    """``fxcost profile TARGET``: one count, or by its flags a formula (``--symbolic``), a rank of
    a parallel plan (``--mesh``) or generation (``--prompt``/``--new-tokens``)."""
    from ..zoo.targets import load

    mode = "--symbolic" if args.symbolic else "--mesh" if args.mesh else "--prompt" if args.prompt is not None else ""
    if args.format == "csv" and mode:
        raise FxcostError(f"--format csv writes a count's table; {mode} has more than one. Fix: --format json.")
    if args.prompt is not None or args.new_tokens is not None:
        generate(args, load(args.target, causal_lm=True, trust_remote_code=args.trust_remote_code)[0])
        return 0
    model, default_args, default_kwargs = load(args.target, trust_remote_code=args.trust_remote_code)
    pos, kwargs = inputs(args, default_args, default_kwargs)
    (formula if args.symbolic else parallel if args.mesh else count)(args, model, pos, kwargs)
    return 0


def rules_command(args: argparse.Namespace) -> int:
    """``fxcost rules``: every cost rule, the forms it serves and its formula."""
    from .docs import rule_table

    write(rule_table(fmt="github" if args.format == "github" else "simple"), args.out)
    return 0


def diff_command(args: argparse.Namespace) -> int:
    """``fxcost diff BASE HEAD``: two JSON reports, or two sweeps' JSON lines (model by model);
    1 when ``--fail-above`` trips."""
    from ..reports.diff import Diff, SweepDiff
    from ..zoo.sweep import read_rows

    if all(p.endswith(".jsonl") for p in (args.base, args.head)):
        for p in (args.base, args.head):
            if not os.path.exists(p):
                raise FxcostError(f"cannot read sweep '{p}': no such file. Fix: check the path.")
        diff: Diff | SweepDiff = SweepDiff.of(list(read_rows(args.base).values()), list(read_rows(args.head).values()))
    else:
        diff = Diff.of(read_report(args.base), read_report(args.head), depth=args.depth)
    write(diff.render(args.format, args.units), args.out)
    if args.fail_above is not None and diff.growth_pct() > args.fail_above:
        what = "a model's" if isinstance(diff, SweepDiff) else "total"
        print(
            f"fxcost: {what} FLOPs/MACs grew {diff.growth_pct():+.2f}%, above --fail-above {args.fail_above}%",
            file=sys.stderr,
        )
        return 1
    return 0


def sweep_command(args: argparse.Namespace) -> int:
    """``fxcost sweep TARGET... --out FILE``: 1 when a row failed (error, timeout, crash)."""
    from ..zoo.sweep import STATUSES, sweep

    targets = list(args.targets)
    if args.from_file:
        try:
            with open(args.from_file) as f:
                targets += [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except OSError as e:
            raise FxcostError(f"cannot read '{args.from_file}': {e.strerror}. Fix: check the path.") from e
    if not targets:
        raise FxcostError("sweep needs targets. Fix: fxcost sweep 'torchvision:resnet*' --out results.jsonl.")
    from ..zoo.inputs import json_kwargs

    kwargs = json_kwargs(args.kwargs) if args.kwargs else None
    tty = sys.stderr.isatty()
    rows = sweep(
        targets,
        out=args.out,
        csv_out=args.csv,
        jobs=args.jobs,
        timeout=args.timeout,
        retry_failed=args.retry_failed,
        inputs=args.input,
        kwargs=kwargs,
        dtype=args.dtype,
        real=args.real,
        backward=args.backward,
        memory=args.memory,
        flops=args.flops,
        progress=(lambda line: print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)) if tty else None,
    )
    if tty:
        print(file=sys.stderr)
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    print(
        f"fxcost: {len(rows)} targets: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f"; rows in {args.out}"
        + (f", table in {args.csv}" if args.csv else ""),
        file=sys.stderr,
    )
    return 0 if counts["ok"] == len(rows) else 1


#: subcommand -> handler (returns the exit code)
def memory_command(args: argparse.Namespace) -> int:
    """``fxcost memory TARGET``: will it fit: weights per dtype, the inference peak and KV cache,
    each training setup's peak (per rank under ZeRO with ``--dp``), the largest batch (or longest
    sequence) a ``--gpu`` holds."""
    import json

    from ..analyses.fit import memory_plan
    from ..core.walk import tensors
    from ..zoo.targets import load, parse_dtype

    model, default_args, default_kwargs = load(args.target, trust_remote_code=args.trust_remote_code)
    pos, kwargs = inputs(args, default_args, default_kwargs)
    if any(t.dim() and t.shape[0] != 1 for t in tensors((pos, kwargs))):
        raise FxcostError("fxcost memory scales inputs given at batch 1. Fix: --input 1x..., then --batch N.")
    ids = kwargs.get("input_ids")
    seq = args.seq if args.seq is not None else (2048 if ids is not None and ids.dim() == 2 else None)
    setups = args.setup.split(",") if args.setup else None
    plan = memory_plan(
        model,
        pos,
        kwargs,
        batch=args.batch,
        seq=seq,
        dtype=parse_dtype(args.dtype),
        setups=setups,
        dp=args.dp,
        gpu=args.gpu,
        solve=args.solve,
        zero=args.zero,
    )
    text = json.dumps(plan.to_dict(), indent=1) if args.format == "json" else plan.table(args.format)
    write(text, args.out)
    return 0


def devices_command(args: argparse.Namespace) -> int:
    """``fxcost devices``: the device table: peak FLOP/s, bandwidth, memory, sources."""
    from ..reports.format import grid, si
    from ..reports.peaks import PEAKS

    rows = [
        [
            key,
            p.name,
            si(p.flops.get("bfloat16"), "FLOP/s"),
            si(p.flops.get("float32"), "FLOP/s") if "float32" in p.flops else "-",
            si(p.flops.get("float8_e4m3fn"), "FLOP/s") if "float8_e4m3fn" in p.flops else "-",
            si(p.bandwidth, "B/s"),
            si(p.memory, "B") if p.memory else "-",
            p.source,
        ]
        for key, p in PEAKS
    ]
    head = ["--gpu", "device", "bf16", "fp32", "fp8", "bandwidth", "memory", "source"]
    write(grid(rows, head, "github" if args.format == "github" else "plain"), args.out)
    return 0


COMMANDS = {
    "memory": memory_command,
    "devices": devices_command,
    "example": example_command,
    "profile": profile_command,
    "plot": plot_command,
    "rules": rules_command,
    "diff": diff_command,
    "sweep": sweep_command,
}

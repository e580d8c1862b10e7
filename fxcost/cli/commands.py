"""The command line's handlers, one per subcommand (``COMMANDS``), the analyses ``profile``
dispatches to by its flags (a count, ``--symbolic`` formulas, ``--mesh`` parallel plans,
``--prompt`` generation), and the helpers every handler shares (inputs, atomic writes, JSON)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from ..core.errors import FxcostError

def write(text: str, out: str | None) -> None:
    """stdout, or ``out`` written atomically: no partial file is ever left."""
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise FxcostError(f"cannot write '{out}': the directory '{folder}' does not exist. Fix: create it first.")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fxcost-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a new file follows the umask
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_report(path: str):
    from ..reports.report import Report

    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise FxcostError(f"cannot read report '{path}': {e.strerror}. Fix: check the path.") from e
    try:
        return Report.from_json(text)
    except FxcostError as e:
        raise FxcostError(f"{path}: {e}") from e


def pairs(spec: str, flag: str, example: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, _, value = item.partition("=")
        if not key or not value:
            raise FxcostError(f"{flag} item {item!r} is not NAME=VALUE. Fix: {flag} {example}.")
        out[key] = value
    return out


def parallel(args: argparse.Namespace, model, pos, kwargs) -> None:
    import fxcost
    from ..analyses.plans import plan

    mesh = pairs(args.mesh, "--mesh", "dp=8,tp=8")
    if not all(v.isdigit() for v in mesh.values()):
        raise FxcostError(f"--mesh sizes must be integers, got {args.mesh!r}. Fix: --mesh dp=8,tp=8.")
    sizes = {k: int(v) for k, v in mesh.items()}
    if args.plan is None:
        raise FxcostError("--mesh needs --plan (tp, fsdp or fsdp+tp). Fix: --mesh dp=8,tp=8 --plan fsdp+tp.")
    if args.links and not args.peak:
        raise FxcostError("--links estimates the step's time, which needs the device's peak. Fix: add --peak H100 "
                          "(or the device you run on).")
    r = fxcost.profile_parallel(lambda: model, pos, kwargs, mesh=sizes, parallelize=plan(args.plan, sizes),
                                backward=args.backward, rank=args.rank, flops=args.flops)
    if args.format == "json":
        d = r.to_dict()
        if args.links:
            d["estimate"] = r.estimate(args.peak, links(args.links))
        write(json.dumps(d, indent=1), args.out)
        return
    text = r.table(fmt=args.format, units=args.units, depth=args.depth, by=args.by, top=args.top)
    if args.links:
        e = r.estimate(args.peak, links(args.links))
        text += (f"\n\nOn {e['device']}: compute >= {e['compute_s'] * 1e3:.3f} ms, communication >= "
                 f"{e['communication_s'] * 1e3:.3f} ms; step >= {e['step_s_overlapped'] * 1e3:.3f} ms overlapped, "
                 f"{e['step_s_serial'] * 1e3:.3f} ms serial")
    write(text, args.out)


def links(spec: str) -> dict:
    return {k: (float(v) if v.replace(".", "", 1).replace("e", "", 1).isdigit() else v)
            for k, v in pairs(spec, "--links", "tp=nvlink4,dp=ib_ndr").items()}


def symbolic_dims(spec: str, pos: tuple, kwargs: dict) -> dict[str, list]:
    """--symbolic B=0:0,L=0:1 -> {"B": [(0, 0)], "L": [(0, 1)]}; an index past the positional
    inputs names a keyword input in order (hf targets take --input as their input_ids)."""
    dims: dict[str, list] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        name, _, where = item.partition("=")
        key, _, axis = where.partition(":")
        if not name or not key or not axis.lstrip("-").isdigit():
            raise FxcostError(f"--symbolic item {item!r} is not NAME=INPUT:AXIS. Fix: --symbolic B=0:0,L=0:1.")
        if key.isdigit() and int(key) >= len(pos) and int(key) < len(pos) + len(kwargs):
            key = list(kwargs)[int(key) - len(pos)]
        dims.setdefault(name, []).append((int(key) if key.isdigit() else key, int(axis)))
    return dims


def formula(args: argparse.Namespace, model, pos, kwargs) -> None:
    import fxcost

    if args.real or args.time or args.memory:
        raise FxcostError("--symbolic counts on symbolic sizes: --real, --time and --memory do not apply.")
    f = fxcost.formula(model, pos, kwargs, dims=symbolic_dims(args.symbolic, pos, kwargs), flops=args.flops,
                       backward=args.backward)
    if args.format == "json":
        write(json.dumps({**f.to_dict(), "modules": {p: {k: str(e) for k, e in v.items()} for p, v in
                                                      f.by_module(args.depth).items()}}, indent=1), args.out)
        return
    write(f.table(args.depth, args.format), args.out)


def generate(args: argparse.Namespace, model) -> None:
    import torch

    import fxcost

    from .targets import parse_dtype

    if args.prompt is None or args.new_tokens is None:
        raise FxcostError("generation needs both --prompt and --new-tokens. Fix: --prompt 2048 --new-tokens 256.")
    ignored = [flag for flag, on in (("--time", args.time), ("--backward", args.backward), ("--real", args.real),
                                     ("--mesh", args.mesh), ("--symbolic", args.symbolic)) if on]
    if ignored:
        raise FxcostError(f"generation (--prompt/--new-tokens) counts inference on meta tensors: {', '.join(ignored)} "
                          "does not apply. Fix: drop it, or profile one forward without --prompt.")
    dtype = parse_dtype(args.dtype)
    if dtype.is_floating_point and dtype != torch.float32:
        model = model.to(dtype)
    gen = fxcost.profile_generation(model, prompt_tokens=args.prompt, new_tokens=args.new_tokens, batch=args.batch,
                                    flops=args.flops, memory=args.memory)
    if args.format == "json":
        write(json.dumps({"model": type(model).__name__, **gen.to_dict()}, indent=1), args.out)
        return
    write(gen.table(args.format, args.units), args.out)


def plot_command(args: argparse.Namespace) -> int:
    """``fxcost plot REPORT``: a picture of a JSON report (matplotlib)."""
    from ..analyses.formula import Formula
    from ..reports import plot
    from ..reports.report import json_kind

    if args.kind in ("roofline", "modules", "operators"):
        read_report(args.report).plot(args.kind, args.out, device=args.device, depth=args.depth,
                                       metric=args.metric, top=args.top)
        return 0
    data = read_json(args.report)
    if args.kind == "generation":
        if not json_kind(data).startswith("a generation"):
            raise FxcostError(f"{args.report} is {json_kind(data)}, not a generation report. Fix: fxcost profile hf:NAME --prompt N "
                              "--new-tokens M --format json --out gen.json.")
        plot.generation_figure(data, args.metric, args.out)
        return 0
    if not json_kind(data).startswith("a formula"):
        raise FxcostError(f"{args.report} is {json_kind(data)}, not a formula. Fix: fxcost profile TARGET --symbolic "
                          "B=0:0,L=0:1 --format json --out f.json.")
    if args.size is None or args.range is None:
        raise FxcostError("--kind sweep needs --size and --range. Fix: --size L --range 128:4096:128 --fix B=1.")
    fixed = {k: int(v) for k, v in pairs(args.fix, "--fix", "B=1").items()}
    plot.sweep_figure(Formula.from_dict(data), args.size, plot.nice_range(args.range), fixed, metric=args.metric,
                      out=args.out)
    return 0


def read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise FxcostError(f"cannot read '{path}': {e.strerror}. Fix: check the path.") from e
    except json.JSONDecodeError as e:
        raise FxcostError(f"'{path}' is not JSON ({e}).") from e


def json_kwargs(text: str) -> dict:
    """``--kwargs``: a JSON object of keyword inputs (shapes as strings, other values as given)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise FxcostError(f"--kwargs is not valid JSON ({e}). Fix: --kwargs '{{\"input_ids\": \"1x128:int64\"}}'.") from e
    if not isinstance(raw, dict):
        raise FxcostError("--kwargs must be a JSON object. Fix: --kwargs '{\"input_ids\": \"1x128:int64\"}'.")
    return raw


def inputs(args: argparse.Namespace, default_args, default_kwargs):
    import torch

    from .targets import parse_dtype, parse_input

    dtype = parse_dtype(args.dtype)
    pos = tuple(parse_input(s, dtype) for s in args.input)
    kwargs = {}
    if args.kwargs:
        kwargs = {k: parse_input(v, dtype) if isinstance(v, str) else v for k, v in json_kwargs(args.kwargs).items()}
    if not pos and not kwargs:
        if default_args is None and not default_kwargs:
            raise FxcostError("no input given. Fix: pass --input 1x3x224x224 (repeat for several inputs).")
        pos, kwargs = default_args or (), dict(default_kwargs)
    elif not pos and default_kwargs and not kwargs:
        kwargs = dict(default_kwargs)
    elif pos and default_kwargs and not default_args:
        # hf targets: a positional --input is the model's main input
        kwargs = {next(iter(default_kwargs)): pos[0]}
        pos = ()
    if dtype.is_floating_point:
        cast = lambda t: t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t  # noqa: E731
        pos = tuple(cast(t) for t in pos)
        kwargs = {k: cast(v) for k, v in kwargs.items()}
    return pos, kwargs


def count(args: argparse.Namespace, model, pos, kwargs) -> None:
    import torch

    import fxcost

    from .targets import parse_dtype

    dtype = parse_dtype(getattr(args, "dtype", "float32"))
    if dtype.is_floating_point and dtype != torch.float32:
        model = model.to(dtype)
    device = getattr(args, "device", None)
    if device:
        model = model.to(device)
        pos = tuple(t.to(device) if isinstance(t, torch.Tensor) else t for t in pos)
        kwargs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    backward = getattr(args, "backward", False)
    report = fxcost.profile(model, pos, kwargs, real=getattr(args, "real", False), flops=args.flops,
                            measure=args.time, backward=backward, memory=getattr(args, "memory", False),
                            optimizer=getattr(args, "optimizer", None),
                            keep_outputs=getattr(args, "keep_outputs", False))
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
    return ("\nIts roofline: fxcost example --format json --out example.json && "
            "fxcost plot example.json --kind roofline --out roofline.png")


def example_command(args: argparse.Namespace) -> int:
    """``fxcost example``: the built-in example model, counted and timed."""
    from .example import example

    model, pos = example()
    if args.time:
        print("fxcost: timing ExampleNet on this machine, a few seconds (--no-time skips it)", file=sys.stderr)
    count(args, model, pos, {})
    if args.out is None and args.format != "json":
        print(_example_hint())
    return 0


def profile_command(args: argparse.Namespace) -> int:
    """``fxcost profile TARGET``: one count, or by its flags a formula (``--symbolic``), a rank of
    a parallel plan (``--mesh``) or generation (``--prompt``/``--new-tokens``)."""
    from .targets import load_target

    if args.prompt is not None or args.new_tokens is not None:
        generate(args, load_target(args.target, causal_lm=True)[0])
        return 0
    model, default_args, default_kwargs = load_target(args.target)
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
    from .sweep import read_rows

    if all(p.endswith(".jsonl") for p in (args.base, args.head)):
        for p in (args.base, args.head):
            if not os.path.exists(p):
                raise FxcostError(f"cannot read sweep '{p}': no such file. Fix: check the path.")
        diff = SweepDiff.of(list(read_rows(args.base).values()), list(read_rows(args.head).values()))
    else:
        diff = Diff.of(read_report(args.base), read_report(args.head), depth=args.depth)
    write(diff.render(args.format, args.units), args.out)
    if args.fail_above is not None and diff.growth_pct() > args.fail_above:
        what = "a model's" if isinstance(diff, SweepDiff) else "total"
        print(f"fxcost: {what} FLOPs/MACs grew {diff.growth_pct():+.2f}%, above --fail-above "
              f"{args.fail_above}%", file=sys.stderr)
        return 1
    return 0


def sweep_command(args: argparse.Namespace) -> int:
    """``fxcost sweep TARGET... --out FILE``: 1 when a row failed (error, timeout, crash)."""
    from .sweep import STATUSES, sweep

    targets = list(args.targets)
    if args.from_file:
        try:
            with open(args.from_file) as f:
                targets += [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except OSError as e:
            raise FxcostError(f"cannot read '{args.from_file}': {e.strerror}. Fix: check the path.") from e
    if not targets:
        raise FxcostError("sweep needs targets. Fix: fxcost sweep 'torchvision:resnet*' --out results.jsonl.")
    kwargs = json_kwargs(args.kwargs) if args.kwargs else None
    tty = sys.stderr.isatty()
    rows = sweep(targets, out=args.out, csv_out=args.csv, jobs=args.jobs, timeout=args.timeout,
                 retry_failed=args.retry_failed, inputs=args.input, kwargs=kwargs, dtype=args.dtype,
                 real=args.real, backward=args.backward, memory=args.memory, flops=args.flops,
                 progress=(lambda line: print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)) if tty else None)
    if tty:
        print(file=sys.stderr)
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    print(f"fxcost: {len(rows)} targets: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
          + f"; rows in {args.out}" + (f", table in {args.csv}" if args.csv else ""), file=sys.stderr)
    return 0 if counts["ok"] == len(rows) else 1


#: subcommand -> handler (returns the exit code)
COMMANDS = {"example": example_command, "profile": profile_command, "plot": plot_command,
            "rules": rules_command, "diff": diff_command, "sweep": sweep_command}

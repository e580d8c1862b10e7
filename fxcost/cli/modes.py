"""Command line: the modes of ``fxcost profile`` beyond one count: a formula of the input sizes
(``--symbolic``), one rank of a parallel plan (``--mesh``), text generation (``--prompt``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..core.errors import FxcostError
from .io import pairs, write


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
        raise FxcostError(
            "--links estimates the step's time, which needs the device's peak. Fix: add --peak H100 "
            "(or the device you run on)."
        )
    r = fxcost.profile_parallel(
        lambda: model,
        pos,
        kwargs,
        mesh=sizes,
        parallelize=plan(args.plan, sizes),
        backward=args.backward,
        rank=args.rank,
        flops=args.flops,
    )
    if args.format == "json":
        d = r.to_dict()
        if args.links:
            d["estimate"] = r.estimate(args.peak, links(args.links))
        write(json.dumps(d, indent=1), args.out)
        return
    text = r.table(fmt=args.format, units=args.units, depth=args.depth, by=args.by, top=args.top)
    if args.links:
        e = r.estimate(args.peak, links(args.links))
        text += (
            f"\n\nOn {e['device']}: compute >= {e['compute_s'] * 1e3:.3f} ms, communication >= "
            f"{e['communication_s'] * 1e3:.3f} ms; step >= {e['step_s_overlapped'] * 1e3:.3f} ms overlapped, "
            f"{e['step_s_serial'] * 1e3:.3f} ms serial"
        )
    write(text, args.out)


def links(spec: str) -> dict:
    return {
        k: (float(v) if v.replace(".", "", 1).replace("e", "", 1).isdigit() else v)
        for k, v in pairs(spec, "--links", "tp=nvlink4,dp=ib_ndr").items()
    }


def symbolic_dims(spec: str, pos: tuple, kwargs: dict) -> dict[str, Any]:
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
    f = fxcost.formula(
        model, pos, kwargs, dims=symbolic_dims(args.symbolic, pos, kwargs), flops=args.flops, backward=args.backward
    )
    if args.format == "json":
        write(
            json.dumps(
                {
                    **f.to_dict(),
                    "modules": {p: {k: str(e) for k, e in v.items()} for p, v in f.by_module(args.depth).items()},
                },
                indent=1,
            ),
            args.out,
        )
        return
    write(f.table(args.depth, args.format), args.out)


def generate(args: argparse.Namespace, model) -> None:
    import fxcost

    from ..zoo.inputs import cast
    from ..zoo.targets import parse_dtype

    if args.prompt is None or args.new_tokens is None:
        raise FxcostError("generation needs both --prompt and --new-tokens. Fix: --prompt 2048 --new-tokens 256.")
    ignored = [
        flag
        for flag, on in (
            ("--time", args.time),
            ("--backward", args.backward),
            ("--real", args.real),
            ("--mesh", args.mesh),
            ("--symbolic", args.symbolic),
        )
        if on
    ]
    if ignored:
        raise FxcostError(
            f"generation (--prompt/--new-tokens) counts inference on meta tensors: {', '.join(ignored)} "
            "does not apply. Fix: drop it, or profile one forward without --prompt."
        )
    model = cast(model, (), {}, parse_dtype(args.dtype))[0]
    gen = fxcost.profile_generation(
        model,
        prompt_tokens=args.prompt,
        new_tokens=args.new_tokens,
        batch=args.batch,
        flops=args.flops,
        memory=args.memory,
    )
    if args.format == "json":
        write(json.dumps({"model": type(model).__name__, **gen.to_dict()}, indent=1), args.out)
        return
    write(gen.table(args.format, args.units), args.out)

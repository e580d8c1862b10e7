"""Sweep PyTorch's operator database (``op_db``) through fxcost: every OpInfo, a few CPU float32
samples each, wrapped in a module whose inputs are the sample's tensors.

For each OpInfo: ``ok`` (costed, nothing unsupported), ``unsupported`` (ops listed), ``ok_real``
(data-dependent: refused on meta with the clear error, costed with ``real=True``), ``below``
(reported complete with fewer FLOPs than FlopCounterMode on the same call, at 2 FLOPs per MAC),
``fxcost_error`` (a clear FxcostError, with ``real=True`` too), ``rule_error`` (a rule failed, or
a false dtype refusal), ``crash`` (any other exception), or ``skipped`` (the sample itself does
not run eagerly on CPU).

    python tests/opdb.py [--samples 3] [--out benchmarks/results/opdb.md] [NAME ...]

``tests/rules/test_opdb.py`` runs the sweep and holds its allow-list.
"""

from __future__ import annotations

import argparse
import collections
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_flatten, tree_unflatten
from torch.utils.flop_counter import FlopCounterMode

import fxcost
from fxcost.core.errors import FxcostError

_TENSOR = object()  # where a forward input goes among the sample's leaves


class OpModule(nn.Module):
    """Calls ``op(input, *args, **kwargs)`` with every tensor of the sample a forward input."""

    def __init__(self, op: Any, leaves: list, spec: Any) -> None:
        super().__init__()
        self.op, self.spec = op, spec
        self.leaves = [_TENSOR if isinstance(v, torch.Tensor) else v for v in leaves]

    def forward(self, *tensors: torch.Tensor) -> Any:
        given = iter(tensors)
        inp, args, kwargs = tree_unflatten([next(given) if v is _TENSOR else v for v in self.leaves], self.spec)
        return self.op(inp, *args, **kwargs)


def module_for(opinfo: Any, sample: Any) -> tuple[OpModule, tuple] | None:
    """The sample as a module and its tensor inputs, or None where it has none."""
    leaves, spec = tree_flatten((sample.input, tuple(sample.args), dict(sample.kwargs)))
    tensors = tuple(v for v in leaves if isinstance(v, torch.Tensor))
    return (OpModule(opinfo.op, leaves, spec), tensors) if tensors else None


def samples(opinfo: Any, k: int, grad: bool = False) -> Iterator[Any]:
    try:
        gen = opinfo.sample_inputs(
            "cpu",
            torch.float32 if torch.float32 in opinfo.dtypes else next(iter(sorted(opinfo.dtypes, key=str))),
            requires_grad=grad,
        )
        for i, s in enumerate(gen):
            if i >= k:
                break
            yield s
    except Exception:
        return


def reference_flops(m: nn.Module, tensors: tuple) -> int | None:
    """FlopCounterMode's FLOPs (2 per MAC) on the real call, or None where it does not run."""
    try:
        with FlopCounterMode(display=False) as fc:
            m(*tensors)
        return fc.get_total_flops()
    except Exception:
        return None


def _profile(m: nn.Module, tensors: tuple, real: bool, backward: bool = False) -> tuple[str, str, Any]:
    """(status, detail, report or None) of one count."""
    try:
        return "ok", "", fxcost.profile(m, tensors, flops="2mac", real=real, backward=backward)
    except FxcostError as e:
        text = str(e).splitlines()[0][:200]
        bug = text.startswith(("cost rule", "dtype mismatch"))  # a rule's failure or a false refusal
        return ("rule_error" if bug else "fxcost_error"), text, None
    except Exception as e:  # noqa: BLE001 - the sweep records every failure
        return "crash", f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}", None


def sweep_one(opinfo: Any, k: int, backward: bool = False) -> tuple[str, str]:
    """(status, detail) of one OpInfo, the worst over its samples; with ``backward``, of its
    training step (the samples' floating inputs require grad)."""
    order = ["skipped", "ok", "ok_real", "fxcost_error", "below", "unsupported", "rule_error", "crash"]
    worst, detail = "skipped", ""
    if backward and not opinfo.supports_autograd:
        return worst, detail
    for s in samples(opinfo, k, grad=backward):
        built = module_for(opinfo, s)
        if built is None:
            continue
        m, tensors = built
        try:
            m(*tensors)  # the sample must run eagerly
        except Exception:
            continue
        if backward:
            try:  # a step needs something to differentiate, as autograd does
                if not any(
                    t.requires_grad for t in torch.utils._pytree.tree_leaves(m(*tensors)) if isinstance(t, torch.Tensor)
                ):
                    continue
            except Exception:
                continue
            status, why, r = _profile(m, tensors, real=False, backward=True)
        else:
            status, why, r = _profile(m, tensors, real=False)
            if status == "fxcost_error" and ("values" in why or "forward pass failed" in why or "real=True" in why):
                # data-dependent (nonzero, unique) or a kernel meta tensors lack: the rules on real tensors
                status, why, r = _profile(m, tensors, real=True)
                status = "ok_real" if status == "ok" else status
        if r is not None:
            if r.unsupported:
                status, why = "unsupported", ", ".join(sorted({u.target for u in r.unsupported}))
            elif not backward:  # FlopCounterMode's reference is the forward's
                ref = reference_flops(m, tensors)
                if ref is not None and r.total.flops < ref:
                    status, why = "below", f"fxcost {r.total.flops} < FlopCounterMode {ref}"
        if order.index(status) > order.index(worst):
            worst, detail = status, why
    return worst, detail


def sweep(samples: int = 3, names: tuple[str, ...] = (), backward: bool = False) -> list[tuple[str, str, str]]:
    """(OpInfo name, status, detail) for every OpInfo of ``op_db`` (or those ``names``); with
    ``backward``, of their training steps."""
    from torch.testing._internal.common_methods_invocations import op_db

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for opinfo in op_db:
            full = opinfo.name + (f".{opinfo.variant_test_name}" if opinfo.variant_test_name else "")
            if names and not any(n == opinfo.name or n == full for n in names):
                continue
            rows.append((full, *sweep_one(opinfo, samples, backward)))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*")
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--out")
    p.add_argument("--backward", action="store_true", help="sweep the training steps")
    a = p.parse_args(argv)
    rows = sweep(a.samples, tuple(a.names), a.backward)
    counts = collections.Counter(s for _, s, _ in rows)
    ran = len(rows) - counts["skipped"]
    lines = [
        f"# op_db sweep{' (training steps)' if a.backward else ''}: torch {torch.__version__}, {len(rows)} OpInfos, {ran} ran on CPU",
        "",
        "| status | OpInfos |",
        "|---|---|",
    ]
    lines += [
        f"| {s} | {counts[s]} |"
        for s in ("ok", "ok_real", "unsupported", "below", "fxcost_error", "rule_error", "crash", "skipped")
    ]
    lines += ["", "| OpInfo | status | detail |", "|---|---|---|"]
    lines += [f"| {n} | {s} | {d.replace('|', '/')} |" for n, s, d in rows if s not in ("ok", "ok_real", "skipped")]
    text = "\n".join(lines) + "\n"
    if a.out:
        open(a.out, "w").write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

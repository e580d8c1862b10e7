"""Analyses: helpers of ``fxcost.formula``: one symbolic run of the model, and the runs at size 1
that prove where the formula also holds there.

A run makes the named sizes symbols of torch's own ``ShapeEnv`` (as ``torch.export``'s dynamic
dims do), records the model on meta tensors that carry them, and sums every node's cost as a
sympy expression in the user's symbols, with the conditions the run branched on.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sympy
import torch
from torch import nn
from torch._C import DispatchKey
from torch._dispatch.python import enable_python_dispatcher
from torch._dynamo.source import ConstantSource
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv
from torch.utils._sympy.numbers import int_oo

from ..core.errors import FxcostError
from ..core.options import Options
from ..pipeline.run import count

FIELDS = ("flops", "macs", "bytes_read", "bytes_written")


@dataclass
class Derived:
    """One symbolic run: the totals and conditions in the user's symbols (sizes in ``fixed``
    taken as those integers), the recorded nodes and their ShapeEnv-to-symbols conversion."""

    hints: dict[str, int]
    symbols: dict[str, sympy.Symbol]
    totals: dict[str, sympy.Expr]
    valid: list[sympy.Basic]
    nodes: list
    info: dict
    convert: Any


def derive(
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    pairs: dict,
    hints: dict[str, int],
    opts: Options,
    fixed: dict[str, int] | None = None,
) -> Derived:
    fixed = fixed or {}
    env = ShapeEnv(duck_shape=False)  # equal example sizes must not share a symbol
    free = [name for name in pairs if name not in fixed]
    raw = {name: env.create_symbol(hints[name], ConstantSource(name), dynamic_dim=DimDynamic.DYNAMIC) for name in free}
    sizes = {
        name: env.create_symintnode(sym, hint=hints[name], source=ConstantSource(name)) for name, sym in raw.items()
    }
    symbols = {name: sympy.Symbol(name, integer=True, positive=True) for name in free}
    ours = {sym: symbols[name] for name, sym in raw.items()}
    # plain meta tensors carry the symbolic sizes (meta kernels take SymInts; the Python
    # dispatcher gives the ops without a SymInt kernel their Python decompositions): a
    # FakeTensorMode would add nothing here and cost four times as much per op
    with enable_python_dispatcher(), _eager_decompositions():
        sargs, skwargs = _symbolic_inputs(args, kwargs, pairs, {**sizes, **fixed})
        try:
            counted = count(model, sargs, skwargs, opts, symbolic_sizes=True)
        except FxcostError as e:
            raise FxcostError(f"{e} (while deriving the formula in {', '.join(pairs)})") from e
    _check_not_specialized(env, raw, ours)

    def expr(raw: sympy.Expr) -> sympy.Expr:
        return sympy.expand(env.simplify(raw).xreplace(ours))

    totals = {f: expr(total) for f, total in sums(counted.records, [""])[""].items()}
    return Derived(
        hints, symbols, totals, _valid(env, ours, symbols, model, pairs), counted.records, counted.capture.info(), expr
    )


def valid_at_one(
    general: Derived, model: nn.Module, args: tuple, kwargs: dict, pairs: dict, opts: Options
) -> list[sympy.Basic]:
    """``general.valid``, with ``S >= 2`` relaxed to ``S >= 1`` for each symbol proven at 1.

    For every set of symbols fixed at 1 (the rest kept symbolic) that the other conditions do not
    already exclude, the model is run again and its formula must equal the general one with those
    symbols at 1, under no new condition. A symbol
    in any set that differs (a model that squeezes a size-1 batch, say) keeps ``S >= 2``: then
    every point the relaxed conditions admit was proven. Past three symbols (15 runs and more)
    nothing is relaxed."""
    names = list(general.symbols)
    if len(names) > 3:
        return general.valid
    floor = {name: sympy.Ge(general.symbols[name], 2) for name in names}
    differs: set[str] = set()
    for k in range(1, len(names) + 1):
        for subset in itertools.combinations(names, k):
            if not differs.issuperset(subset) and not _holds_at_one(
                general, model, args, kwargs, pairs, opts, subset, floor
            ):
                differs.update(subset)
    relaxed = {floor[n]: sympy.Ge(general.symbols[n], 1, evaluate=False) for n in names if n not in differs}
    return [relaxed.get(c, c) for c in general.valid]


def _holds_at_one(
    general: Derived,
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    pairs: dict,
    opts: Options,
    subset: tuple[str, ...],
    floor: dict[str, sympy.Basic],
) -> bool:
    ones = {general.symbols[n]: 1 for n in subset}
    kept = [c.xreplace(ones) for c in general.valid if c not in (floor[n] for n in subset)]
    if any(c is sympy.false for c in kept):  # the other conditions exclude these sizes anyway
        return True
    try:
        at_one = derive(model, args, kwargs, pairs, general.hints, opts, fixed={n: 1 for n in subset})
    except FxcostError:  # the model cannot run there (or fixes another size there): not proven
        return False
    for f in FIELDS:
        diff = sympy.expand(general.totals[f].xreplace(ones) - at_one.totals[f])
        if diff != 0 and sympy.simplify(diff) != 0:
            return False
    return all(c in kept for c in at_one.valid)


def _raw(v: Any) -> sympy.Expr:
    return v.node.expr if isinstance(v, torch.SymInt) else sympy.Integer(v)


def sums(nodes: list, paths: list[str]) -> dict[str, dict[str, sympy.Expr]]:
    """Per module path in ``paths`` (with what nests in it), each field's sum over its nodes,
    in the ShapeEnv's symbols: one sympy Add per sum (adding SymInts one by one is quadratic)."""
    terms: dict[str, dict[str, list]] = {p: {f: [] for f in FIELDS} for p in paths}
    for n in nodes:
        parts = n.module.split(".") if n.module else []
        for i in range(len(parts) + 1):
            acc = terms.get(".".join(parts[:i]))
            if acc is not None:
                for f in FIELDS:
                    acc[f].append(_raw(getattr(n.cost, f)))
    return {p: {f: sympy.Add(*ts) for f, ts in fields_.items()} for p, fields_ in terms.items()}


@contextlib.contextmanager
def _eager_decompositions() -> Iterator[None]:
    """Under the Python dispatcher some ops take Python kernels that eager PyTorch does not run:
    composite ops (``matmul``...) decompose into other aten ops than their C++ forms, and
    ``aten.nll_loss`` takes a Python meta kernel (a reference that specializes the batch size
    and that autograd cannot differentiate) instead of its composite form. Set those aside, so
    that the symbolic run records the ops an eager run records."""
    aside = [(op, key, op.py_kernels.pop(key)) for op, key in _python_decompositions()]
    for op, _, _ in aside:
        op._dispatch_cache.clear()
    try:
        yield
    finally:
        for op, key, kernel in aside:
            op.py_kernels[key] = kernel
            op._dispatch_cache.clear()


def _python_decompositions() -> list[tuple[Any, DispatchKey]]:
    return [(op, key) for op, key in _candidates() if key in op.py_kernels]


@functools.cache
def _candidates() -> tuple[tuple[Any, DispatchKey], ...]:
    """The aten ops that carry a Python composite kernel (found once: a scan of every aten op)."""
    found = [(torch.ops.aten.nll_loss.default, DispatchKey.Meta)]
    for name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, name, None)
        if isinstance(packet, torch._ops.OpOverloadPacket):
            for overload in packet.overloads():
                op = getattr(packet, overload)
                if DispatchKey.CompositeImplicitAutograd in op.py_kernels:
                    found.append((op, DispatchKey.CompositeImplicitAutograd))
    return tuple(found)


def input_tensor(key: int | str, args: tuple, kwargs: dict) -> torch.Tensor:
    value = args[key] if isinstance(key, int) and key < len(args) else kwargs.get(key) if isinstance(key, str) else None
    if not isinstance(value, torch.Tensor):
        have = [*range(len(args)), *kwargs]
        raise FxcostError(
            f"dims names input {key!r}, which is not a tensor input; the inputs are {have}. "
            "Fix: a positional index or a keyword of a tensor input."
        )
    return value


def _symbolic_inputs(args: tuple, kwargs: dict, pairs: dict, sizes: dict) -> tuple[tuple, dict]:
    """Meta copies of the inputs, with the named axes symbolic."""
    axes: dict[int | str, dict[int, Any]] = {}
    for name, where in pairs.items():
        for key, axis in where:
            t = input_tensor(key, args, kwargs)
            axes.setdefault(key, {})[axis % t.dim()] = sizes[name]

    def fake(key: int | str, t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return t
        shape = [axes.get(key, {}).get(i, n) for i, n in enumerate(t.shape)]
        out = torch.empty(shape, dtype=t.dtype, device="meta")
        return out.requires_grad_(t.requires_grad) if t.is_floating_point() else out

    return (tuple(fake(i, a) for i, a in enumerate(args)), {k: fake(k, v) for k, v in kwargs.items()})


def _check_not_specialized(env: ShapeEnv, raw: dict, ours: dict) -> None:
    """A symbol the model fixed to one value (``if L == 128``) or tied to another is no longer
    free: the formula would silently hold at one size only. Say where."""
    for name, sym in raw.items():
        now = env.simplify(sym)
        vr = env.var_to_range.get(sym)
        if now == sym and vr is not None and vr.lower == vr.upper:  # pinned by its range
            now = vr.lower
        if now != sym:
            where = next((g for g in env.guards if sym in g.expr.free_symbols), None)
            at = f" at {where.sloc}" if where is not None else ""
            raise FxcostError(
                f"the model fixes {name} to {now.xreplace(ours)}{at}: its cost is not a formula in "
                f"{name}. Fix: drop {name} from dims, or change what the model branches on."
            )


def _valid(env: ShapeEnv, ours: dict, symbols: dict, model: nn.Module, pairs: dict) -> list[sympy.Basic]:
    """Where the formula holds: each symbol's range, what the model branched on, and a
    transformers model's position limit for a symbol sizing the sequence axis."""
    conds: list[sympy.Basic] = []
    for sym, mine in ours.items():
        vr = env.var_to_range.get(sym)
        if vr is not None:
            conds.append(sympy.Ge(mine, int(vr.lower)))
            if vr.upper not in (int_oo, sympy.oo):
                conds.append(sympy.Le(mine, int(vr.upper)))
    for g in env.guards:
        cond = env.simplify(g.expr).xreplace(ours)
        if cond is not sympy.true and cond not in conds:
            conds.append(cond)
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if isinstance(limit, int):
        for name, where in pairs.items():
            if name in symbols and any(key in ("input_ids", "inputs_embeds") and axis == 1 for key, axis in where):
                conds.append(sympy.Le(symbols[name], limit))
    return conds


__all__ = ["Derived", "derive", "valid_at_one", "sums", "input_tensor", "FIELDS"]

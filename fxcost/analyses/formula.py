"""Front-end: ``fxcost.formula``, what a model costs as an exact formula of its input sizes.

The named dims of the inputs become symbolic sizes in torch's own ``ShapeEnv`` (as
``torch.export``'s dynamic dims do). The model runs once on fake tensors that carry them,
recorded as ``profile`` records it, and every rule computes with the symbolic sizes, so each
total is a sympy expression in the user's symbols: exact, never fitted. Strided convolutions and
pools give floor divisions (torch's ``FloorDiv``, printed ``//``). A size the model or a rule
branches on becomes a condition in ``Formula.valid``; a size the model fixes to one value is an
error naming where.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import sympy
import torch
from torch import nn
from torch._C import DispatchKey
from torch._dispatch.python import enable_python_dispatcher
from torch._dynamo.source import ConstantSource
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv
from torch.utils._sympy.functions import CeilDiv, FloorDiv
from torch.utils._sympy.numbers import int_oo

from ..core.cost import Cost
from ..core.errors import FxcostError
from ..core.guards import gc_paused
from ..core.inputs import checked
from ..core.options import Options
from ..pipeline.run import count
from ..reports.format import grid
from ..reports.report import Report

FIELDS = ("flops", "macs", "bytes_read", "bytes_written")
#: What a name in ``dims`` sizes: (input, axis) pairs; an input is a positional index or a keyword.
Dims = dict[str, Sequence[tuple[int | str, int]]]
#: torch's integer functions, as Python evaluates them (exact integers, no floats).
_EVAL = {"FloorDiv": operator.floordiv, "CeilDiv": lambda a, b: -(-a // b), "Mod": operator.mod,
         "PythonMod": operator.mod, "Min": min, "Max": max}


@dataclass
class Formula:
    """A model's cost as sympy expressions in the symbols of ``dims``.

    ``flops``, ``macs``, ``bytes_read``, ``bytes_written``: the totals; ``f(**sizes)`` or
    ``f.evaluate(**sizes)``: a ``Cost`` at those sizes; ``f.by_module(depth)``: per-module
    formulas; ``f.sweep(**lists)``: many sizes at once; ``f.valid``: the conditions (on the
    symbols) under which the formula holds.
    """

    symbols: dict[str, sympy.Symbol]
    example: dict[str, int]
    totals: dict[str, sympy.Expr]
    valid: list[sympy.Basic]
    report: Report | None = field(repr=False)
    convert: Any = field(default=None, repr=False)  # a ShapeEnv expression -> one in the symbols
    _fns: dict[str, Any] = field(default_factory=dict, repr=False)

    flops = property(lambda self: self.totals["flops"], doc="Total FLOPs.")
    macs = property(lambda self: self.totals["macs"], doc="Total MACs.")
    bytes_read = property(lambda self: self.totals["bytes_read"], doc="Total bytes read.")
    bytes_written = property(lambda self: self.totals["bytes_written"], doc="Total bytes written.")

    def table(self, depth: int | None = 2, fmt: str = "plain") -> str:
        """The totals, then each module's MACs and FLOPs formulas (``fmt``: "plain" or "github")."""
        rows = [[path or "(model)", str(v["macs"]), str(v["flops"])] for path, v in self.by_module(depth).items()]
        table = grid(rows, ["module", "MACs", "FLOPs"], fmt)
        sizes = ", ".join(f"{k} (example {v})" for k, v in self.example.items())
        name = self.report.model if self.report is not None else "model"
        return f"{name}: cost as a formula of {sizes}\n{self}\n\n{table}"

    def evaluate(self, check: bool = True, **sizes: int) -> Cost:
        """The cost at ``sizes`` (every symbol given). ``check``: refuse sizes outside ``valid``."""
        values = self._sizes(sizes)
        if check:
            self._check_valid(values)
        return Cost(**{f: self._fn(f)(*values.values()) for f in FIELDS})

    __call__ = evaluate

    def _check_valid(self, values: dict[str, int]) -> None:
        if "valid" not in self._fns:  # one compiled test per condition: a sweep checks every point
            self._fns["valid"] = [sympy.lambdify(list(self.symbols.values()), c, modules=[_EVAL, math])
                                  for c in self.valid]
        row = [values[k] for k in self.symbols]
        for cond, holds in zip(self.valid, self._fns["valid"]):
            if not bool(holds(*row)):
                raise FxcostError(f"{_named(values)} is outside where the formula holds: {cond} is false. "
                                  "Fix: profile() that size (or pass check=False at your own risk).")

    def sweep(self, check: bool = True, **sizes: Sequence[int] | int) -> dict[str, list[int]]:
        """The totals at many sizes: each symbol a list (all of one length) or one int; returns
        {"flops": [...], "macs": [...], ...}, exact integers. ``check``: refuse sizes outside
        ``valid``, as ``evaluate`` does."""
        lists = {k: (list(v) if not isinstance(v, int) else None) for k, v in sizes.items()}
        n = max((len(v) for v in lists.values() if v is not None), default=1)
        if any(v is not None and len(v) != n for v in lists.values()):
            raise FxcostError("sweep() lists must have one length. Fix: pass equal-length lists (or single ints).")
        columns = {k: (v if v is not None else [sizes[k]] * n) for k, v in lists.items()}
        self._sizes({k: c[0] for k, c in columns.items()} if n else {k: 0 for k in columns})
        order = [columns[k] for k in self.symbols]
        if check:
            for row in zip(*order):
                self._check_valid(dict(zip(self.symbols, row)))
        return {f: [self._fn(f)(*row) for row in zip(*order)] for f in FIELDS}

    def by_module(self, depth: int | None = None) -> dict[str, dict[str, sympy.Expr]]:
        """Per module path (to ``depth``: 0 the model, 1 its children ...), in the model's
        module order, its FLOPs, MACs and bytes as formulas (with what nests in it)."""
        if self.report is None:
            raise FxcostError("a formula read from JSON has no per-module formulas. Fix: fxcost.formula(model, ...).")
        paths = [p for p in self.report.modules if depth is None or (p.count(".") + 1 if p else 0) <= depth]
        sums = _sums(self.report.nodes, paths)
        return {p: {f: self.convert(e) for f, e in sums[p].items()} for p in paths
                if any(e != 0 for e in sums[p].values())}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: expressions as strings."""
        return {"symbols": dict(self.example), **{f: str(e) for f, e in self.totals.items()},
                "valid": [str(c) for c in self.valid]}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Formula":
        """A formula read back from ``to_dict``'s JSON: totals, validity, evaluation and sweeps
        (per-module formulas need the model: ``by_module`` is not available)."""
        try:
            symbols = {k: sympy.Symbol(k, integer=True, positive=True) for k in d["symbols"]}
            names = {**symbols, "FloorDiv": FloorDiv, "CeilDiv": CeilDiv, "Max": sympy.Max, "Min": sympy.Min}
            totals = {f: sympy.sympify(d[f], locals=names) for f in FIELDS}
            valid = [sympy.sympify(c, locals=names) for c in d.get("valid", [])]
        except (KeyError, TypeError, sympy.SympifyError) as e:
            raise FxcostError(f"not a formula's JSON ({type(e).__name__}: {e}). Fix: write it with "
                              "fxcost profile --symbolic ... --format json.") from e
        return cls(symbols, dict(d["symbols"]), totals, valid, None)

    def __str__(self) -> str:
        lines = [f"{f} = {e}" for f, e in self.totals.items()]
        if self.valid:
            lines.append("valid where " + ", ".join(str(c) for c in self.valid))
        return "\n".join(lines)

    # -- internals ----------------------------------------------------------------------------
    def _sizes(self, sizes: dict[str, int]) -> dict[str, int]:
        missing = [k for k in self.symbols if k not in sizes]
        extra = [k for k in sizes if k not in self.symbols]
        if missing or extra:
            raise FxcostError(f"the formula's symbols are {', '.join(self.symbols)}; "
                              + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}")
                              + f". Fix: f({', '.join(f'{k}=...' for k in self.symbols)}).")
        return {k: int(sizes[k]) for k in self.symbols}

    def _fn(self, name: str) -> Any:
        if name not in self._fns:
            self._fns[name] = sympy.lambdify(list(self.symbols.values()), self.totals[name], modules=[_EVAL, math])
        return self._fns[name]


def _named(values: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


@gc_paused()
def formula(model: nn.Module, args: tuple = (), kwargs: dict | None = None, dims: Dims | None = None,
            **options: Any) -> Formula:
    """The cost of ``model(*args, **kwargs)`` as a formula of the sizes named in ``dims``.

    ``dims`` maps a symbol name to the (input, axis) pairs it sizes; an input is a positional
    index or a keyword name, and one name may size several inputs:
    ``dims={"B": [("input_ids", 0)], "L": [("input_ids", 1), ("attention_mask", 1)]}``. The
    example inputs give the dtypes and the other sizes; batch 1 is a fine example. The formula is
    derived at sizes of at least 2 (PyTorch takes other paths at 1: broadcasting, squeezes) and
    holds at 1 too where a run at 1 proves it equal (``f.valid`` says ``B >= 1``, not ``B >= 2``).
    ``options`` are ``profile``'s counting options (``flops``, ``attention``,
    ``backward``, ``registry``, ``strict``).
    """
    opts = Options.of("formula", **options)
    if opts.real or opts.memory or opts.capture != "auto":
        raise FxcostError("formula() counts on meta tensors with symbolic sizes: real, memory and capture do not "
                          "apply. Fix: drop them (profile() has them).")
    model, args, kwargs = checked(model, args, kwargs)
    pairs = _check_dims(dims, args, kwargs)
    example = {name: _example_size(name, where, args, kwargs) for name, where in pairs.items()}
    # derived at sizes of at least 2 (PyTorch branches on 0 and 1: broadcasting, squeezes),
    # then extended down to 1 where the formula is proven to hold there
    general = _derive(model, args, kwargs, pairs, {n: max(v, 2) for n, v in example.items()}, opts)
    report = Report.of_model(model, general.nodes, {**general.info, "sizes": "symbolic"}, opts.counting(), opts)
    report.check_strict(opts.strict)
    valid = _valid_at_one(general, model, args, kwargs, pairs, opts)
    return Formula(general.symbols, example, general.totals, valid, report, general.convert)


@dataclass
class _Derived:
    """One symbolic run: the totals and conditions in the user's symbols (sizes in ``fixed``
    taken as those integers), the recorded nodes and their ShapeEnv-to-symbols conversion."""

    hints: dict[str, int]
    symbols: dict[str, sympy.Symbol]
    totals: dict[str, sympy.Expr]
    valid: list[sympy.Basic]
    nodes: list
    info: dict
    convert: Any


def _derive(model: nn.Module, args: tuple, kwargs: dict, pairs: dict, hints: dict[str, int], opts: Options,
            fixed: dict[str, int] | None = None) -> _Derived:
    fixed = fixed or {}
    env = ShapeEnv(duck_shape=False)  # equal example sizes must not share a symbol
    free = [name for name in pairs if name not in fixed]
    raw = {name: env.create_symbol(hints[name], ConstantSource(name), dynamic_dim=DimDynamic.DYNAMIC) for name in free}
    sizes = {name: env.create_symintnode(sym, hint=hints[name], source=ConstantSource(name)) for name, sym in raw.items()}
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

    totals = {f: expr(total) for f, total in _sums(counted.records, [""])[""].items()}
    return _Derived(hints, symbols, totals, _valid(env, ours, symbols, model, pairs), counted.records,
                    counted.capture.info(), expr)


def _valid_at_one(general: _Derived, model: nn.Module, args: tuple, kwargs: dict, pairs: dict,
                  opts: Options) -> list[sympy.Basic]:
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
            if not differs.issuperset(subset) and not _holds_at_one(general, model, args, kwargs, pairs, opts,
                                                                    subset, floor):
                differs.update(subset)
    relaxed = {floor[n]: sympy.Ge(general.symbols[n], 1, evaluate=False) for n in names if n not in differs}
    return [relaxed.get(c, c) for c in general.valid]


def _holds_at_one(general: _Derived, model: nn.Module, args: tuple, kwargs: dict, pairs: dict, opts: Options,
                  subset: tuple[str, ...], floor: dict[str, sympy.Basic]) -> bool:
    ones = {general.symbols[n]: 1 for n in subset}
    kept = [c.xreplace(ones) for c in general.valid if c not in (floor[n] for n in subset)]
    if any(c is sympy.false for c in kept):  # the other conditions exclude these sizes anyway
        return True
    try:
        at_one = _derive(model, args, kwargs, pairs, general.hints, opts, fixed={n: 1 for n in subset})
    except FxcostError:  # the model cannot run there (or fixes another size there): not proven
        return False
    for f in FIELDS:
        diff = sympy.expand(general.totals[f].xreplace(ones) - at_one.totals[f])
        if diff != 0 and sympy.simplify(diff) != 0:
            return False
    return all(c in kept for c in at_one.valid)


def _raw(v: Any) -> sympy.Expr:
    return v.node.expr if isinstance(v, torch.SymInt) else sympy.Integer(v)


def _sums(nodes: list, paths: list[str]) -> dict[str, dict[str, sympy.Expr]]:
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


def _check_dims(dims: Any, args: tuple, kwargs: dict) -> dict[str, list[tuple[int | str, int]]]:
    if not isinstance(dims, dict) or not dims:
        raise FxcostError("formula() needs dims: a symbol name -> the (input, axis) pairs it sizes. Fix: "
                          "dims={'B': [('input_ids', 0)], 'L': [('input_ids', 1)]} or {'B': [(0, 0)]}.")
    out: dict[str, list[tuple[int | str, int]]] = {}
    owner: dict[tuple, str] = {}
    for name, where in dims.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise FxcostError(f"dims key {name!r} is not a symbol name. Fix: a Python identifier such as 'B'.")
        where = [where] if isinstance(where, tuple) else list(where)
        for item in where:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], int)):
                raise FxcostError(f"dims[{name!r}] holds {item!r}; each entry is an (input, axis) pair. "
                                  "Fix: dims={'L': [('input_ids', 1)]}.")
            t = _input(item[0], args, kwargs)  # exists and is a tensor
            axis = (item[0], item[1] % t.dim() if t.dim() else item[1])
            if axis in owner:
                raise FxcostError(f"dims gives input {item[0]!r} axis {item[1]} two names, {owner[axis]!r} and "
                                  f"{name!r}. Fix: one name per axis.")
            owner[axis] = name
        out[name] = where
    return out


def _input(key: int | str, args: tuple, kwargs: dict) -> torch.Tensor:
    value = args[key] if isinstance(key, int) and key < len(args) else kwargs.get(key) if isinstance(key, str) else None
    if not isinstance(value, torch.Tensor):
        have = [*range(len(args)), *kwargs]
        raise FxcostError(f"dims names input {key!r}, which is not a tensor input; the inputs are {have}. "
                          "Fix: a positional index or a keyword of a tensor input.")
    return value


def _example_size(name: str, where: list, args: tuple, kwargs: dict) -> int:
    values = set()
    for key, axis in where:
        t = _input(key, args, kwargs)
        if not -t.dim() <= axis < t.dim():
            raise FxcostError(f"dims[{name!r}]: input {key!r} has {t.dim()} dims, no axis {axis}.")
        values.add(int(t.shape[axis]))
    if len(values) > 1:
        raise FxcostError(f"dims[{name!r}] sizes axes of different lengths {sorted(values)} in the example inputs. "
                          "Fix: give them one length, or use one symbol per length.")
    value = values.pop()
    if value < 1:
        raise FxcostError(f"dims[{name!r}] is {value} in the example inputs: an empty input has no cost to derive. "
                          "Fix: an example size >= 1.")
    return value


def _symbolic_inputs(args: tuple, kwargs: dict, pairs: dict, sizes: dict) -> tuple[tuple, dict]:
    """Meta copies of the inputs, with the named axes symbolic."""
    axes: dict[int | str, dict[int, Any]] = {}
    for name, where in pairs.items():
        for key, axis in where:
            t = _input(key, args, kwargs)
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
            raise FxcostError(f"the model fixes {name} to {now.xreplace(ours)}{at}: its cost is not a formula in "
                              f"{name}. Fix: drop {name} from dims, or change what the model branches on.")


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


__all__ = ["formula", "Formula"]

"""Analyses: ``fxcost.formula``, what a model costs as an exact formula of its input sizes.

The named dims of the inputs become symbolic sizes in torch's own ``ShapeEnv`` (as
``torch.export``'s dynamic dims do). The model runs once on fake tensors that carry them,
recorded as ``profile`` records it, and every rule computes with the symbolic sizes, so each
total is a sympy expression in the user's symbols: exact, never fitted. Strided convolutions and
pools give floor divisions (torch's ``FloorDiv``, printed ``//``). A size the model or a rule
branches on becomes a condition in ``Formula.valid``; a size the model fixes to one value is an
error naming where.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
from torch import nn
from torch.utils._sympy.functions import CeilDiv, FloorDiv

from ..core.concurrency import per_model
from ..core.cost import Cost
from ..core.errors import FxcostError
from ..core.guards import gc_paused
from ..core.inputs import checked
from ..core.options import Options
from ..reports.format import Displayed, grid
from ..reports.report import Report
from .derive import FIELDS, derive, input_tensor, sums, valid_at_one

#: What a name in ``dims`` sizes: (input, axis) pairs; an input is a positional index or a keyword.
Dims = dict[str, Sequence[tuple[int | str, int]]]
#: torch's integer functions, as Python evaluates them (exact integers, no floats).
_EVAL = {
    "FloorDiv": operator.floordiv,
    "CeilDiv": lambda a, b: -(-a // b),
    "Mod": operator.mod,
    "PythonMod": operator.mod,
    "Min": min,
    "Max": max,
}


@dataclass
class Formula(Displayed):
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
    model: str = "model"  # the model's class name, for titles
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
        return f"{self.model}: cost as a formula of {sizes}\n{self}\n\n{table}"

    def evaluate(self, check: bool = True, **sizes: int) -> Cost:
        """The cost at ``sizes`` (every symbol given). ``check``: refuse sizes outside ``valid``."""
        values = self._sizes(sizes)
        if check:
            self._check_valid(values)
        return Cost(**{f: self._fn(f)(*values.values()) for f in FIELDS})

    __call__ = evaluate

    def holds(self, **sizes: int) -> bool:
        """Whether the formula holds at ``sizes`` (every symbol given): all of ``valid`` true."""
        return self._false_condition(self._sizes(sizes)) is None

    def _false_condition(self, values: dict[str, int]) -> sympy.Basic | None:
        if "valid" not in self._fns:  # one compiled test per condition: a sweep checks every point
            self._fns["valid"] = [
                sympy.lambdify(list(self.symbols.values()), c, modules=[_EVAL, math]) for c in self.valid
            ]
        row = [values[k] for k in self.symbols]
        return next((c for c, holds in zip(self.valid, self._fns["valid"]) if not bool(holds(*row))), None)

    def _check_valid(self, values: dict[str, int]) -> None:
        cond = self._false_condition(values)
        if cond is not None:
            raise FxcostError(
                f"{_named(values)} is outside where the formula holds: {cond} is false. "
                "Fix: profile() that size (or pass check=False at your own risk)."
            )

    def sweep(self, check: bool = True, **sizes: Sequence[int] | int) -> dict[str, list[int]]:
        """The totals at many sizes: each symbol a list (all of one length) or one int; returns
        {"flops": [...], "macs": [...], ...}, exact integers. ``check``: refuse sizes outside
        ``valid``, as ``evaluate`` does."""
        lists = {k: (list(v) if not isinstance(v, int) else None) for k, v in sizes.items()}
        n = max((len(v) for v in lists.values() if v is not None), default=1)
        if any(v is not None and len(v) != n for v in lists.values()):
            raise FxcostError("sweep() lists must have one length. Fix: pass equal-length lists (or single ints).")
        columns: dict[str, list[Any]] = {k: (v if v is not None else [sizes[k]] * n) for k, v in lists.items()}
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
        per_path = sums(self.report.nodes, paths)
        return {
            p: {f: self.convert(e) for f, e in per_path[p].items()}
            for p in paths
            if any(e != 0 for e in per_path[p].values())
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: expressions as strings."""
        return {
            "model": self.model,
            "symbols": dict(self.example),
            **{f: str(e) for f, e in self.totals.items()},
            "valid": [str(c) for c in self.valid],
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Formula:
        """A formula read back from ``to_dict``'s JSON: totals, validity, evaluation and sweeps
        (per-module formulas need the model: ``by_module`` is not available)."""
        try:
            symbols = {k: sympy.Symbol(k, integer=True, positive=True) for k in d["symbols"]}
            names = {**symbols, "FloorDiv": FloorDiv, "CeilDiv": CeilDiv, "Max": sympy.Max, "Min": sympy.Min}
            totals = {f: sympy.sympify(d[f], locals=names) for f in FIELDS}
            valid = [sympy.sympify(c, locals=names) for c in d.get("valid", [])]
        except (KeyError, TypeError, sympy.SympifyError) as e:
            raise FxcostError(
                f"not a formula's JSON ({type(e).__name__}: {e}). Fix: write it with "
                "fxcost profile --symbolic ... --format json."
            ) from e
        return cls(symbols, dict(d["symbols"]), totals, valid, None, model=str(d.get("model", "model")))

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
            raise FxcostError(
                f"the formula's symbols are {', '.join(self.symbols)}; "
                + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}")
                + f". Fix: f({', '.join(f'{k}=...' for k in self.symbols)})."
            )
        return {k: int(sizes[k]) for k in self.symbols}

    def _fn(self, name: str) -> Any:
        if name not in self._fns:
            self._fns[name] = self.function(self.totals[name])
        return self._fns[name]

    def expression(self, value: Any) -> sympy.Expr:
        """A count read off ``self.report`` (``report.model_flops.macs``: a symbolic size of the
        derivation) as an expression in the formula's symbols."""
        return self.convert(value.node.expr) if isinstance(value, torch.SymInt) else sympy.Integer(value)

    def function(self, expr: sympy.Expr) -> Any:
        """``expr`` (in the formula's symbols) compiled to a fast function of their values, in the
        order of ``self.symbols``: a training loop evaluates it per batch."""
        return sympy.lambdify(list(self.symbols.values()), expr, modules=[_EVAL, math])


def _named(values: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


@per_model
@gc_paused()
def formula(
    model: nn.Module, args: tuple = (), kwargs: dict | None = None, dims: Dims | None = None, **options: Any
) -> Formula:
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
        raise FxcostError(
            "formula() counts on meta tensors with symbolic sizes: real, memory and capture do not "
            "apply. Fix: drop them (profile() has them)."
        )
    model, args, kwargs = checked(model, args, kwargs)
    pairs = _check_dims(dims, args, kwargs)
    example = {name: _example_size(name, where, args, kwargs) for name, where in pairs.items()}
    # derived at sizes of at least 2 (PyTorch branches on 0 and 1: broadcasting, squeezes),
    # then extended down to 1 where the formula is proven to hold there
    general = derive(model, args, kwargs, pairs, {n: max(v, 2) for n, v in example.items()}, opts)
    report = Report.of_model(model, general.nodes, {**general.info, "sizes": "symbolic"}, opts.counting(), opts)
    report.check_strict(opts.strict)
    valid = valid_at_one(general, model, args, kwargs, pairs, opts)
    return Formula(general.symbols, example, general.totals, valid, report, general.convert, type(model).__name__)


def _check_dims(dims: Any, args: tuple, kwargs: dict) -> dict[str, list[tuple[int | str, int]]]:
    if not isinstance(dims, dict) or not dims:
        raise FxcostError(
            "formula() needs dims: a symbol name -> the (input, axis) pairs it sizes. Fix: "
            "dims={'B': [('input_ids', 0)], 'L': [('input_ids', 1)]} or {'B': [(0, 0)]}."
        )
    out: dict[str, list[tuple[int | str, int]]] = {}
    owner: dict[tuple, str] = {}
    for name, where in dims.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise FxcostError(f"dims key {name!r} is not a symbol name. Fix: a Python identifier such as 'B'.")
        where = [where] if isinstance(where, tuple) else list(where)
        for item in where:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], int)):
                raise FxcostError(
                    f"dims[{name!r}] holds {item!r}; each entry is an (input, axis) pair. "
                    "Fix: dims={'L': [('input_ids', 1)]}."
                )
            t = input_tensor(item[0], args, kwargs)  # exists and is a tensor
            axis = (item[0], item[1] % t.dim() if t.dim() else item[1])
            if axis in owner:
                raise FxcostError(
                    f"dims gives input {item[0]!r} axis {item[1]} two names, {owner[axis]!r} and "
                    f"{name!r}. Fix: one name per axis."
                )
            owner[axis] = name
        out[name] = where
    return out


def _example_size(name: str, where: list, args: tuple, kwargs: dict) -> int:
    values = set()
    for key, axis in where:
        t = input_tensor(key, args, kwargs)
        if not -t.dim() <= axis < t.dim():
            raise FxcostError(f"dims[{name!r}]: input {key!r} has {t.dim()} dims, no axis {axis}.")
        values.add(int(t.shape[axis]))
    if len(values) > 1:
        raise FxcostError(
            f"dims[{name!r}] sizes axes of different lengths {sorted(values)} in the example inputs. "
            "Fix: give them one length, or use one symbol per length."
        )
    value = values.pop()
    if value < 1:
        raise FxcostError(
            f"dims[{name!r}] is {value} in the example inputs: an empty input has no cost to derive. "
            "Fix: an example size >= 1."
        )
    return value


__all__ = ["formula", "Formula"]

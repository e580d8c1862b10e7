"""What a rule is: a pure function of one ``OpCall`` (the call's arguments, output, module and
the count's options) that returns a ``Cost``; an ``Entry`` is one registered rule."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.cost import Cost, as_int, known_zero, sym_min
from ..core.options import DEFAULT, Options
from ..core.walk import tensors
from .signatures import positions

Rule = Callable[["OpCall"], Cost]
#: Optional shortcut for shape propagation on meta tensors: the op's output (meta tensors) from
#: its inputs' shapes alone, or None to run the op's meta kernel after all.
ShapeRule = Callable[["OpCall"], Any]


@dataclass(frozen=True)
class Entry:
    """A registered rule: the function, the op name it reports under, whether it moves data,
    an optional shape rule, and an optional rule for what the kernel itself recomputes (flash
    attention's backward re-running QKᵀ: hardware FLOPs, not model FLOPs)."""

    rule: Rule
    op: str
    moves_data: bool = True
    shape: ShapeRule | None = None
    recompute: Rule | None = None


class OpCall:
    """What a rule sees of one call: its arguments with tensors (real, meta or fake) in place of
    graph nodes, its output, the module for ``call_module`` nodes, and the count's ``Options``.

    ``node_op`` is FX's ``node.op`` ("call_module", "call_function", "call_method"); ``target``
    the module path, callable, method name or operator called."""

    __slots__ = ("node_op", "target", "args", "kwargs", "out", "module", "options")

    def __init__(
        self,
        node_op: str,
        target: Any,
        args: tuple,
        kwargs: dict,
        out: Any,
        module: nn.Module | None = None,
        options: Options = DEFAULT,
    ) -> None:
        self.node_op = node_op
        self.target = target
        self.args = args
        self.kwargs = kwargs
        self.out = out
        # Any: a rule reads the attributes its module type has (nn.LSTM.hidden_size ...)
        self.module: Any = module
        self.options = options

    @property
    def flops_mode(self) -> str:
        """``options.flops``: "exact" or "2mac"."""
        return self.options.flops

    @property
    def attention(self) -> str:
        """``options.attention``: "full" or "causal"."""
        return self.options.attention

    # -- tensors ---------------------------------------------------------------------------
    @property
    def inputs(self) -> list[torch.Tensor]:
        """Every tensor among the call's arguments, in order."""
        return tensors((self.args, self.kwargs))

    @property
    def x(self) -> torch.Tensor:
        """The first tensor argument (``self`` for a method, ``input`` for a function/module)."""
        for t in self.inputs:
            return t
        raise ValueError(f"{self.target} has no tensor input")

    @property
    def y(self) -> torch.Tensor:
        """The first tensor of the output."""
        for t in tensors(self.out):
            return t
        raise ValueError(f"{self.target} has no tensor output")

    @property
    def out_numel(self) -> int:
        """Elements over all output tensors."""
        return sum(t.numel() for t in tensors(self.out))

    # -- arguments -------------------------------------------------------------------------
    def arg(self, name: str, default: Any = None, *legacy: Any) -> Any:
        """The argument ``name``, however the call passed it: a ``call_module``'s attribute of
        that name (``nn.Softmax.dim``, ``nn.Conv2d.weight``), a keyword, or the positional
        argument at that name's place in the callee's signature (the module's ``forward``, the
        function's, the aten schema's; ``fxcost.signatures``). ``default`` when not passed.

        One rule thus serves ``nn.Softmax(dim)``, ``F.softmax(x, dim)``, ``x.softmax(dim)`` and
        ``aten._softmax(x, dim, half_to_float)``."""
        if not isinstance(name, str):
            if isinstance(name, int) and isinstance(default, str):  # the old call.arg(pos, name, default)
                warnings.warn(
                    "call.arg(pos, name) is deprecated: read arguments by name, call.arg(name)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return self.arg(default, legacy[0] if legacy else None)
            raise TypeError(f"call.arg() takes the argument's name, e.g. call.arg('dim'), not {name!r}")
        if self.module is not None and hasattr(self.module, name):
            return getattr(self.module, name)
        if name in self.kwargs:
            return self.kwargs[name]
        pos = positions(self.node_op, self.target, self.module, len(self.args), tuple(self.kwargs)).get(name)
        return self.args[pos] if pos is not None and pos < len(self.args) else default

    def get(self, name: str, pos: int | None = None, default: Any = None) -> Any:
        """Deprecated: ``call.arg(name, default)`` reads module attributes and arguments alike."""
        warnings.warn(
            "call.get(name, pos, default) is deprecated: use call.arg(name, default)", DeprecationWarning, stacklevel=2
        )
        return self.arg(name, default)

    # -- the one place the dot-product convention lives ---------------------------------
    def dots(self, macs: int, outputs: int) -> Cost:
        """Cost of ``outputs`` dot products totalling ``macs`` multiply-accumulates.

        ``exact`` (fxcost's default): a dot product of n is n multiplies and n-1 adds, so
        2*macs - outputs FLOPs. ``2mac`` (FlopCounterMode, MFU): 2*macs FLOPs.
        """
        macs, outputs = as_int(macs), as_int(outputs)
        if known_zero(macs):
            return Cost()
        # an output summing c >= 1 terms needs c - 1 adds; one that receives none (a strided
        # transposed conv's gaps) needs none: at most min(outputs, macs) outputs save an add
        flops = 2 * macs if self.flops_mode == "2mac" else 2 * macs - sym_min(outputs, macs)
        return Cost(flops=flops, macs=macs)

"""Helpers shared by the rule families."""

from __future__ import annotations

from typing import Any

import torch

from ..cost import Cost
from ..registry import OpCall, register_rule, method_names


def is_float(call: OpCall) -> bool:
    """True when the op touches a floating-point or complex tensor: integer and boolean
    arithmetic (index maths, masks) is not floating-point work and counts zero FLOPs."""
    for t in call.inputs:
        if t.is_floating_point() or t.is_complex():
            return True
    try:
        y = call.y
    except ValueError:
        return False
    return y.is_floating_point() or y.is_complex()


def attrs(owner: Any, *names: str) -> list[Any]:
    """``owner.name`` for each name that exists and is callable (ops come and go between torch
    releases; ``torch.float`` is a dtype, not an op)."""
    return [f for f in (getattr(owner, n, None) for n in names) if callable(f)]


def torch_forms(*names: str, dunder: bool = False) -> list[Any]:
    """Every spelling of an elementwise op: ``torch.NAME``, ``torch.NAME_``,
    ``torch.nn.functional.NAME(_)``, and the tensor methods ``NAME``, ``NAME_`` (``__NAME__``...)."""
    out: list[Any] = []
    for n in names:
        out += attrs(torch, n, n + "_") + attrs(torch.nn.functional, n, n + "_")
    return out + method_names(*names, dunder=dunder)


def per_element(op: str, k: int, *targets: Any, moves_data: bool = True):
    """Register ``op``: ``k`` FLOPs per output element (zero for integer/boolean tensors)."""

    def rule(call: OpCall) -> Cost:
        return Cost(flops=k * call.out_numel) if k and is_float(call) else Cost()

    rule.__name__ = rule.__qualname__ = op
    rule.__doc__ = f"{k} FLOP(s) per output element"
    return register_rule(*targets, op=op, moves_data=moves_data)(rule)

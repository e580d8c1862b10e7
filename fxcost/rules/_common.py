"""Helpers shared by the rule families."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import torch

from ..core.cost import Cost
from .registry import OpCall, ShapeRule, method_names, register_rule


def is_float(call: OpCall) -> bool:
    """True when the op touches a floating-point, complex or quantized tensor: integer and
    boolean arithmetic (index maths, masks) is not floating-point work and counts zero FLOPs; a
    quantized tensor stands for real numbers, and its ops count as their float ops."""
    for t in call.inputs:
        if t.is_floating_point() or t.is_complex() or t.is_quantized:
            return True
    try:
        y = call.y
    except ValueError:
        return False
    return y.is_floating_point() or y.is_complex() or y.is_quantized


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


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """The strides torch gives a fresh contiguous tensor of ``shape``."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _dense_strides(t: torch.Tensor) -> tuple[int, ...] | None:
    """``t``'s strides if they are exactly those of a fresh contiguous or channels-last tensor
    (layouts whose elementwise outputs keep them), else None. Tensors that are merely
    "contiguous" up to size-1 dims get other output strides from TensorIterator: declined."""
    stride = t.stride()
    if stride == contiguous_strides(t.shape):
        return stride
    if t.dim() == 4:
        _, c, h, w = t.shape
        if stride == (c * w * h, 1, c * w, c):
            return stride
    return None


def like_input(call: OpCall) -> torch.Tensor | None:
    """Shape rule of ops whose output has their input's shape, strides and dtype (activations,
    batch norm, dropout): a fresh meta tensor like the first tensor argument. None (run the
    kernel) unless that is a floating-point tensor in a fresh contiguous or channels-last layout
    and no dtype is asked for, the cases where the kernel's output is exactly that."""
    ins = call.inputs
    if not ins:
        return None
    x = ins[0]
    if not x.is_floating_point() or any(isinstance(a, torch.dtype) for a in (*call.args, *call.kwargs.values())):
        return None
    stride = _dense_strides(x)
    return None if stride is None else torch.empty_strided(x.shape, stride, dtype=x.dtype, device="meta")


def _broadcast_shape(shapes: list[Sequence[int]]) -> list[int] | None:
    """NumPy broadcasting of ``shapes``, or None where they do not broadcast (plain Python:
    ``torch.broadcast_shapes`` is a Python reference implementation, ten times slower)."""
    out = [1] * max(len(s) for s in shapes)
    for s in shapes:
        for i, n in enumerate(s, len(out) - len(s)):
            if n != 1:
                if out[i] != 1 and out[i] != n:
                    return None
                out[i] = n
    return out


def broadcast(call: OpCall) -> torch.Tensor | None:
    """Shape rule of binary arithmetic (add, sub, mul): the operands' broadcast shape and
    promoted dtype, contiguous. None (run the kernel) for anything else: operands not in a fresh
    contiguous layout, an ``out=``, bool results, or operands that do not broadcast (the
    kernel's error is the user's)."""
    a, b = (call.args + (None, None))[:2]
    ts = [v for v in (a, b) if isinstance(v, torch.Tensor)]
    if not ts or "out" in call.kwargs or not all(isinstance(v, (torch.Tensor, bool, int, float)) for v in (a, b)):
        return None
    if not all(t.stride() == contiguous_strides(t.shape) for t in ts):
        return None
    shape = _broadcast_shape([t.shape for t in ts])
    if shape is None:
        return None
    dtype = torch.result_type(a, b)
    if dtype == torch.bool:  # bool subtraction is an error, bool add/mul is logic: the kernel knows
        return None
    return torch.empty(shape, dtype=dtype, device="meta")


def per_element(op: str, k: int, *targets: Any, moves_data: bool = True, shape: ShapeRule | None = None, why: str = ""):
    """Register ``op``: ``k`` FLOPs per output element (zero for integer/boolean tensors);
    ``why`` names the operations counted (the rule's docstring, and so the README table)."""

    def rule(call: OpCall) -> Cost:
        return Cost(flops=k * call.out_numel) if k and is_float(call) else Cost()

    rule.__name__ = rule.__qualname__ = op
    rule.__module__ = sys._getframe(1).f_globals["__name__"]  # the family registering it
    rule.__doc__ = f"{k} per output element" + (f" ({why})" if why else "")
    return register_rule(*targets, op=op, moves_data=moves_data, shape=shape)(rule)

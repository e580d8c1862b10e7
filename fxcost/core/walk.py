"""Core: walking the nested values that model inputs, outputs and FX arguments are made of."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_leaves, tree_map


def leaves(value: Any) -> list[Any]:
    """The leaves of the plain containers FX arguments are made of (tuple, list, dict), fast;
    other pytrees (namedtuples, ModelOutput) through torch's pytree."""
    out: list[Any] = []
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is tuple or t is list:
            stack.extend(reversed(v))
        elif t is dict:
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, (tuple, list, dict)):
            stack.extend(reversed(tree_leaves(v)))
        else:
            out.append(v)
    return out


def map_tensors(fn: Callable[[torch.Tensor], Any], value: Any) -> Any:
    """``value`` with ``fn`` applied to each tensor in it; plain containers fast, other pytrees
    through torch's pytree."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    t = type(value)
    if t is tuple or t is list:
        return t(map_tensors(fn, v) for v in value)
    if t is dict:
        return {k: map_tensors(fn, v) for k, v in value.items()}
    if isinstance(value, (tuple, list, dict)):
        return tree_map(lambda v: fn(v) if isinstance(v, torch.Tensor) else v, value)
    return value


def tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in a (nested) value, in order (called for every node: plain containers
    of tensors and scalars take the short path)."""
    if isinstance(value, torch.Tensor):
        return [value]
    t = type(value)
    if t is tuple or t is list:
        out: list[torch.Tensor] = []
        for v in value:
            if isinstance(v, torch.Tensor):
                out.append(v)
            elif isinstance(v, (tuple, list, dict)):
                out += tensors(v)
        return out
    if isinstance(value, (tuple, list, dict)):
        return [v for v in leaves(value) if isinstance(v, torch.Tensor)]
    return []


def local(t: Any) -> Any:
    """A DTensor's local shard (what this rank holds); any other tensor as it is."""
    return t.to_local() if hasattr(t, "to_local") and hasattr(t, "placements") else t


def backward_roots(out: Any) -> list[torch.Tensor]:
    """What the backward starts from: the model's ``loss`` when it returns one (transformers
    with ``labels``), else every floating-point output that requires grad."""
    loss = out.get("loss") if isinstance(out, dict) else getattr(out, "loss", None)
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        return [loss]
    return [t for t in tensors(out) if t.requires_grad and (t.is_floating_point() or t.is_complex())]

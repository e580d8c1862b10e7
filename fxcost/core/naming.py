"""Core: readable names of graph targets and the module paths of graph nodes."""

from __future__ import annotations

import functools
import re
from typing import Any

import torch
import torch.fx
from torch import nn


def target_name(target: Any) -> str:
    """A readable, stable name for a node target: ``torch.nn.functional.relu``, ``add``..."""
    if isinstance(target, str):
        return target
    if isinstance(target, type):
        return f"{target.__module__}.{target.__qualname__}"
    if isinstance(target, torch._ops.OpOverloadPacket):
        return target._qualified_op_name  # quantized::conv2d_relu
    if isinstance(target, torch._ops.OpOverload):
        overload = target._overloadname
        return target._schema.name + ("" if overload in ("", "default") else f".{overload}")  # aten::add.Tensor
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    name = name.removeprefix("_VariableFunctionsClass.")  # torch.add's qualified name
    if mod in ("_operator", "operator"):
        mod = "operator"
    return f"{mod}.{name}" if mod else name


def module_path(node: torch.fx.Node, mod: nn.Module | None) -> tuple[str, str]:
    """(dotted module path, module type name) of a node: its own module for call_module,
    else the innermost entry of its nn_module_stack."""
    if node.op == "call_module":
        return str(node.target), type(mod).__name__ if mod is not None else ""
    stack = node.meta.get("nn_module_stack")
    if stack:
        path, cls = next(reversed(stack.values()))
        # Dynamo and the recorders hold the class; exported programs its qualified name
        name = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
        return clean_path(path), name
    return "", ""


@functools.lru_cache(maxsize=4096)
def clean_path(path: str) -> str:
    """Dynamo spells module paths as L['self'].encoder.layer[3] (or L['fn']...); fxcost as
    encoder.layer.3."""
    path = re.sub(r"^L\['[^']+'\]\.?", "", path)
    path = re.sub(r"\[(\d+)\]", r".\1", path)
    path = re.sub(r"\['([^']+)'\]", r".\1", path)
    return path.replace("._modules", "").strip(".")

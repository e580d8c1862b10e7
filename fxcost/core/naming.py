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


class CallPaths:
    """The module path of each call: the caller's path and the module's name under the caller,
    so that a module shared by two parents is charged under the one that called it (fvcore's
    "owner" attribution). A module its caller does not hold (called through a method of a
    sibling, or the model's first call) takes its first name in ``named_modules()``, as does a
    module held under two names in one parent."""

    def __init__(self, model: nn.Module) -> None:
        #: id -> (first name, type), as ``named_modules()`` (duplicates removed) gives them
        self.first: dict[int, tuple[str, type]] = {}
        #: modules reachable through more than one path: only these need their caller's view
        self.aliased: set[int] = set()
        for name, m in model.named_modules(remove_duplicate=False):  # one walk: first names in order
            if id(m) in self.first:
                self.aliased.add(id(m))
            else:
                self.first[id(m)] = (name, type(m))
        self._under: dict[int, dict[int, str]] = {}

    def of(self, module: nn.Module, caller: nn.Module | None, caller_path: str) -> tuple[str, type] | None:
        """(path, type) of ``module`` called by ``caller`` (at ``caller_path``), or None for a
        module outside the model."""
        first = self.first.get(id(module))
        if first is None or caller is None or id(module) not in self.aliased:
            return first
        under = self._under.get(id(caller))
        if under is None:
            under = self._under[id(caller)] = {id(m): n for n, m in caller.named_modules() if n}
        name = under.get(id(module))
        if name is None:
            return first
        return (f"{caller_path}.{name}" if caller_path else name), type(module)

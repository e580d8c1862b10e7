"""Rules: where a call's named argument sits among its positional arguments, for every form a
call takes (a module's ``forward``, a Python function, a torch builtin, a tensor method, an aten
or custom operator), so that rules read arguments by name only (``call.arg("dim")``).

Positions count ``self``/``input`` as 0. A builtin with several overloads takes the first whose
signature accepts the call's positional count and keyword names (as
``torch.fx.operator_schemas.normalize_function`` matches them); the answer is cached per
(target, count, keywords), so each form is resolved once per process.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.fx.operator_schemas import get_signature_for_torch_op

_CACHE: dict[Any, dict[str, int]] = {}


def positions(node_op: str, target: Any, module: Any, nargs: int, kwnames: tuple[str, ...]) -> dict[str, int]:
    """Argument name -> position for this call; empty where no signature is known."""
    key = (type(module) if node_op == "call_module" else target, nargs, kwnames)
    try:
        return _CACHE[key]
    except (KeyError, TypeError):  # TypeError: an unhashable target
        pass
    try:
        found = _resolve(node_op, target, module, nargs, kwnames)
    except (TypeError, ValueError, RuntimeError):
        found = {}
    try:
        _CACHE[key] = found
    except TypeError:
        pass
    return found


def _resolve(node_op: str, target: Any, module: Any, nargs: int, kwnames: tuple[str, ...]) -> dict[str, int]:
    if node_op == "call_module":  # forward's parameters, without self
        return _names(inspect.signature(type(module).forward), skip=1)
    if isinstance(target, torch._ops.OpOverload):
        return {a.name: i for i, a in enumerate(target._schema.arguments)}
    if node_op == "call_method":  # a tensor method: the aten op of that name, self at 0
        packet = getattr(torch.ops.aten, str(target), None)
        if not isinstance(packet, torch._ops.OpOverloadPacket):
            return {}
        target = packet
    if isinstance(target, torch._ops.OpOverloadPacket):
        return _first_fit(get_signature_for_torch_op(target) or [], nargs, kwnames)
    try:
        return _names(inspect.signature(target))
    except (TypeError, ValueError):  # a builtin: the signatures of its aten schemas
        return _first_fit(get_signature_for_torch_op(target) or [], nargs, kwnames)


def _first_fit(sigs: list[inspect.Signature], nargs: int, kwnames: tuple[str, ...]) -> dict[str, int]:
    for sig in sigs:
        try:
            sig.bind(*range(nargs), **dict.fromkeys(kwnames))
        except TypeError:
            continue
        return _names(sig)
    return _names(sigs[0]) if sigs else {}


def _names(sig: inspect.Signature, skip: int = 0) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, p in enumerate(list(sig.parameters.values())[skip:]):
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            out[p.name] = i
    return out

"""Stages 1 and 2 for a forward: capture the model, then give every node a value.

``symbolic_trace`` first; where it fails, or would leave calls without a rule opaque, the
recording capture, whose nodes carry their values already. The report says which ran and why.
"""

from __future__ import annotations

import torch
from torch import nn

from .capture import Capture, record
from .symbolic import symbolic, wrapped_without_rule
from ..core.errors import CaptureError, FxcostError
from ..core.guards import attributes_kept, standins, tracing
from ..core.naming import target_name
from ..rules.registry import Registry
from .shapes import ShapeProp


def capture_and_shape(
    model: nn.Module, args: tuple, kwargs: dict, registry: Registry, real: bool, capture: str
) -> Capture:
    """Capture the model and give every node a value; falls back from symbolic_trace to record."""
    reason = None
    with attributes_kept(model) as kept:
        if capture in ("auto", "symbolic_trace"):
            cap, reason = _symbolic_and_shape(model, args, kwargs, registry, real, strict=capture != "auto")
            if cap is not None:
                return cap
        kept.restore()  # what the failed trace left on the model must not reach the recording
        try:
            cap = record(model, args, kwargs, registry, real)
        except FxcostError as e:
            if reason is None:
                raise
            raise CaptureError(f"every capture path failed. {reason}. record: {e}") from e
    cap.fallback_reason = reason
    return cap


def _symbolic_and_shape(model: nn.Module, args: tuple, kwargs: dict, registry: Registry, real: bool,
                        strict: bool) -> tuple[Capture | None, str | None]:
    """The symbolic_trace path: (shaped capture, None), or (None, why it is not used). With
    ``strict`` (capture='symbolic_trace') its failures raise instead."""
    # torch.fx.wrap'd functions (torchvision's swin attention...) are leaves to symbolic_trace
    # but not to the recording capture, which sees inside them: without a rule, record
    opaque = [] if strict else wrapped_without_rule(model, registry)
    if opaque:
        return None, f"symbolic_trace would leave torch.fx.wrap'd calls without a rule opaque: {', '.join(opaque)}"
    try:
        with tracing():
            cap = symbolic(model, args, kwargs, registry)
    except Exception as e:  # symbolic tracing fails in many ways on real-world models
        reason = f"symbolic_trace failed: {_line(e)}"
        if strict:
            raise CaptureError(f"{reason}. Fix: use capture='auto' or 'record'.") from e
        return None, reason
    opaque = [] if strict else _opaque_targets(cap, registry)
    if opaque:
        return None, f"symbolic_trace left calls without a rule opaque: {', '.join(opaque)}"
    try:
        with standins(model, real=real), torch.no_grad(), tracing():
            ShapeProp(model, cap.graph, real, cap.constants, registry).run(*cap.inputs)
    except Exception as e:
        if strict:
            raise
        return None, f"symbolic_trace graph did not run: {_line(e)}"
    return cap, None


def _opaque_targets(cap: Capture, registry: Registry) -> list[str]:
    """call_function/call_method targets of a traced graph that no rule covers."""
    return sorted({target_name(n.target) for n in cap.graph.nodes
                   if n.op in ("call_function", "call_method") and registry.node_entry(n.op, n.target) is None})


def _line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")

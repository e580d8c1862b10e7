"""Pipeline, capture of graphs that exist already: ``torch.export`` programs, and GraphModules
that carry their values.

An ``ExportedProgram`` holds an aten graph whose every node carries its value (``val``) and the
module it came from (``nn_module_stack``), its parameters and buffers lifted to placeholders.
It is costed as it is, at whatever IR level it was exported or decomposed to: aten ops take the
rule of their torch-level op (``Registry.function_entry``), and the module table is rebuilt
from the state dict and the module stacks, so it reads as the eager model's.

A GraphModule whose nodes carry their values (``ep.module()``, a Dynamo or AOT graph) is costed
from its own graph in the same way (``graph_with_values``). Wrapped modules are unwrapped with the
other input checks (``core/inputs.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.errors import FxcostError
from ..core.naming import clean_path
from ..core.options import CaptureMethod
from ..core.walk import tensors
from .capture import Capture


def carries_values(graph: torch.fx.Graph) -> bool:
    """Whether every node that makes a value has it in its meta (``val``, Dynamo's
    ``example_value`` or ShapeProp's ``tensor_meta``); assertions that return nothing need none."""
    return _without_value(graph) is None


def _without_value(graph: torch.fx.Graph) -> torch.fx.Node | None:
    """The first node that makes a value but carries none, or None."""
    for n in graph.nodes:
        if n.op == "output" or (isinstance(n.target, torch._ops.OpOverload) and not n.target._schema.returns):
            continue
        if n.op == "call_module" and not n.users:  # ep.module()'s input guards return nothing
            continue
        if not any(k in n.meta for k in ("val", "example_value", "tensor_meta")):
            return n
    return None


def _fill_values(gm: torch.fx.GraphModule) -> bool:
    """Give every node of a program whose placeholders carry fake values its ``val``, by fake
    tensor propagation from those placeholders (a pass may have dropped some nodes' meta).
    False where that does not work."""
    from torch._guards import detect_fake_mode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    inputs = [n.meta.get("val") for n in gm.graph.nodes if n.op == "placeholder"]
    mode = detect_fake_mode(inputs)
    if mode is None or any(v is None for v in inputs):
        return False
    try:
        FakeTensorProp(gm, mode).propagate_dont_convert_inputs(*inputs)
    except Exception:  # noqa: BLE001 - the caller's error names the node
        return False
    return carries_values(gm.graph)


def graph_with_values(model: nn.Module, args: tuple, kwargs: dict) -> Capture | None:
    """A GraphModule whose nodes carry their values already (``ep.module()``, a Dynamo or AOT
    graph), called with inputs of the shapes those values have: its own graph, nothing re-run.
    (Re-running an exported graph on meta can fail where the device kernel's output layout, which
    the graph's views rely on, differs from the meta kernel's: SDPA on CPU.) Else None."""
    if not isinstance(model, torch.fx.GraphModule) or not carries_values(model.graph):
        return None
    given = sorted(tuple(t.shape) for t in tensors((args, kwargs)))
    held = sorted(
        tuple(v.shape)
        for n in model.graph.nodes
        if n.op == "placeholder"
        for v in tensors(n.meta.get("val", n.meta.get("example_value")))
    )
    return Capture(model.graph, model, CaptureMethod.FX, []) if given == held else None


def program_capture(ep: Any) -> tuple[Capture, dict[str, tuple[str, int]]]:
    """The program's own graph (values already on every node) and its module table: path ->
    (type name, parameters in the subtree), parameters named by their original FQNs."""
    gm = ep.graph_module
    missing = _without_value(gm.graph)
    if missing is not None and not _fill_values(gm):
        raise FxcostError(
            f"this ExportedProgram's graph has nodes without values (node.meta['val']), '{missing.name}' "
            f"({missing.target}) the first. Fix: export it again with torch.export.export(model, args)."
        )
    table: dict[str, list] = {"": ["ExportedProgram", 0]}
    for n in gm.graph.nodes:
        for path, cls in (n.meta.get("nn_module_stack") or {}).values():
            name = cls if isinstance(cls, str) else getattr(cls, "__qualname__", str(cls))
            table.setdefault(clean_path(path), [name.rsplit(".", 1)[-1], 0])
    state = ep.state_dict
    for name in ep.graph_signature.parameters:
        parts = name.split(".")[:-1]
        for i in range(len(parts) + 1):
            row = table.setdefault(".".join(parts[:i]), ["", 0])
            row[1] += state[name].numel()
    return Capture(gm.graph, gm, CaptureMethod.EXPORT, []), {p: (t, n) for p, (t, n) in table.items()}

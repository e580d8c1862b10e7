"""Pipeline, interpret: Visit every call node, apply its rule, record a per-node cost.

The interpreter names no op: it asks the registry for the rule of a node's target, calls it with
an ``OpCall`` built from ``node.meta["val"]`` of the node and its arguments, and adds the bytes
moved from the sizes of the tensors involved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import torch
import torch.fx
from torch import nn

from ..core.cost import Cost, NodeRecord, known_zero
from ..core.errors import FxcostError
from ..core.naming import module_path, target_name
from ..core.options import DEFAULT, Options
from ..core.walk import tensors
from ..rules.registry import REGISTRY, Entry, OpCall, note_applied


def values_of(n: Any) -> Any:
    """A node argument with graph nodes replaced by their values (fast for FX's containers)."""
    if isinstance(n, torch.fx.Node):
        meta = n.meta
        return meta["val"] if "val" in meta else meta.get("example_value")
    if isinstance(n, (tuple, list)):
        return tuple(values_of(v) for v in n) if isinstance(n, tuple) else [values_of(v) for v in n]
    if isinstance(n, dict):
        return {k: values_of(v) for k, v in n.items()}
    return n


def _nbytes(ts: Iterable[torch.Tensor]) -> int:
    seen: set[int] = set()
    total = 0
    for t in ts:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


class CostInterpreter:
    """Costs the call nodes of a shaped graph."""

    def __init__(
        self,
        graph: torch.fx.Graph,
        root: nn.Module,
        options: Options = DEFAULT,
    ) -> None:
        self.graph = graph
        self.root = root
        self.registry = options.registry or REGISTRY
        self.options = options
        self._modules = dict(root.named_modules(remove_duplicate=False))
        self._param_bytes: dict[int, int] = {}

    def run(self) -> list[NodeRecord]:
        records = []
        for node in self.graph.nodes:
            if node.op in ("call_module", "call_function", "call_method"):
                mod = self._modules[node.target] if node.op == "call_module" else None
                entry = self.registry.node_entry(node.op, node.target, mod)
                rec = self._cost(node, entry, mod)
                if rec is not None:
                    records.append(rec)
                    if entry is not None and entry.recompute is not None:
                        records.append(self._recomputed(node, entry, rec))
        return records

    def _recomputed(self, node: torch.fx.Node, entry: Entry, rec: NodeRecord) -> NodeRecord:
        """What a fused kernel recomputes on its own, as a node of its own in phase recompute."""
        call = OpCall(
            node.op, node.target, values_of(node.args), values_of(node.kwargs), values_of(node), None, self.options
        )
        assert entry.recompute is not None  # asked for only where the entry has one
        cost = _checked(replace(entry, rule=entry.recompute), call, node)
        return replace(rec, name=f"{rec.name}.recompute", cost=cost, phase="recompute")

    def _cost(self, node: torch.fx.Node, entry: Entry | None, mod: nn.Module | None) -> NodeRecord | None:
        args = values_of(node.args)
        kwargs = values_of(node.kwargs)
        out = values_of(node)
        ins = tensors((args, kwargs))
        outs = tensors(out)
        if mod is None and not ins and not outs:
            return None  # Python scalar arithmetic on sizes: no tensor, no cost
        cost = Cost()
        if entry is not None:
            call = OpCall(node.op, node.target, args, kwargs, out, mod, self.options)
            cost = _checked(entry, call, node)
            if not known_zero(cost.macs):
                _check_dtypes(node, ins, mod)
            if entry.moves_data:
                # a rule's own bytes_read is what the call reads besides its tensor arguments
                # (a quantized op's packed weight)
                read = _nbytes(ins) + (self._module_bytes(mod) if mod is not None else 0) + cost.bytes_read
                cost = Cost(cost.flops, cost.macs, read, _nbytes(outs))
        path, mtype = module_path(node, mod)
        return NodeRecord(
            name=node.name,
            kind=node.op,
            target=target_name(type(mod) if mod is not None else node.target),
            op=entry.op if entry is not None else None,
            module=path,
            module_type=mtype,
            input_shapes=[list(t.shape) for t in ins],
            output_shapes=[list(t.shape) for t in outs],
            cost=cost,
            phase=node.meta.get("phase", "forward"),
        )

    def _module_bytes(self, mod: nn.Module) -> int:
        """Bytes of a module's parameters and buffers, its children's included (cached)."""
        key = id(mod)
        if key not in self._param_bytes:
            own = [t for t in list(mod._parameters.values()) + list(mod._buffers.values()) if t is not None]
            self._param_bytes[key] = _nbytes(own) + sum(
                self._module_bytes(c) for c in mod._modules.values() if c is not None
            )
        return self._param_bytes[key]


def _checked(entry: Entry, call: OpCall, node: torch.fx.Node) -> Cost:
    """Run a rule; a rule that raises or returns something that is not a non-negative Cost is
    reported by name, since it is most often a user's own rule."""
    rule = getattr(entry.rule, "__qualname__", repr(entry.rule))
    note_applied(entry.rule)
    try:
        cost = entry.rule(call)
    except Exception as e:
        raise FxcostError(
            f"cost rule '{rule}' failed on node '{node.name}' ({target_name(node.target)}): "
            f"{type(e).__name__}: {e}. Fix: correct the rule, or register another with "
            "fxcost.register_rule(target)."
        ) from e
    if not isinstance(cost, Cost) or any(  # symbolic sizes (fxcost.formula) give SymInts
        not isinstance(v, (int, torch.SymInt)) or (isinstance(v, int) and v < 0) for v in (cost.flops, cost.macs)
    ):
        raise FxcostError(
            f"cost rule '{rule}' returned {cost!r} for node '{node.name}'; a rule must return "
            "fxcost.Cost(flops=..., macs=...) with non-negative integers. Fix the rule."
        )
    return cost


def _check_dtypes(node: torch.fx.Node, ins: list[torch.Tensor], mod: nn.Module | None) -> None:
    """Meta kernels do not check that a matmul's or conv's operands share a dtype; eager does.
    Report it as eager would, naming the node. The operands are the first two tensors (later
    ones are masks, offsets, indices) and a module's own weights; an integer second operand is an
    index (an LU solve's pivots), fp8 operands mix e4m3 and e5m2 by design, and scalars
    (pinv's float64 tolerances) are not operands."""
    first = [t for t in ins[:1] if t.element_size() > 1 and t.numel() > 1]
    second = [t for t in ins[1:2] if t.is_floating_point() and t.element_size() > 1 and t.numel() > 1]
    dtypes = {t.dtype for t in first + second}
    if mod is not None:
        dtypes |= {p.dtype for p in mod._parameters.values() if p is not None and p.is_floating_point()}
    if len(dtypes) > 1:
        path, _ = module_path(node, mod)
        names = ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes))
        raise FxcostError(
            f"dtype mismatch at node '{node.name}'"
            + (f" in module '{path}'" if path else "")
            + f": its operands are {names}, which eager PyTorch rejects. Fix: cast the inputs to the "
            "model's dtype (e.g. x.float(), or model.to(x.dtype))."
        )

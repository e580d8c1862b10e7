"""Front-end: ``fxcost.profile_parallel``, one rank's cost under a data/tensor-parallel plan.

fxcost sets up PyTorch's own machinery in this one process: a fake process group (every
collective a no-op; any rank of any world size), a ``DeviceMesh`` with the named dims, the model
built on the meta device, and the user's plan applied with PyTorch's APIs (``parallelize_module``,
FSDP2's ``fully_shard``). One step of the chosen rank is recorded op by op as autograd and
DTensor run it: each DTensor op as the plain ops on the rank's local shard (a colwise-sharded
linear costs 1/tp of the whole) and the collectives it issues. Afterwards the process group is
destroyed: the process is left as it was.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
from tabulate import tabulate
from torch import nn

from .errors import FxcostError
from .format import number
from .guards import gc_paused, to_meta
from .inputs import check_call
from .interpret import CostInterpreter, values_of
from .options import Options
from .registry import REGISTRY
from .report import Report
from .step import record_step
from .walk import tensors

#: (fraction of the buffer each rank sends, as NCCL-tests' "bus bandwidth" counts it) per op,
#: for a group of n ranks; which buffer: all_reduce its tensor, all_gather its output,
#: reduce_scatter its input, all_to_all its input, broadcast its tensor.
_BUS = {"all_reduce": lambda n: 2 * (n - 1) / n, "all_gather_into_tensor": lambda n: (n - 1) / n,
        "reduce_scatter_tensor": lambda n: (n - 1) / n, "all_to_all_single": lambda n: (n - 1) / n,
        "broadcast": lambda n: 1.0}
_BUFFER_IS_OUTPUT = {"all_gather_into_tensor"}


@dataclass
class Collective:
    """One kind of collective of one module on one mesh dim: how often, and its bytes."""

    op: str
    mesh_dim: str
    module: str
    count: int
    bytes: int  # the full buffer (see _BUS), summed over the calls
    bus_bytes: int  # what this rank sends, NCCL-tests' convention


@dataclass
class ParallelReport:
    """``report``: the rank's own compute (local shapes), a ``fxcost.Report``; ``collectives``:
    its communication, one row per (op, mesh dim, module)."""

    report: Report
    collectives: list[Collective]
    mesh: dict[str, int]
    rank: int

    def totals(self) -> dict[str, dict[str, int]]:
        """Per collective op: calls, bytes and bus bytes over the whole step."""
        out: dict[str, dict[str, int]] = {}
        for c in self.collectives:
            row = out.setdefault(c.op, {"count": 0, "bytes": 0, "bus_bytes": 0})
            row["count"] += c.count
            row["bytes"] += c.bytes
            row["bus_bytes"] += c.bus_bytes
        return out

    def table(self, fmt: str = "plain", units: str = "si", depth: int = 2) -> str:
        """The rank's cost table, then its collectives."""
        rows = [[c.op, c.mesh_dim, c.module or "(model)", c.count, number(c.bytes, units, "B"),
                 number(c.bus_bytes, units, "B")] for c in self.collectives]
        head = ["collective", "mesh dim", "module", "calls", "bytes", "bus bytes"]
        mesh = " x ".join(f"{k}={v}" for k, v in self.mesh.items())
        comm = tabulate(rows, head, tablefmt="pipe" if fmt == "github" else "simple", disable_numparse=True)
        return (f"rank {self.rank} of mesh {mesh}\n" + self.report.table(depth=depth, fmt=fmt, units=units)
                + "\n\n" + comm)

    def to_dict(self) -> dict[str, Any]:
        return {"mesh": self.mesh, "rank": self.rank, "report": self.report.to_dict(),
                "collectives": [asdict(c) for c in self.collectives]}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)


@gc_paused()
def profile_parallel(build: Callable[[], nn.Module], args: tuple = (), kwargs: dict | None = None, *,
                     mesh: dict[str, int], parallelize: Callable[[nn.Module, Any], Any] | None = None,
                     backward: bool = False, rank: int = 0, **options: Any) -> ParallelReport:
    """The cost of rank ``rank`` running ``model(*args, **kwargs)`` (``backward``: a training
    step) under a parallel plan.

    ``build()`` returns the model; fxcost calls it on the meta device, so a 70B model costs
    nothing. ``mesh`` names the mesh dims and their sizes, outermost first:
    ``{"dp": 8}``, ``{"dp": 2, "tp": 4}``. ``parallelize(model, mesh)`` applies the plan with
    PyTorch's own APIs (``parallelize_module``, ``fully_shard``) given the ``DeviceMesh``; it may
    return the model to use. ``args``/``kwargs`` are this rank's inputs (its local batch).
    ``options``: ``profile``'s counting options (``flops``, ``attention``, ``registry``,
    ``strict``).
    """
    opts = Options.of("profile_parallel", backward=backward, **options)
    if opts.real or opts.memory or opts.capture != "auto":
        raise FxcostError("profile_parallel counts one rank on meta tensors: real, memory and capture do not apply. "
                          "Fix: drop them.")
    sizes = _check_mesh(mesh, rank)
    if dist.is_initialized():
        raise FxcostError("a default process group exists in this process; profile_parallel sets up its own fake "
                          "one. Fix: call it in a process without torch.distributed initialized.")
    # imported here, not at the top: they cost a second at ``import fxcost`` for every user
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", rank=rank, world_size=math.prod(sizes.values()), store=FakeStore())
    try:
        device_mesh = init_device_mesh("cpu", tuple(sizes.values()), mesh_dim_names=tuple(sizes))
        with torch.device("meta"):
            model = build()
        if not isinstance(model, nn.Module):
            raise FxcostError(f"build() returned {type(model).__name__}, not an nn.Module. Fix: return the model.")
        if any(t.device.type != "meta" for t in (*model.parameters(), *model.buffers())):
            model = model.to("meta")  # built on a device of its own choosing: values are not needed
        if parallelize is not None:
            model = parallelize(model, device_mesh) or model
        args, kwargs = check_call(model, args, kwargs)
        args, kwargs = to_meta(args), to_meta(kwargs)
        cap = record_step(model, args, kwargs, opts.registry or REGISTRY, backward=backward, own_model=True)
        nodes = CostInterpreter(cap.graph, cap.root, opts).run()
        groups = {_group_name(device_mesh, d): d for d in sizes}
        report = Report.of_model(model, nodes, {"method": "autograd", "fallback_reason": None},
                                 opts.counting(), opts)
        collectives = _collectives(cap.graph, groups, sizes)
    finally:
        dist.destroy_process_group()
    if opts.strict and report.unsupported:
        raise FxcostError(f"no cost rule for: {', '.join(u.target for u in report.unsupported)}. Fix: register one "
                          "with @fxcost.register_rule(target), or pass strict=False.")
    return ParallelReport(report, collectives, dict(sizes), rank)


def _check_mesh(mesh: Any, rank: Any) -> dict[str, int]:
    if not isinstance(mesh, dict) or not mesh or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1 for k, v in mesh.items()):
        raise FxcostError(f"mesh={mesh!r} must name each mesh dim and its size, outermost first. "
                          "Fix: mesh={'dp': 2, 'tp': 4}.")
    world = math.prod(mesh.values())
    if not isinstance(rank, int) or not 0 <= rank < world:
        raise FxcostError(f"rank={rank!r} is not a rank of a world of {world}. Fix: 0 <= rank < {world}.")
    return dict(mesh)


def _group_name(mesh: Any, dim: str) -> str:
    return mesh.get_group(dim).group_name


def _collectives(graph: torch.fx.Graph, groups: dict[str, str], sizes: dict[str, int]) -> list[Collective]:
    rows: dict[tuple, Collective] = {}
    for node in graph.nodes:
        target = node.target
        if not isinstance(target, torch._ops.OpOverload) or "c10d_functional" not in target.namespace:
            continue
        op = target.overloadpacket.__name__.rstrip("_").removesuffix("_coalesced")
        if op not in _BUS:
            continue
        group = next((a for a in (*node.args, *node.kwargs.values()) if isinstance(a, str) and a in groups), None)
        dim = groups.get(group, "?")
        n = sizes.get(dim, 1)
        buffer = node.meta["val"] if op in _BUFFER_IS_OUTPUT else node.args[0]
        nbytes = sum(t.numel() * t.element_size() for t in tensors(values_of(buffer)))
        stack = node.meta.get("nn_module_stack") or {}
        module = next(reversed(stack.values()))[0] if stack else ""
        key = (op, dim, module)
        row = rows.setdefault(key, Collective(op, dim, module, 0, 0, 0))
        row.count += 1
        row.bytes += nbytes
        row.bus_bytes += round(_BUS[op](n) * nbytes)
    return list(rows.values())


__all__ = ["profile_parallel", "ParallelReport", "Collective"]

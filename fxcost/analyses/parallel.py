"""Analyses: ``fxcost.profile_parallel``, one rank's cost under a data/tensor-parallel plan.

fxcost sets up PyTorch's own machinery in this one process: a fake process group (every
collective a no-op; any rank of any world size), a ``DeviceMesh`` with the named dims, the model
built on the meta device, and the user's plan applied with PyTorch's APIs (``parallelize_module``,
FSDP2's ``fully_shard``). One step of the chosen rank is recorded op by op as autograd and
DTensor run it: each DTensor op as the plain ops on the rank's local shard (a colwise-sharded
linear costs 1/tp of the whole) and the collectives it issues. Afterwards the process group is
destroyed: the process is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..core.concurrency import serialised
from ..core.errors import FxcostError
from ..core.guards import gc_paused, to_meta
from ..core.inputs import check_call
from ..core.options import Options
from ..core.walk import tensors
from ..pipeline.interpret import values_of
from ..pipeline.run import count
from ..reports.format import Displayed, grid, number
from ..reports.peaks import Peak, named_peak
from ..reports.report import Report
from ..reports.roofline import roofline

#: The fraction of a collective's buffer each rank sends, as NCCL-tests' "bus bandwidth"
#: counts it, for a group of n ranks. The buffer: all_reduce's tensor, all_gather's output,
#: reduce_scatter's input, all_to_all's input, broadcast's tensor.
_BUS = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
}
#: op name -> (collective, where its buffer is: an argument's position, or "out" for the result);
#: functional collectives (DTensor) and the c10d ops FSDP2 calls.
_KINDS = {
    "all_reduce": ("all_reduce", 0),
    "all_reduce_": ("all_reduce", 0),
    "all_reduce_coalesced": ("all_reduce", 0),
    "all_gather_into_tensor": ("all_gather", "out"),
    "all_gather_into_tensor_coalesced": ("all_gather", "out"),
    "reduce_scatter_tensor": ("reduce_scatter", 0),
    "reduce_scatter_tensor_coalesced": ("reduce_scatter", 0),
    "all_to_all_single": ("all_to_all", 0),
    "broadcast": ("broadcast", 0),
    "broadcast_": ("broadcast", 0),
    "allreduce_": ("all_reduce", 0),
    "allreduce_coalesced_": ("all_reduce", 0),
    "_allgather_base_": ("all_gather", 0),
    "allgather_": ("all_gather", 0),
    "allgather_into_tensor_coalesced_": ("all_gather", 0),
    "_reduce_scatter_base_": ("reduce_scatter", 1),
    "reduce_scatter_": ("reduce_scatter", 1),
    "reduce_scatter_tensor_coalesced_": ("reduce_scatter", 1),
    "alltoall_base_": ("all_to_all", 1),
}


#: Link bandwidth per GPU and direction, bytes/s (vendor figures: NVLink 5/4/3/2 as on B200,
#: H100 SXM, A100 SXM and V100 SXM2 (900/450/300/150 GB/s each way); InfiniBand XDR/NDR/HDR
#: per 800/400/200 Gb/s port; PCIe 5.0/4.0 x16). Collectives' bus bytes divided by these give
#: their time, NCCL-tests' convention. Pass numbers for links of your own.
LINKS: dict[str, float] = {
    "nvlink5": 900e9,
    "nvlink4": 450e9,
    "nvlink3": 300e9,
    "nvlink2": 150e9,
    "ib_xdr": 100e9,
    "ib_ndr": 50e9,
    "ib_hdr": 25e9,
    "pcie5": 64e9,
    "pcie4": 32e9,
}


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
class ParallelReport(Displayed):
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

    def estimate(self, peak: Peak | str, links: dict[str, str | float]) -> dict[str, Any]:
        """Lower bounds on the step's time: compute from the roofline of ``peak`` (a
        ``fxcost.Peak`` or a device name from fxcost's table, "H100"), communication from each
        collective's bus bytes over its mesh dim's link (``links``: mesh dim -> a ``LINKS`` name
        or bytes/s), and the step with and without overlapping the two."""
        if isinstance(peak, str):
            peak = named_peak(peak)
        dtype = self.report.options.get("dtype", "float32")
        compute = sum(r.min_time_ms for r in roofline(self.report, peak, dtype)) / 1e3
        per_dim: dict[str, float] = {}
        for c in self.collectives:
            per_dim[c.mesh_dim] = per_dim.get(c.mesh_dim, 0.0) + c.bus_bytes / _link(links, c.mesh_dim)
        comm = sum(per_dim.values())
        return {
            "device": peak.name,
            "compute_s": compute,
            "communication_s": comm,
            "communication_by_dim_s": per_dim,
            "step_s_serial": compute + comm,
            "step_s_overlapped": max(compute, comm),
        }

    def table(self, fmt: str = "plain", units: str = "si", depth: int = 2, by: str = "module", **kw: Any) -> str:
        """The rank's cost table (``by``: module, operator or node; ``kw``: ``Report.table``'s),
        then its collectives."""
        rows = [
            [
                c.op,
                c.mesh_dim,
                c.module or "(model)",
                c.count,
                number(c.bytes, units, "B"),
                number(c.bus_bytes, units, "B"),
            ]
            for c in self.collectives
        ]
        head = ["collective", "mesh dim", "module", "calls", "bytes", "bus bytes"]
        mesh = " x ".join(f"{k}={v}" for k, v in self.mesh.items())
        comm = grid(rows, head, fmt)
        return (
            f"rank {self.rank} of mesh {mesh}\n"
            + self.report.table(by=by, depth=depth, fmt=fmt, units=units, **kw)
            + "\n\n"
            + comm
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh,
            "rank": self.rank,
            "report": self.report.to_dict(),
            "collectives": [asdict(c) for c in self.collectives],
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)


@serialised  # the fake process group is the process's default group while it runs
@gc_paused()
def profile_parallel(
    build: Callable[[], nn.Module],
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    mesh: dict[str, int],
    parallelize: Callable[[nn.Module, Any], Any] | None = None,
    backward: bool = False,
    rank: int = 0,
    **options: Any,
) -> ParallelReport:
    """The cost of rank ``rank`` running ``model(*args, **kwargs)`` (``backward``: a training
    step) under a parallel plan.

    ``build()`` returns the model; fxcost calls it on the meta device, so a 70B model costs
    nothing. ``mesh`` names the mesh dims and their sizes, outermost first:
    ``{"dp": 8}``, ``{"dp": 2, "tp": 4}``. ``parallelize(model, mesh)`` applies the plan with
    PyTorch's own APIs (``parallelize_module``, ``fully_shard``) given the ``DeviceMesh``; it may
    return the model to use. ``args``/``kwargs`` are this rank's inputs (its local batch).
    ``options``: ``profile``'s counting options (``flops``, ``attention``, ``registry``,
    ``strict``), and ``memory=True`` (with ``optimizer=``) for the rank's peak memory: its own
    shards of parameters, gradients and optimizer state, and what the step makes (gathered
    parameters included).
    """
    opts = Options.of("profile_parallel", backward=backward, **options)
    if opts.real or opts.capture != "auto":
        raise FxcostError(
            "profile_parallel counts one rank on meta tensors: real and capture do not apply. Fix: drop them."
        )
    sizes = _check_mesh(mesh, rank)
    if dist.is_initialized():
        raise FxcostError(
            "a default process group exists in this process; profile_parallel sets up its own fake "
            "one. Fix: call it in a process without torch.distributed initialized."
        )
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
        with _fsdp_on_meta():
            counted = count(model, args, kwargs, opts, aten=True)
        groups = {_group_name(device_mesh, d): d for d in sizes}
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        report = Report.of_model(
            model,
            counted.records,
            counted.capture.info(),
            {**opts.counting(), "dtype": str(dtype).replace("torch.", "")},
            opts,
        )
        report.memory = counted.memory
        collectives = _collectives(counted.capture.graph, groups, sizes)
    finally:
        dist.destroy_process_group()
    report.check_strict(opts.strict)
    return ParallelReport(report, collectives, dict(sizes), rank)


@contextlib.contextmanager
def _fsdp_on_meta() -> Iterator[None]:
    """FSDP2 refuses to run on meta parameters (training on no data would be a bug); counting
    one is not. Its check is set aside while the step is recorded."""
    try:
        from torch.distributed.fsdp._fully_shard._fsdp_param_group import FSDPParamGroup
    except ImportError:  # no FSDP2 in this torch
        yield
        return
    check = FSDPParamGroup._validate_no_meta_params
    FSDPParamGroup._validate_no_meta_params = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        FSDPParamGroup._validate_no_meta_params = check  # type: ignore[method-assign]


def _link(links: dict[str, str | float], dim: str) -> float:
    value = links.get(dim) if isinstance(links, dict) else None
    if isinstance(value, str):
        value = LINKS.get(value)
    if not isinstance(value, (int, float)) or value <= 0:
        raise FxcostError(
            f"no link bandwidth for mesh dim {dim!r} (links={links!r}). Fix: links={{{dim!r}: "
            f"'nvlink4'}} (one of {', '.join(LINKS)}) or bytes/s."
        )
    return float(value)


def _check_mesh(mesh: Any, rank: Any) -> dict[str, int]:
    if (
        not isinstance(mesh, dict)
        or not mesh
        or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1 for k, v in mesh.items()
        )
    ):
        raise FxcostError(
            f"mesh={mesh!r} must name each mesh dim and its size, outermost first. Fix: mesh={{'dp': 2, 'tp': 4}}."
        )
    world = math.prod(mesh.values())
    if not isinstance(rank, int) or not 0 <= rank < world:
        raise FxcostError(f"rank={rank!r} is not a rank of a world of {world}. Fix: 0 <= rank < {world}.")
    return dict(mesh)


def _group_of(value: Any) -> str | None:
    """The group name of a c10d op's ProcessGroup argument (a boxed ScriptObject)."""
    if isinstance(value, torch.ScriptObject):
        try:
            return dist.ProcessGroup.unbox(value).group_name
        except (RuntimeError, TypeError):
            return None
    return getattr(value, "group_name", None)


def _group_name(mesh: Any, dim: str) -> str:
    return mesh.get_group(dim).group_name


def _collectives(graph: torch.fx.Graph, groups: dict[str, str], sizes: dict[str, int]) -> list[Collective]:
    rows: dict[tuple, Collective] = {}
    for node in graph.nodes:
        target = node.target
        if not isinstance(target, torch._ops.OpOverload) or "c10d" not in target.namespace:
            continue
        kind = _KINDS.get(target.overloadpacket.__name__)
        if kind is None:
            continue
        op, where = kind
        dim = "?"
        for a in (*node.args, *node.kwargs.values()):
            name = a if isinstance(a, str) else _group_of(a)
            if name in groups:
                dim = groups[name]
        buffer = values_of(node) if where == "out" else values_of(node.args[where])
        nbytes = sum(t.numel() * t.element_size() for t in tensors(buffer))
        stack = node.meta.get("nn_module_stack") or {}
        module = next(reversed(stack.values()))[0] if stack else ""
        row = rows.setdefault((op, dim, module), Collective(op, dim, module, 0, 0, 0))
        row.count += 1
        row.bytes += nbytes
        row.bus_bytes += round(_BUS[op](sizes.get(dim, 1)) * nbytes)
    return list(rows.values())


__all__ = ["profile_parallel", "ParallelReport", "Collective"]

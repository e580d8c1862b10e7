"""Pipeline, its one entry point: ``count`` chooses how a model is captured, captures it, gives
every node its value and costs every node; ``capture`` stops before the costing (``time_nodes``
runs the graph itself). ``profile``, ``formula``, ``profile_parallel`` and ``time_nodes`` all come
through here, so the choice is made in one place:

- a training step (``backward``), or a model whose collectives must be seen at the aten level
  (``aten=True``: DTensor, FSDP2): recorded as autograd runs it (``step.py``);
- symbolic sizes (``formula``): recorded, without shape rules or memo (``capture.py``, ``step.py``);
- a GraphModule whose nodes carry their values (``ep.module()``): its own graph (``programs.py``);
- else the forward: the recording capture (``capture.py``), falling back to ``symbolic_trace``
  then ValueProp (``symbolic.py``, ``shapes.py``), which says why in ``Capture.fallback_reason``.

Graphs that exist already come in through ``count_program`` (an ``ExportedProgram``) and
``count_graph`` (a GraphModule or graph from ``torch.compile``, Inductor or the user).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.cost import NodeRecord
from ..core.errors import CaptureError, FxcostError
from ..core.guards import attributes_kept, guarded, quantized, to_meta
from ..core.naming import target_name
from ..core.options import CaptureMethod, Options
from ..core.walk import tensors
from ..rules.registry import REGISTRY, Registry
from .capture import Capture, ShapeStack, record
from .interpret import CostInterpreter
from .memory import Memory
from .memory import summary as memory_summary
from .programs import carries_values, graph_with_values, program_capture
from .shapes import ValueProp
from .step import record_step
from .symbolic import symbolic, wrapped_without_rule


@dataclass
class Counted:
    """What the pipeline gives an analysis: the capture, one cost record per node, and with
    ``Options.memory`` the peak memory."""

    capture: Capture
    records: list[NodeRecord]
    memory: Memory | None = None


def count(
    model: nn.Module, args: tuple, kwargs: dict, opts: Options, *, symbolic_sizes: bool = False, aten: bool = False
) -> Counted:
    """Capture ``model(*args, **kwargs)`` (see the module docstring for the path chosen), cost every
    node with ``opts``' rules and conventions, and with ``opts.memory`` summarize the peak memory.
    ``aten``: a model fxcost built itself on a fake process group (``profile_parallel``), run as
    it is, without stand-ins."""
    with guarded(model, real=opts.real, swap=not aten) as kept:
        cap = _capture(model, args, kwargs, opts, kept, symbolic_sizes, aten)
        records = CostInterpreter(cap.graph, cap.root, opts).run()
        memory = None
        if opts.memory:
            timeline = cap.timeline
            if timeline is None:  # the forward's own storages, recorded at the aten level without grad
                kept.restore()
                timeline = record_step(model, args, kwargs, _registry(opts), backward=False, memory=True).timeline
            memory = memory_summary(timeline, model, opts.optimizer, opts.backward)
    return Counted(cap, records, memory)


def capture(
    model: nn.Module, args: tuple, kwargs: dict, opts: Options, *, symbolic_sizes: bool = False, aten: bool = False
) -> Capture:
    """The captured graph of ``model(*args, **kwargs)``, every node carrying its value (on meta
    tensors, or with ``opts.real`` on the inputs' own device)."""
    with guarded(model, real=opts.real, swap=not aten) as kept:
        return _capture(model, args, kwargs, opts, kept, symbolic_sizes, aten)


def _capture(
    model: nn.Module, args: tuple, kwargs: dict, opts: Options, kept: attributes_kept, symbolic_sizes: bool, aten: bool
) -> Capture:
    registry = _registry(opts)
    if aten:
        return record_step(model, args, kwargs, registry, backward=opts.backward, memory=opts.memory, own_model=True)
    if symbolic_sizes:
        if opts.backward:
            return record_step(model, args, kwargs, registry, shortcuts=False)
        return record(model, args, kwargs, registry, real=False, shortcuts=False)
    try:
        if opts.backward:
            return record_step(model, args, kwargs, registry, memory=opts.memory, keep_outputs=opts.keep_outputs)
        if not opts.real and opts.capture == CaptureMethod.AUTO and (cap := graph_with_values(model, args, kwargs)):
            return cap  # ep.module() and other graphs that carry their values: costed as they are
        if opts.real:
            _check_devices(model, args, kwargs)
        else:
            args, kwargs = to_meta(args), to_meta(kwargs)
        return _forward(model, args, kwargs, registry, opts.real, opts.capture, kept)
    except FxcostError as e:
        found = next(((path, m) for path, m in model.named_modules() if quantized(m)), None)
        if opts.real or found is None:
            raise
        raise FxcostError(
            f"module '{found[0]}' ({type(found[1]).__name__}) is quantized: quantized "
            "kernels run on real tensors only, and meta tensors have no values. Fix: profile with "
            "real=True (--real on the command line); quantized models are small enough to run."
        ) from e


def forward_outputs(model: nn.Module, args: tuple, kwargs: dict) -> Any:
    """What ``model(*args, **kwargs)`` returns, run once on meta stand-ins inside the count's
    guard, for an analysis that needs a forward's own outputs (generation: the KV cache it makes
    for the next step). Tensors made without a device land on meta too."""
    with guarded(model), torch.no_grad(), torch.device("meta"):
        return model(*args, **to_meta(kwargs))


def module_calls(model: nn.Module, args: tuple, kwargs: dict) -> list[tuple[str, list, list]]:
    """Each module call in the order calls begin: (path, input shapes, output shapes), from one
    forward on meta stand-ins inside the count's guard."""
    calls = ShapeStack(model)
    with guarded(model), torch.no_grad(), torch.device("meta"), calls.hooked():
        model(*to_meta(args), **to_meta(kwargs))
    return calls.made


def count_program(ep: Any, opts: Options) -> tuple[Counted, dict[str, tuple[str, int]]]:
    """An ``ExportedProgram`` costed from its own graph and values; and its module table (path ->
    (type name, parameters in the subtree)), rebuilt from its state dict and module stacks."""
    cap, modules = program_capture(ep)
    return Counted(cap, CostInterpreter(cap.graph, cap.root, opts).run()), modules


def count_graph(
    graph: torch.fx.Graph, root: nn.Module, opts: Options, example_inputs: tuple | None = None
) -> list[NodeRecord]:
    """The records of a graph that exists already. Its nodes' values are used where they carry
    them (Dynamo, AOT, Inductor, export; ShapeProp's ``tensor_meta`` read as meta tensors), else
    ``example_inputs`` are propagated through it on meta. The graph's meta is left as it was."""
    added: list[torch.fx.Node] = []
    if carries_values(graph):
        for n in graph.nodes:
            if "val" not in n.meta and "example_value" not in n.meta and "tensor_meta" in n.meta:
                n.meta["val"] = _from_tensor_meta(n.meta["tensor_meta"])
                added.append(n)
    elif example_inputs is not None:
        added = [n for n in graph.nodes if "val" not in n.meta]
        with guarded(root), torch.no_grad():
            ValueProp(root, graph, registry=_registry(opts)).run(*to_meta(example_inputs))
    try:
        return CostInterpreter(graph, root, opts).run()
    finally:
        for n in added:  # leave the graph's meta as we found it
            n.meta.pop("val", None)


def _from_tensor_meta(tm: Any) -> Any:
    """ShapeProp's TensorMetadata -> a meta tensor of that shape and dtype."""
    if hasattr(tm, "shape") and hasattr(tm, "dtype") and not isinstance(tm, torch.Tensor):
        return torch.empty(tm.shape, dtype=tm.dtype, device="meta")
    if isinstance(tm, (list, tuple)):
        return type(tm)(_from_tensor_meta(t) for t in tm) if not hasattr(tm, "_fields") else tm
    return tm


def _registry(opts: Options) -> Registry:
    return opts.registry or REGISTRY


def _check_devices(model: nn.Module, args: tuple, kwargs: dict) -> None:
    """In real mode the inputs must be where the model is."""
    first = next(model.parameters(), None)
    for t in tensors((args, kwargs)):
        if first is not None and t.device != first.device:
            raise FxcostError(
                f"the model is on {first.device} but an input is on {t.device}. "
                f"Fix: move the inputs with x.to('{first.device}'), or profile on meta (real=False)."
            )


def _forward(
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    registry: Registry,
    real: bool,
    method: CaptureMethod,
    kept: attributes_kept,
) -> Capture:
    """A forward captured by ``method``, every node given its value. ``auto`` records one forward
    (one pass that gives each node its value as it runs: 1.1 to 2.5 times faster than tracing
    and then propagating shapes, on every model measured; ``benchmarks/zoo_speed.py``), and
    symbolic-traces a model the recording cannot run, saying why in ``fallback_reason``. ``kept``:
    the count's guard, whose ``restore()`` puts the model back between the two."""
    if method == CaptureMethod.SYMBOLIC_TRACE:
        traced = _symbolic_and_shape(model, args, kwargs, registry, real, strict=True)[0]
        assert traced is not None  # strict: its failures raise
        return traced
    try:
        return record(model, args, kwargs, registry, real)
    except FxcostError as e:
        if method == CaptureMethod.RECORD:
            raise
        failed = e
    kept.restore()  # what the failed recording left on the model must not reach the trace
    cap, reason = _symbolic_and_shape(model, args, kwargs, registry, real, strict=False)
    if cap is None:
        raise CaptureError(f"every capture path failed. record: {failed}. {reason}") from failed
    cap.fallback_reason = f"record failed: {failed}"
    return cap


def _symbolic_and_shape(
    model: nn.Module, args: tuple, kwargs: dict, registry: Registry, real: bool, strict: bool
) -> tuple[Capture | None, str | None]:
    """The symbolic_trace path: (shaped capture, None), or (None, why it is not used). With
    ``strict`` (capture='symbolic_trace') its failures raise instead."""
    # torch.fx.wrap'd functions (torchvision's swin attention...) are leaves to symbolic_trace
    # but not to the recording capture, which sees inside them: without a rule, record
    opaque = [] if strict else wrapped_without_rule(model, registry)
    if opaque:
        return None, f"symbolic_trace would leave torch.fx.wrap'd calls without a rule opaque: {', '.join(opaque)}"
    try:
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
        with torch.no_grad():
            ValueProp(model, cap.graph, real, cap.constants, registry).run(*cap.inputs)
    except Exception as e:
        if strict:
            raise
        return None, f"symbolic_trace graph did not run: {_line(e)}"
    return cap, None


def _opaque_targets(cap: Capture, registry: Registry) -> list[str]:
    """call_function/call_method targets of a traced graph that no rule covers."""
    return sorted(
        {
            target_name(n.target)
            for n in cap.graph.nodes
            if n.op in ("call_function", "call_method") and registry.node_entry(n.op, n.target) is None
        }
    )


def _line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")

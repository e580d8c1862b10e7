"""fxcost inside compile pipelines: an FX pass and a ``torch.compile`` backend.

``annotate(gm, *inputs)``
    stores a ``Cost`` in ``node.meta["fxcost"]`` of every node and returns the ``Report``. It
    reuses values the graph already carries (``val``, Dynamo's ``example_value``, ShapeProp's
    ``tensor_meta``) and otherwise propagates shapes on meta tensors; the graph's code and
    outputs are untouched.
``backend(inner="inductor")``
    costs every graph Dynamo hands it (graph breaks and recompiles each give one), from the fake
    example values Dynamo already made (nothing extra runs), then delegates to ``inner``.
``inductor_pass()``
    a custom post-grad pass for Inductor (``torch._inductor.config.post_grad_custom_post_pass``):
    costs the graph Inductor actually compiles, after its decompositions and the
    forward/backward partition, from the values already on its nodes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
import torch.fx

from ..core.concurrency import per_model
from ..core.cost import Cost, NodeRecord
from ..core.inputs import is_program
from ..core.options import DEFAULT, CaptureMethod, Options, keywords_checked
from ..pipeline.run import count_graph
from ..reports.report import Report
from ..rules.registry import Registry


@per_model
@keywords_checked
def annotate(
    gm: torch.fx.GraphModule,
    *example_inputs: Any,
    registry: Registry | None = None,
    flops: str = "exact",
    attention: str = "full",
    options: Options | None = None,
) -> Report:
    """Cost every node of ``gm`` (a GraphModule at any IR level, or an ExportedProgram, whose
    ``graph_module`` is annotated): ``node.meta["fxcost"]`` gets a ``Cost``; returns the Report.
    ``options`` (an ``fxcost.Options``) replaces the keywords where given."""
    opts = options or Options(flops=flops, attention=attention, registry=registry)
    if is_program(gm):
        gm = gm.graph_module  # type: ignore[assignment]  # an ExportedProgram's GraphModule
    records = count_graph(gm.graph, gm, opts, example_inputs)
    by_name = {r.name: r.cost for r in records}
    for n in gm.graph.nodes:
        n.meta["fxcost"] = by_name.get(n.name, Cost())
    return Report.of_model(gm, records, {"method": CaptureMethod.FX, "fallback_reason": None}, opts.counting(), opts)


#: Numbers the graphs a backend or pass is handed from several threads at once (module-level:
#: Inductor pickles its custom passes into its cache key, and a lock does not pickle).
_NUMBERING = threading.Lock()


class CostBackend:
    """A ``torch.compile`` backend that costs each graph, then compiles it with ``inner``."""

    def __init__(
        self,
        inner: str | Callable = "inductor",
        on_graph: Callable[[Report], None] | None = None,
        options: Options = DEFAULT,
    ) -> None:
        self.inner = inner
        self.on_graph = on_graph
        self.options = options
        self.graphs: list[Report] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        report = annotate(gm, *example_inputs, options=self.options)
        with _NUMBERING:  # graphs compiled by several threads at once get distinct numbers
            report.capture = {"method": CaptureMethod.DYNAMO, "fallback_reason": None, "graph": len(self.graphs)}
            self.graphs.append(report)
        if self.on_graph is not None:
            self.on_graph(report)
        if callable(self.inner):
            return self.inner(gm, example_inputs)
        from torch._dynamo import lookup_backend

        return lookup_backend(self.inner)(gm, example_inputs)

    @property
    def report(self) -> Report:
        """All graphs so far in one report; node names are prefixed ``g<i>.`` per graph."""
        return _joined(self.graphs, CaptureMethod.DYNAMO)


@keywords_checked
def backend(
    inner: str | Callable = "inductor",
    on_graph: Callable[[Report], None] | None = None,
    registry: Registry | None = None,
    flops: str = "exact",
    attention: str = "full",
) -> CostBackend:
    """``torch.compile(model, backend=fxcost.backend())``; read ``.report`` (all graphs) or
    ``.graphs`` (one report per graph) afterwards."""
    return CostBackend(inner, on_graph, Options(flops=flops, attention=attention, registry=registry))


class InductorPass:
    """Inductor's post-grad custom pass hook: each graph Inductor compiles (a forward, and for
    training a backward) becomes a Report in ``.graphs``; ``.report`` sums them. The pass only
    reads the graph. It opts out of Inductor's FX graph cache (``uuid`` None), so that a cached
    compile still reaches it."""

    def __init__(self, on_graph: Callable[[Report], None] | None = None, options: Options = DEFAULT) -> None:
        self.on_graph, self.options = on_graph, options
        self.graphs: list[Report] = []

    def __call__(self, graph: torch.fx.Graph) -> None:
        records = count_graph(graph, graph.owning_module or torch.nn.Module(), self.options)
        with _NUMBERING:
            report = Report(
                model="inductor",
                params=0,
                nodes=records,
                modules={},
                capture={"method": CaptureMethod.INDUCTOR, "fallback_reason": None, "graph": len(self.graphs)},
                options=self.options.counting(),
                settings=self.options,
            )
            self.graphs.append(report)
        if self.on_graph is not None:
            self.on_graph(report)

    def uuid(self) -> None:
        return None

    @property
    def report(self) -> Report:
        """All graphs so far in one report; node names are prefixed ``g<i>.`` per graph."""
        return _joined(self.graphs, CaptureMethod.INDUCTOR)


@keywords_checked
def inductor_pass(
    on_graph: Callable[[Report], None] | None = None,
    registry: Registry | None = None,
    flops: str = "exact",
    attention: str = "full",
) -> InductorPass:
    """``torch._inductor.config.patch(post_grad_custom_post_pass=fxcost.inductor_pass())``: the
    cost of what Inductor compiles; read ``.report`` or ``.graphs`` afterwards."""
    return InductorPass(on_graph, Options(flops=flops, attention=attention, registry=registry))


def _joined(graphs: list[Report], method: CaptureMethod) -> Report:
    nodes: list[NodeRecord] = []
    for i, r in enumerate(graphs):
        for n in r.nodes:
            nodes.append(NodeRecord(**{**n.__dict__, "name": f"g{i}.{n.name}"}))
    return Report(
        model=method.value,
        params=0,
        nodes=nodes,
        modules={},
        capture={"method": method, "graphs": len(graphs), "fallback_reason": None},
    )


__all__ = ["annotate", "backend", "CostBackend", "inductor_pass", "InductorPass"]

"""Pipeline, capture: the ``symbolic_trace`` path: ``torch.fx`` symbolic tracing, keeping every module
type that has a cost rule as a leaf (``call_module``), and each call of a Python function that has
a rule of its own as one node. Shapes come from the next stage. Tracing that would fold work into
constants (``FoldedError``) leaves the model to the recording capture (``pipeline/capture.py``).
"""

from __future__ import annotations

import bisect
import dis
import functools
import inspect
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.overrides import TorchFunctionMode

from ..core.concurrency import GLOBAL
from ..core.naming import CallPaths, target_name
from ..core.options import CaptureMethod
from ..core.walk import leaves
from ..rules.registry import OpCall, Registry
from .calls import has_tensor, whole_calls
from .capture import TENSOR_METHODS, Capture, classify, tensor_names


class _Proxy(torch.fx.Proxy):
    """fx's Proxy, but a plain torch function (``torch.flatten(x, 1)``) becomes its
    ``call_function`` node directly. fx first asks ``torch.overrides`` whether the function is a
    tensor method, and the first such question in a process builds torch's table of every
    overridable function (~15 ms, more than tracing resnet50). Tensor methods, script methods,
    property reads and higher-order ops take fx's own path."""

    @classmethod
    def __torch_function__(cls, orig_method, types, args=None, kwargs=None):
        if (
            id(orig_method) in TENSOR_METHODS
            or isinstance(orig_method, (torch._C.ScriptMethod, torch._ops.HigherOrderOperator))
            or getattr(orig_method, "__name__", "__get__") == "__get__"
        ):
            return super().__torch_function__(orig_method, types, args, kwargs)
        tracer = next(a.tracer for a in leaves((args or (), kwargs or {})) if isinstance(a, torch.fx.Proxy))
        return tracer.create_proxy(
            "call_function",
            orig_method,
            args or (),
            kwargs or {},
            name=tracer.graph._target_to_str(orig_method.__name__),
        )

    def __iter__(self) -> Iterator[torch.fx.Proxy]:
        """fx's ``__iter__`` (``B, C, H, W = x.shape`` unpacks into one item per name), reading
        the caller's bytecode from a per-code-object cache: fx disassembles the whole calling
        function on every unpack (a tenth of tracing timm's EvoNorm models)."""
        frame = inspect.currentframe().f_back  # type: ignore[union-attr]
        inst = _instruction_at(frame.f_code, frame.f_lasti)  # type: ignore[union-attr]
        if inst.opname == "UNPACK_SEQUENCE":
            return (self[i] for i in range(inst.argval))  # type: ignore[index]
        return self.tracer.iter(self)


@functools.lru_cache(maxsize=256)
def _instructions(code: types.CodeType) -> tuple[list[dis.Instruction], list[int]]:
    insts = list(dis.get_instructions(code))
    return insts, [i.offset for i in insts]


def _instruction_at(code: types.CodeType, lasti: int) -> dis.Instruction:
    insts, offsets = _instructions(code)
    return insts[bisect.bisect_left(offsets, lasti) if sys.version_info >= (3, 11) else lasti // 2]


class _LeafTracer(torch.fx.Tracer):
    """Keeps modules that have a cost rule as leaves and traces into everything else."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry
        self._names: dict[int, str] | None = None
        self._thread = threading.get_ident()
        self._calls: CallPaths | None = None
        self._running: list[tuple[nn.Module, str]] = []  # (module, path) of each call under way

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return self.registry.leaf_entry(m) is not None

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        # fx patches nn.Module.__call__ process-wide while it traces: a module another thread
        # runs meanwhile (another count, the user's own code) runs as it would untraced
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        if self._calls is None:
            self._calls = CallPaths(self.root)
        caller, caller_path = self._running[-1] if self._running else (None, "")
        path = self._calls.of(m, caller, caller_path)
        if path is None:  # not the model's: fx names it (or says it is not a submodule)
            return super().call_module(m, forward, args, kwargs)
        self._running.append((m, path[0]))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self._running.pop()

    def path_of_module(self, mod: nn.Module) -> str:
        """The path the module is being called through (``CallPaths``): fx would give a module
        shared by two parents the first one's name for both calls."""
        if self._running and self._running[-1][0] is mod:
            return self._running[-1][1]
        return super().path_of_module(mod)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, torch.fx.Proxy]) -> Any:
        """fx's ``getattr`` (a parameter or buffer read in a traced forward becomes a ``get_attr``
        node), with the tensor's name found in a table built once: fx searches every parameter
        of the model for each read, quadratic in the model's size (a third of tracing timm's
        EvoNorm models, which read their weights in forward)."""
        if not isinstance(attr_val, torch.Tensor) or threading.get_ident() != self._thread:
            return attr_val
        if self._names is None:
            self._names = tensor_names(self.root)
        name = self._names.get(id(attr_val))
        if name is None or (not isinstance(attr_val, nn.Parameter) and not self.proxy_buffer_attributes):
            return attr_val
        if name not in parameter_proxy_cache:
            parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
        return parameter_proxy_cache[name]

    def proxy(self, node: torch.fx.Node) -> torch.fx.Proxy:
        return _Proxy(node, self)


def wrapped_without_rule(model: nn.Module, registry: Registry) -> list[str]:
    """Functions marked ``torch.fx.wrap`` in the source files of the modules symbolic_trace
    would trace into, that have no rule: the trace would keep them as opaque calls. Checked
    before tracing, so that such models go straight to the recording capture."""
    from torch.fx import _symbolic_trace

    wrapped = getattr(_symbolic_trace, "_wrapped_fns_to_patch", None) or {}
    files = {
        id(vars(mod))
        for mod in (sys.modules.get(type(m).__module__) for m in model.modules() if registry.leaf_entry(m) is None)
        if mod is not None
    }
    return sorted(
        name
        for (gid, name), scope in wrapped.items()
        if gid in files and registry.function_entry(scope.get(name)) is None
    )


def bind_inputs(model: nn.Module, args: tuple, kwargs: dict) -> inspect.BoundArguments:
    """Bind the call to ``model.forward``'s signature, defaults applied."""
    sig = inspect.signature(model.forward)
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def _traced_call(fn: Any) -> Any:
    """``fn`` for symbolic tracing: one ``call_function`` node when a Proxy is among its arguments."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        proxy = next((a for a in leaves((args, kwargs)) if isinstance(a, torch.fx.Proxy)), None)
        if proxy is None:
            return fn(*args, **kwargs)
        return proxy.tracer.create_proxy("call_function", fn, args, kwargs)

    return traced


class _FoldWatch(TorchFunctionMode):
    """Symbolic tracing runs torch calls whose arguments hold no Proxy (``self.a @ self.b`` on
    tensors that are plain attributes) eagerly and keeps their results as constants: their work
    would vanish from the graph. This notes each such call that costs something (or has no
    rule), so that the capture falls back to recording."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry
        self.folded: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.folded and has_tensor(out):
            values = leaves((args, kwargs))
            if any(isinstance(v, torch.Tensor) for v in values) and not any(
                isinstance(v, torch.fx.Proxy) for v in values
            ):
                op, target, fx_args = classify(func, args)
                entry = self.registry.node_entry(op, target)
                try:
                    cost = entry.rule(OpCall(op, target, fx_args, kwargs, out)) if entry is not None else None
                except Exception:  # a rule that cannot read this call: record it, where it runs as called
                    cost = None
                if cost is None or cost.flops or cost.macs:
                    self.folded.append(target_name(target))
        return out


def symbolic(model: nn.Module, args: tuple, kwargs: dict, registry: Registry) -> Capture:
    """Symbolic tracing with non-tensor arguments (and omitted defaults) made concrete.
    Raises ``FoldedError`` where tracing would fold work on tensors that are not inputs into
    constants."""
    sig = inspect.signature(model.forward)
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
        raise TypeError("forward takes *args/**kwargs, which symbolic tracing cannot bind")
    bound = bind_inputs(model, args, kwargs)
    inputs = list(bound.arguments.values())
    if registry.leaf_entry(model) is not None:
        # the model is itself a leaf: one call_module node on the root
        graph = torch.fx.Graph()
        graph.output(graph.call_module("", tuple(graph.placeholder(k) for k in bound.arguments)))
        return Capture(graph, model, CaptureMethod.SYMBOLIC_TRACE, inputs)
    concrete = {k: v for k, v in bound.arguments.items() if not isinstance(v, torch.Tensor)}
    before = set(model.__dict__)
    watch = _FoldWatch(registry)
    # fx patches functions in module globals while it traces: one trace in the process at a time
    with GLOBAL, whole_calls(model, registry, _traced_call), watch:
        graph = _LeafTracer(registry).trace(model, concrete_args=concrete or None)
    if watch.folded:  # (the caller puts the model back as it was, the tracer's constants included)
        raise FoldedError(
            f"symbolic_trace would fold work on tensors that are not inputs into constants: {', '.join(watch.folded)}"
        )
    # the tracer stores tensor constants on the model (_tensor_constant0...): keep them here,
    # so that the model can be put back as it was
    constants = {
        k: model.__dict__[k] for k in set(model.__dict__) - before if isinstance(model.__dict__[k], torch.Tensor)
    }
    return Capture(graph, model, CaptureMethod.SYMBOLIC_TRACE, inputs, constants=constants)


class FoldedError(Exception):
    """symbolic_trace would drop work (see ``_FoldWatch``): the recording capture costs it."""

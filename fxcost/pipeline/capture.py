"""Pipeline, capture: Turn a model and its inputs into a torch.fx graph of torch-level calls.

Two paths, tried in order (``pipeline/run.py`` chooses):

``record`` (this module)
    Run one forward pass on meta stand-ins under a ``TorchFunctionMode`` that records each
    top-level torch call as a graph node with its output in ``node.meta["val"]``: the graph and
    its shapes in one pass, on any model (symbolic tracing fails on every transformers 5.x model:
    item assignment on proxies, ``co_varnames`` errors, data-dependent Python control flow).
    Module context comes from global module hooks (the user's model gets no hook of its own), in
    Dynamo's ``nn_module_stack`` format. It yields the same torch-level graph as a Dynamo
    capture, in a single eager pass on meta tensors: ~10x cheaper than compiling. TorchScript
    code the forward runs, which the mode cannot see, is recorded op by op (``calls.py``).
``symbolic_trace``
    ``torch.fx`` symbolic tracing, keeping every module type that has a cost rule as a leaf
    (``call_module``): ``fxcost.pipeline.symbolic``, values from ValueProp (``shapes.py``). For a model the
    recording cannot run (a module that reads values, with a rule that gives its output shape).
"""

from __future__ import annotations

import contextlib
import operator
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.nn.modules import module as _module_hooks
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import _disable_current_modes
from torch.utils._pytree import tree_flatten

from ..core.errors import explain_failure
from ..core.naming import CallPaths
from ..core.options import CaptureMethod
from ..core.walk import map_tensors, tensors
from ..rules.registry import Registry
from .calls import SCRIPT_CALL, ScriptedOps, has_tensor, script_calls, whole_calls
from .memo import Memo, by_shape_rule, meta_device, on_meta


@dataclass
class Capture:
    """A captured graph, the module its ``get_attr``/``call_module`` targets refer to, and the
    flat inputs for its placeholders."""

    graph: torch.fx.Graph
    root: nn.Module
    method: CaptureMethod  # the path that ran
    inputs: list[Any]
    fallback_reason: str | None = None
    constants: dict[str, torch.Tensor] = field(default_factory=dict)
    timeline: Any = None  # storage lifetimes (pipeline.memory.Timeline), when memory is asked for

    def info(self) -> dict[str, Any]:
        """``report.capture``: the method that ran and why the one asked for did not (or None)."""
        return {"method": self.method, "fallback_reason": self.fallback_reason}

    def graph_module(self) -> torch.fx.GraphModule:
        """The graph as a GraphModule (built on demand: code generation is not free)."""
        root = self.root
        if self.constants:
            root = nn.Module()
            root.add_module("model", self.root)
            # get_attr and call_module targets name the model's own attributes; re-root them
            for n in self.graph.nodes:
                if n.op == "call_module" or (n.op == "get_attr" and n.target not in self.constants):
                    n.target = f"model.{n.target}".rstrip(".")
            for name, t in self.constants.items():
                root.register_buffer(name, t, persistent=False)
        return torch.fx.GraphModule(root, self.graph)


# --------------------------------------------------------------------------------------------
# record: the pieces shared with the training-step capture (pipeline/step.py)
# --------------------------------------------------------------------------------------------
class GraphBuilder:
    """Builds a graph from calls seen at run time: each tensor maps to the node that made it
    (a tensor made elsewhere, a parameter or an input, becomes a ``get_attr`` node)."""

    def __init__(self, names: dict[int, str] | None = None, weak: bool = False) -> None:
        self.graph = torch.fx.Graph()
        self.env: dict[int, torch.fx.Node] = {}
        self.keep: list[Any] = []  # keeps recorded tensors alive so their ids stay unique
        self.constants: dict[str, torch.Tensor] = {}
        self.attrs: dict[int, str] = names or {}  # id(tensor) -> its name on the model
        # weak: the graph holds no output alive (nodes get a copy of the metadata, and a tensor's
        # entry goes when Python frees it), so that memory can follow the model's own lifetimes
        self.weak = weak

    def placeholder(self, name: str, t: torch.Tensor) -> None:
        ph = self.graph.placeholder(name)
        ph.meta["val"] = t
        self.env[id(t)] = ph
        self.keep.append(t)

    def bind(self, value: Any, node: torch.fx.Node) -> None:
        """Map the tensors of ``value`` (a node's output) to ``node`` or getitem nodes of it."""
        if isinstance(value, torch.Tensor):
            self.env[id(value)] = node
            if self.weak:
                weakref.finalize(value, self.env.pop, id(value), None)
            else:
                self.keep.append(value)
        elif isinstance(value, (tuple, list)):
            for i, v in enumerate(value):
                if isinstance(v, (torch.Tensor, tuple, list)):
                    item = self.graph.call_function(operator.getitem, (node, i))
                    item.meta = {**node.meta, "val": self._held(v)}
                    self.bind(v, item)

    def _held(self, value: Any) -> Any:
        """What a node keeps of a value: the value, or (weak) a meta copy of its metadata."""
        if not self.weak:
            return value
        with _disable_current_modes():
            return map_tensors(lambda t: torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta"), value)

    def node_for(self, t: torch.Tensor) -> torch.fx.Node:
        node = self.env.get(id(t))
        if node is not None:
            return node
        name = self.attrs.get(id(t))
        if name is None:  # a tensor made outside the graph: keep it as a constant
            name = f"_fxcost_const_{len(self.constants)}"
            self.constants[name] = t
        node = self.graph.get_attr(name)
        node.meta["val"] = t
        self.env[id(t)] = node
        self.keep.append(t)
        return node

    def to_args(self, value: Any) -> Any:
        return map_tensors(self.node_for, value)

    def emit(self, op: str, target: Any, args: tuple, kwargs: dict, out: Any, meta: dict) -> torch.fx.Node:
        """A node for a call that returned ``out``; ``meta`` (its module stack...) is shared."""
        # arguments are set after creation: create_node would first walk them with torch's
        # pytree looking for SymInts, which meta recordings never hold (a tenth of the time)
        node = self.graph.create_node(op, target)
        node.args = self.to_args(args)
        node.kwargs = self.to_args(kwargs)
        node.meta = {**meta, "val": self._held(out)}
        self.bind(out, node)
        return node


class ModuleStack:
    """The modules running now, from global module hooks (the user's model gets no hook of its
    own), as Dynamo's ``nn_module_stack``; each call is named by the path it was called
    through (``CallPaths``). Subclasses add to ``enter`` and ``exit``."""

    def __init__(self, model: nn.Module) -> None:
        self.calls = CallPaths(model)
        self.paths = self.calls.first  # id -> (first name, type): the model's modules
        self.stack: list[tuple[str, type]] = []
        self.running: list[nn.Module] = []  # the module of each stack entry
        self._stack_meta: dict[str, tuple[str, type]] | None = None

    def module_stack(self) -> dict[str, tuple[str, type]]:
        """The nn_module_stack of a node recorded now (one dict per stack state, shared by
        the nodes recorded in it: thousands of nodes, a handful of states at a time)."""
        if self._stack_meta is None:
            self._stack_meta = {path: (path, cls) for path, cls in self.stack}
        return self._stack_meta

    def enter(self, module: nn.Module, args: tuple) -> None:
        caller, caller_path = (self.running[-1], self.stack[-1][0]) if self.running else (None, "")
        path = self.calls.of(module, caller, caller_path)
        if path is not None:
            self.stack.append(path)
            self.running.append(module)
            self._stack_meta = None

    def exit(self, module: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        if self.running and self.running[-1] is module:
            self.stack.pop()
            self.running.pop()
            self._stack_meta = None

    @contextlib.contextmanager
    def hooked(self) -> Iterator[None]:
        """Global forward hooks calling ``enter`` and ``exit`` while the block runs, for modules
        run by this thread (another thread's count, or its user's code, has hooks of its own)."""
        thread = threading.get_ident()

        def enter(module: nn.Module, args: tuple) -> None:
            if threading.get_ident() == thread:
                self.enter(module, args)

        def exit(module: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
            if threading.get_ident() == thread:
                self.exit(module, args, kwargs, out)

        h1 = _module_hooks.register_module_forward_pre_hook(enter)
        h2 = _module_hooks.register_module_forward_hook(exit, with_kwargs=True)
        try:
            yield
        finally:
            h1.remove()
            h2.remove()


class ShapeStack(ModuleStack):
    """Each module call, in the order calls begin: the path it was called through, its input
    and its output shapes (a module called twice has two)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.made: list[tuple[str, list[list[int]], list[list[int]]]] = []
        self._open: list[int] = []

    def enter(self, module: nn.Module, args: tuple) -> None:
        depth = len(self.stack)
        super().enter(module, args)
        if len(self.stack) > depth:
            self._open.append(len(self.made))
            self.made.append((self.stack[-1][0], [list(t.shape) for t in tensors(args)], []))

    def exit(self, module: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        if self.running and self.running[-1] is module:
            path, ins, _ = self.made[self._open[-1]]
            ins = ins or [list(t.shape) for t in tensors(kwargs)]  # keyword inputs arrive here only
            self.made[self._open.pop()] = (path, ins, [list(t.shape) for t in tensors(out)])
        super().exit(module, args, kwargs, out)


class _Recorder(ModuleStack, TorchFunctionMode):
    """Appends one graph node per top-level torch call whose result holds a tensor."""

    def __init__(
        self, model: nn.Module, registry: Registry, memo: Memo | None = None, shape_rules: bool = True
    ) -> None:
        ModuleStack.__init__(self, model)
        TorchFunctionMode.__init__(self)
        self.memo = memo  # meta runs only: values do not exist, so outputs follow from shapes
        self.shape_rules = shape_rules  # off where sizes are symbolic: a rule's checks would guard
        self.registry = registry
        self.builder = GraphBuilder()
        self.leaf: Any = None  # the rule-bearing module (or Python function) being run, if any
        self.scripted = ScriptedOps(self.emit)  # records the aten ops of TorchScript code

    def emit(self, op: str, target: Any, args: tuple, kwargs: dict, out: Any) -> None:
        self.builder.emit(op, target, args, kwargs, out, {"nn_module_stack": self.module_stack()})

    # -- torch calls --------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        op, target, fx_args = classify(func, args)
        key = out = None
        if self.memo is not None:
            # meta: values do not exist, so outputs follow from shapes, by the op's shape rule
            # or from an identical call that ran already
            out = by_shape_rule(self.registry, op, target, fx_args, kwargs) if self.shape_rules else None
            if _mutates(func, kwargs):
                # in place (relu_, inplace=True): on meta a no-op when the input keeps its
                # shape, strides and dtype; the op returns the input itself
                out = _unchanged_input(args, out)
            elif out is None:
                key = Memo.key(func, (args, kwargs))
                out = self.memo.get(key)
        if out is None:
            # tensors made without a device land on meta; the device mode is entered here,
            # around the ops that run, rather than around the forward: a mode taxes every torch
            # call, the tensor methods of shape rules and memo keys included
            with meta_device(self.memo is None):
                out = func(*args, **kwargs) if self.memo is None else on_meta(func, args, kwargs)
            if key is not None and has_tensor(out):
                self.memo.put(key, out)
        if self.leaf is None and has_tensor(out):
            self.emit(op, target, fx_args, kwargs, out)
        return out

    def whole(self, fn: Any) -> Any:
        """``fn`` (a Python function with a rule of its own) recorded as one node: the calls it
        makes are its own, as a rule-bearing module's are."""
        thread = threading.get_ident()

        def recorded(*args: Any, **kwargs: Any) -> Any:
            # inside a leaf module or another such function, or called by another thread
            if self.leaf is not None or threading.get_ident() != thread:
                return fn(*args, **kwargs)
            self.leaf = fn
            try:
                out = fn(*args, **kwargs)
            finally:
                self.leaf = None
            if has_tensor(out):
                self.emit("call_function", fn, args, kwargs, out)
            return out

        return recorded

    def run_scripted(self, fn: Any, args: tuple, kwargs: dict) -> Any:
        """A TorchScript function's call (``script_calls``), recorded op by op."""
        self.leaf = fn
        try:
            with self.scripted:
                return SCRIPT_CALL(fn, *args, **kwargs)
        finally:
            self.leaf = None

    # -- module hooks ---------------------------------------------------------------------------
    def enter(self, module: nn.Module, args: tuple) -> None:
        if self.leaf is None:
            super().enter(module, args)
            if self.registry.leaf_entry(module) is not None and id(module) in self.paths:
                self.leaf = module
            elif isinstance(module, torch.jit.ScriptModule):
                self.leaf = module
                self.scripted.__enter__()

    def exit(self, module: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        if self.leaf is module:
            self.leaf = None
            if isinstance(module, torch.jit.ScriptModule):
                self.scripted.close()
            else:
                self.emit("call_module", self.stack[-1][0], args, kwargs, out)
        if self.leaf is None:
            super().exit(module, args, kwargs, out)


def _mutates(func: Any, kwargs: dict) -> bool:
    """In-place ops change their inputs' metadata (unsqueeze_, resize_): always run them."""
    name = getattr(func, "__name__", "")
    return name.endswith("_") and not name.endswith("__") or bool(kwargs.get("inplace")) or "out" in kwargs


def _unchanged_input(args: tuple, out: Any) -> torch.Tensor | None:
    """The first tensor argument, if ``out`` (a shape rule's output) matches it exactly."""
    x = next((a for a in args if isinstance(a, torch.Tensor)), None)
    if (
        isinstance(out, torch.Tensor)
        and x is not None
        and (x.shape, x.stride(), x.dtype) == (out.shape, out.stride(), out.dtype)
    ):
        return x
    return None


TENSOR_METHODS = {
    id(getattr(torch.Tensor, n)): n for n in dir(torch.Tensor) if callable(getattr(torch.Tensor, n, None))
}


def classify(func: Any, args: tuple) -> tuple[str, Any, tuple]:
    """FX's spelling of a torch call: a tensor method becomes ``call_method`` by name, a property
    read (``x.T``) becomes ``getattr(x, "T")``, anything else ``call_function``."""
    name = TENSOR_METHODS.get(id(func))
    if name is not None and getattr(torch.Tensor, name, None) is func:
        return "call_method", name, args
    if getattr(func, "__name__", None) == "__get__" and hasattr(func, "__self__"):
        return "call_function", getattr, (args[0], func.__self__.__name__)
    return "call_function", func, args


def record(
    model: nn.Module, args: tuple, kwargs: dict, registry: Registry, real: bool, shortcuts: bool = True
) -> Capture:
    """Run one forward and record the torch calls, inside the count's guard (the model on its
    stand-ins: meta unless ``real``). ``shortcuts=False``: no shape rules (sizes are symbolic)."""
    rec = _Recorder(model, registry, None if real else Memo(), shortcuts)
    builder = rec.builder
    inputs = input_placeholders(builder, args, kwargs)
    builder.attrs.update(tensor_names(model))
    try:
        with rec.hooked(), torch.no_grad(), whole_calls(model, registry, rec.whole), script_calls(rec), rec:
            out = model(*args, **kwargs)
    except Exception as e:
        where = "the forward pass" + (f" in module '{rec.stack[-1][0]}'" if rec.stack and rec.stack[-1][0] else "")
        raise explain_failure(e, where, real) from e
    builder.graph.output(builder.to_args(out))
    return Capture(builder.graph, model, CaptureMethod.RECORD, inputs, constants=builder.constants)


def input_placeholders(builder: GraphBuilder, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """A placeholder for each input tensor (named by its keyword, if it has one)."""
    inputs: list[torch.Tensor] = []
    kw_names = {id(v): k for k, v in kwargs.items()}
    for leaf in tree_flatten((args, kwargs))[0]:
        if isinstance(leaf, torch.Tensor) and id(leaf) not in builder.env:
            builder.placeholder(kw_names.get(id(leaf), f"arg{len(inputs)}"), leaf)
            inputs.append(leaf)
    return inputs


def tensor_names(model: nn.Module) -> dict[int, str]:
    """id -> qualified name of the model's parameters and buffers (its stand-ins, when swapped)."""
    return {id(t): name for name, t in list(model.named_parameters()) + list(model.named_buffers())}

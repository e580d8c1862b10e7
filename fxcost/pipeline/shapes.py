"""Pipeline, shapes: Record every node's output (shape and dtype) in ``node.meta["val"]``.

By default everything runs on the ``meta`` device: nothing is computed and memory does not grow
with the model. The user's parameters and buffers are never copied or moved: ``standins`` swaps
meta stand-ins into the module tree for the duration of the run and puts the originals back, the
very same objects, even when the run fails.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
from torch import nn
from torch.utils._device import _device_constructors

from ..core.errors import FxcostError, explain_failure
from ..core.guards import to_meta
from ..core.naming import module_path, target_name
from ..rules.registry import Registry
from .memo import Memo, by_shape_rule, meta_device


class ValueProp(torch.fx.Interpreter):
    """Runs a graph node by node and stores each result in ``node.meta["val"]`` (torch's
    ``ShapeProp`` writes ``tensor_meta`` instead, metadata without a value to compute on).

    Nodes that already carry a value (Dynamo's ``example_value``, an earlier ``val``) are
    re-run anyway: values must match the inputs given now. On meta tensors two shortcuts skip an
    op's forward: the shape rule of its registry entry (activations, batch norm: output like
    input) and the memo of identical calls seen before.
    """

    def __init__(
        self,
        root: nn.Module,
        graph: torch.fx.Graph,
        real: bool = False,
        constants: dict[str, Any] | None = None,
        registry: Registry | None = None,
    ) -> None:
        super().__init__(root, garbage_collect_values=True, graph=graph)
        self.real = real
        self.constants = constants or {}  # tensors the capture kept off the model
        self.registry = registry
        self._memo = Memo()
        self._module_keys: dict[int, Any] = {}

    def fetch_attr(self, target: str) -> Any:
        if target in self.constants:
            value = self.constants[target]
            return value if self.real else to_meta(value)
        return super().fetch_attr(target)

    # On meta, tensors made without a device land on meta. Per node rather than one
    # torch.device("meta") mode around the run: a mode taxes every torch call, tensor methods
    # in the shape rules included (a third of shape propagation's time).
    def call_function(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if not self.real:
            if kwargs.get("device") is None and target in _device_constructors():
                kwargs = {**kwargs, "device": "meta"}
            elif isinstance(target, torch._ops.OpOverload):
                args, kwargs = _on_meta(target, args, kwargs)
        return super().call_function(target, args, kwargs)

    def call_module(self, target: Any, args: tuple, kwargs: dict) -> Any:
        with meta_device(self.real):  # a module's forward may make tensors of its own
            if target == "":  # the model itself is the leaf
                return self.module(*args, **kwargs)
            return super().call_module(target, args, kwargs)

    def run_node(self, n: torch.fx.Node) -> Any:
        if self.real or not n.op.startswith("call_"):
            return self._run(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        mod = self._plain_module(str(n.target)) if n.op == "call_module" else None
        result = self._by_shape_rule(n, args, kwargs, mod)
        if result is not None:
            n.meta["val"] = result
            return result
        key = self._key(n, args, kwargs, mod)
        result = self._memo.get(key)
        if result is None:
            result = self._run(n)
            self._memo.put(key, result)
        n.meta["val"] = result
        return result

    def _run(self, n: torch.fx.Node) -> Any:
        try:
            result = super().run_node(n)
        except FxcostError:
            raise
        except Exception as e:
            mod = module_path(n, None)[0]
            where = f"node '{n.name}' ({n.op} {target_name(n.target)}" + (f" in module '{mod}')" if mod else ")")
            raise explain_failure(e, where, self.real) from e
        n.meta["val"] = result
        return result

    def _by_shape_rule(self, n: torch.fx.Node, args: tuple, kwargs: dict, mod: nn.Module | None) -> Any:
        """``mod``: the node's module if it is a plain torch.nn one. Another module's output comes
        from a shape rule registered for exactly its class (a user's rule for a module that reads
        values), never from one it inherits: a subclass may compute something else."""
        if self.registry is None:
            return None
        if n.op == "call_module" and mod is None:
            mod = self.fetch_attr(str(n.target)) if n.target else self.module
            entry = self.registry.own_entry(type(mod))
            if entry is None or entry.shape is None:
                return None
        return by_shape_rule(self.registry, n.op, n.target, args, kwargs, mod)

    def _key(self, n: torch.fx.Node, args: tuple, kwargs: dict, mod: nn.Module | None) -> Any:
        """The memo key of a node: its target (a plain torch.nn module by its configuration)
        and its arguments."""
        if n.op == "call_module":
            if mod is None:
                return None
            target = self._module_keys.get(id(mod))
            if target is None:
                own = tuple(
                    (k, tuple(t.shape), t.dtype)
                    for k, t in list(mod._parameters.items()) + list(mod._buffers.items())
                    if t is not None
                )
                target = self._module_keys[id(mod)] = (type(mod), mod.extra_repr(), mod.training, own)
        else:
            target = n.target
        return Memo.key(target, (args, kwargs))

    def _plain_module(self, path: str) -> nn.Module | None:
        """The module at ``path`` if it is one of torch.nn's own classes without hooks, whose
        output follows from its type, configuration, mode, own tensors and inputs alone."""
        mod = self.fetch_attr(path) if path else self.module
        if not type(mod).__module__.startswith("torch.nn") or mod._forward_hooks or mod._forward_pre_hooks:
            return None
        return mod


def _on_meta(op: torch._ops.OpOverload, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """An aten call's ``device`` argument set to meta: graphs exported on a device name it
    (``aten.to.device(x, device('cpu'))``, ``aten.arange(..., device=cpu)``), and meta tensors
    cannot move to a real one."""
    if kwargs.get("device") is not None:
        return args, {**kwargs, "device": "meta"}
    for i, a in enumerate(op._schema.arguments[: len(args)]):
        if a.name == "device" and args[i] is not None:
            return (*args[:i], torch.device("meta"), *args[i + 1 :]), kwargs
    return args, kwargs

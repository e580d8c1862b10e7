"""The pipeline's memo, shared by every capture path: outputs of meta ops by a key of what they
depend on, outputs given by a rule's shape rule instead of the op's own meta kernel, and how
one call runs on meta (``on_meta``, ``meta_device``).

Kept apart from ``shapes.py`` (the ValueProp pass) so that the recorders, which give nodes their
values as they record them, need not import the pass they replace.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from ..core.errors import FxcostError
from ..core.guards import to_meta
from ..core.naming import target_name
from ..core.walk import tensors
from ..rules.registry import OpCall, Registry


def by_shape_rule(
    registry: Registry, kind: str, target: Any, args: tuple, kwargs: dict, module: nn.Module | None = None
) -> Any:
    """The output of a call on meta tensors by its rule's shape rule, or None (no shape rule,
    or it declined): the op's own meta kernel must run."""
    entry = registry.node_entry(kind, target, module)
    if entry is None or entry.shape is None:
        return None
    try:
        return entry.shape(OpCall(kind, target, args, kwargs, None, module))
    except Exception as e:
        if any(t.is_nested for t in tensors((args, kwargs))):
            return None  # a shape rule written for strided tensors: jagged ones run the op's kernel
        name = getattr(entry.shape, "__qualname__", repr(entry.shape))
        on = target_name(target) if module is None else f"{target or 'the model'} ({type(module).__name__})"
        raise FxcostError(
            f"shape rule '{name}' failed on {on}: {type(e).__name__}: {e}. "
            "Fix: correct the rule, or return None from it to run the op."
        ) from e


class _Unkeyable(Exception):
    pass


class Memo:
    """Outputs of meta ops by a key of everything they depend on: on meta tensors an op's
    output is a function of its inputs' shapes, strides, dtypes and its other arguments, so
    repeated layers run once (some meta kernels are Python decompositions at ~0.5 ms a call)."""

    def __init__(self) -> None:
        self._outputs: dict[Any, Any] = {}

    @staticmethod
    def key(target: Any, args: Any) -> Any:
        """A hashable key, or None when an argument cannot be keyed safely."""
        try:
            key = (target, _key_of(args))
            hash(key)
            return key
        except _Unkeyable:
            return None
        except TypeError:  # symbolic sizes (fxcost.formula): keyed by their expressions
            try:
                return (target, _key_of(args, symbolic=True))
            except _Unkeyable:
                return None

    def get(self, key: Any) -> Any:
        """Fresh meta outputs for ``key``, or None."""
        if key is None or key not in self._outputs:
            return None
        return _rebuild(self._outputs[key])

    def put(self, key: Any, result: Any) -> None:
        if key is not None:
            try:
                self._outputs[key] = _template(result)
            except _Unkeyable:  # an output container we do not rebuild: not memoized
                pass


_SCALARS = frozenset((bool, int, float, complex, str, torch.dtype, torch.device, type(None), type(...)))


def _key_of(v: Any, symbolic: bool = False) -> Any:
    """A hashable stand-in for an op's arguments: meta tensors by shape, stride, dtype and
    requires_grad; plain values by value; ``symbolic``: symbolic sizes by their expressions;
    anything else is not keyed (a tensor on a real device has values its output may depend on)."""
    t = type(v)
    if t in _SCALARS:
        return (t, v)
    if isinstance(v, torch.Tensor):
        if not v.is_meta or v.is_nested:  # real values, or a jagged tensor's ragged size
            raise _Unkeyable
        if symbolic:
            return (_exprs(v.shape), _exprs(v.stride()), v.dtype, v.requires_grad)
        return (v.shape, v.stride(), v.dtype, v.requires_grad)
    if isinstance(v, (tuple, list)):  # FX hands over immutable_list / immutable_dict
        return (t, tuple([_key_of(x, symbolic) for x in v]))
    if isinstance(v, dict):
        return (t, tuple([(k, _key_of(x, symbolic)) for k, x in v.items()]))
    if symbolic and isinstance(v, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return (t, v.node.expr)
    raise _Unkeyable


def _exprs(sizes: Any) -> tuple:
    return tuple(s.node.expr if isinstance(s, torch.SymInt) else s for s in sizes)


class _Meta(tuple):
    """Shape, stride, dtype and requires_grad of a memoized meta output; with symbolic sizes
    also the output itself (see ``_rebuild``)."""


def _template(v: Any) -> Any:
    """A memoized output: meta tensors as _Meta, in plain tuples and lists. A tensor on a real
    device (``torch.arange(n, device="cpu")``) is not memoized: its values are real and used."""
    if isinstance(v, torch.Tensor):
        if not v.is_meta or v.is_nested:
            raise _Unkeyable
        symbolic = not v.requires_grad and any(isinstance(n, torch.SymInt) for n in v.shape)
        return _Meta((v.shape, v.stride(), v.dtype, v.requires_grad, v if symbolic else None))
    t = type(v)
    if t is tuple or t is list:
        return t(_template(x) for x in v)
    if t in _SCALARS:
        return v
    raise _Unkeyable


def _rebuild(v: Any) -> Any:
    t = type(v)
    if t is _Meta:
        shape, stride, dtype, grad, source = v
        if source is not None:  # symbolic sizes: a fresh alias costs a tenth of a new tensor
            return source.detach()
        out = torch.empty_strided(shape, stride, dtype=dtype, device="meta")
        return out.requires_grad_() if grad else out
    if t is tuple or t is list:
        return t(_rebuild(x) for x in v)
    return v


def meta_device(real: bool) -> contextlib.AbstractContextManager:
    """On the meta path, tensors made without a device inside forward (torch.arange(n)) land on
    meta too; real runs leave devices alone."""
    return contextlib.nullcontext() if real else torch.device("meta")


def on_meta(func: Any, args: tuple, kwargs: dict) -> Any:
    """Run one call of a forward on meta. A call that fails mixing meta tensors with tensors on
    a real device (a tensor the model keeps as a plain attribute, such as torchvision's default
    boxes, meeting the meta stand-ins of its activations) runs again with those on meta too: in
    eager all of them would be on the model's device, and so would its error, if it has one."""
    try:
        return func(*args, **kwargs)
    except RuntimeError:
        if len({t.is_meta for t in tensors((args, kwargs))}) < 2:
            raise
    return func(*to_meta(args), **to_meta(kwargs))

"""The rule registry: maps an op target to the rule that costs it.

A target is one of
- an ``nn.Module`` subclass (looked up along the MRO, so subclasses inherit their base's rule),
- a Python callable (``torch.nn.functional.relu``, ``torch.relu``, ``operator.add`` ...),
- a tensor-method name (``"relu"``, ``"softmax"``, ``"__matmul__"`` ...).

A rule is a pure function ``rule(call: OpCall) -> Cost`` that reads only shapes, dtypes, module
attributes and call arguments. It returns FLOPs and MACs; bytes are filled in generically by the
interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map

from .cost import Cost


def leaves(value: Any) -> list[Any]:
    """The leaves of the plain containers FX arguments are made of (tuple, list, dict), fast;
    other pytrees (namedtuples, ModelOutput) through torch's pytree."""
    out: list[Any] = []
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is tuple or t is list:
            stack.extend(reversed(v))
        elif t is dict:
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, (tuple, list, dict)):
            stack.extend(reversed(tree_leaves(v)))
        else:
            out.append(v)
    return out


def map_tensors(fn: Callable[[torch.Tensor], Any], value: Any) -> Any:
    """``value`` with ``fn`` applied to each tensor in it; plain containers fast, other pytrees
    through torch's pytree."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    t = type(value)
    if t is tuple or t is list:
        return t(map_tensors(fn, v) for v in value)
    if t is dict:
        return {k: map_tensors(fn, v) for k, v in value.items()}
    if isinstance(value, (tuple, list, dict)):
        return tree_map(lambda v: fn(v) if isinstance(v, torch.Tensor) else v, value)
    return value


def tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in a (nested) value, in order (called for every node: plain containers
    of tensors and scalars take the short path)."""
    if isinstance(value, torch.Tensor):
        return [value]
    t = type(value)
    if t is tuple or t is list:
        out: list[torch.Tensor] = []
        for v in value:
            if isinstance(v, torch.Tensor):
                out.append(v)
            elif isinstance(v, (tuple, list, dict)):
                out += tensors(v)
        return out
    if isinstance(value, (tuple, list, dict)):
        return [v for v in leaves(value) if isinstance(v, torch.Tensor)]
    return []

Rule = Callable[["OpCall"], Cost]
#: Optional shortcut for shape propagation on meta tensors: the op's output (meta tensors) from
#: its inputs' shapes alone, or None to run the op's meta kernel after all.
ShapeRule = Callable[["OpCall"], Any]


@dataclass(frozen=True)
class Entry:
    """A registered rule: the function, the op name it reports under, whether it moves data,
    and an optional shape rule."""

    rule: Rule
    op: str
    moves_data: bool = True
    shape: ShapeRule | None = None


class OpCall:
    """What a rule sees of one call: its arguments with tensors (real, meta or fake) in place of
    graph nodes, its output, the module for ``call_module`` nodes, and the counting options."""

    __slots__ = ("kind", "target", "args", "kwargs", "out", "module", "flops_mode", "attention")

    def __init__(
        self,
        kind: str,
        target: Any,
        args: tuple,
        kwargs: dict,
        out: Any,
        module: nn.Module | None = None,
        flops_mode: str = "exact",
        attention: str = "full",
    ) -> None:
        self.kind = kind
        self.target = target
        self.args = args
        self.kwargs = kwargs
        self.out = out
        self.module = module
        self.flops_mode = flops_mode
        self.attention = attention

    # -- tensors ---------------------------------------------------------------------------
    @property
    def inputs(self) -> list[torch.Tensor]:
        """Every tensor among the call's arguments, in order."""
        return tensors((self.args, self.kwargs))

    @property
    def x(self) -> torch.Tensor:
        """The first tensor argument (``self`` for a method, ``input`` for a function/module)."""
        for t in self.inputs:
            return t
        raise ValueError(f"{self.target} has no tensor input")

    @property
    def y(self) -> torch.Tensor:
        """The first tensor of the output."""
        for t in tensors(self.out):
            return t
        raise ValueError(f"{self.target} has no tensor output")

    @property
    def out_numel(self) -> int:
        """Elements over all output tensors."""
        return sum(t.numel() for t in tensors(self.out))

    # -- arguments -------------------------------------------------------------------------
    def arg(self, pos: int | None, name: str, default: Any = None) -> Any:
        """A call argument by position or keyword (positions count ``self``/``input`` as 0)."""
        if name in self.kwargs:
            return self.kwargs[name]
        if pos is not None and pos < len(self.args):
            return self.args[pos]
        return default

    def get(self, name: str, pos: int | None = None, default: Any = None) -> Any:
        """A module attribute for ``call_module``, else the call argument ``name``/``pos``.

        This lets one rule serve ``nn.Softmax(dim)``, ``F.softmax(x, dim)`` and ``x.softmax(dim)``.
        """
        if self.module is not None:
            return getattr(self.module, name, default)
        return self.arg(pos, name, default)

    # -- the one place the dot-product convention lives ---------------------------------
    def dots(self, macs: int, outputs: int) -> Cost:
        """Cost of ``outputs`` dot products totalling ``macs`` multiply-accumulates.

        ``exact`` (the seed's convention): a dot product of n is n multiplies and n-1 adds, so
        2*macs - outputs FLOPs. ``2mac`` (FlopCounterMode, MFU): 2*macs FLOPs.
        """
        macs, outputs = int(macs), int(outputs)
        if macs == 0:
            return Cost()
        # an output summing c >= 1 terms needs c - 1 adds; one that receives none (a strided
        # transposed conv's gaps) needs none: at most min(outputs, macs) outputs save an add
        flops = 2 * macs if self.flops_mode == "2mac" else 2 * macs - min(outputs, macs)
        return Cost(flops=flops, macs=macs)


class Registry:
    """Targets to rules. ``register`` is a decorator; later registrations win."""

    def __init__(self) -> None:
        self._modules: dict[type, Entry] = {}
        self._functions: dict[Any, Entry] = {}
        self._methods: dict[str, Entry] = {}
        self._module_cache: dict[type, Entry | None] = {}

    def register(
        self, *targets: Any, op: str | None = None, moves_data: bool = True, shape: ShapeRule | None = None
    ) -> Callable[[Rule], Rule]:
        """Register the decorated rule for every target given."""
        if not targets:
            raise TypeError("register_rule() needs at least one target")

        def deco(rule: Rule) -> Rule:
            entry = Entry(rule, op or rule.__name__.lstrip("_"), moves_data, shape)
            for t in targets:
                self._add(t, entry)
            return rule

        return deco

    def _add(self, target: Any, entry: Entry) -> None:
        if isinstance(target, str):
            self._methods[target] = entry
        elif isinstance(target, type) and issubclass(target, nn.Module):
            self._modules[target] = entry
            self._module_cache.clear()
        elif callable(target):
            self._functions[target] = entry
        else:
            raise TypeError(
                f"cannot register a rule for {target!r}: a target is an nn.Module subclass, a "
                "callable or a tensor-method name"
            )

    def module_entry(self, cls: type) -> Entry | None:
        """The rule for a module type, following its MRO."""
        try:
            return self._module_cache[cls]
        except KeyError:
            pass
        found = None
        for base in cls.__mro__:
            if base in self._modules:
                found = self._modules[base]
                break
        self._module_cache[cls] = found
        return found

    def function_entry(self, fn: Any) -> Entry | None:
        """The rule for a callable; an aten overload (``aten.mm.default``) falls back to its
        packet (``aten.mm``)."""
        try:
            entry = self._functions.get(fn)
        except TypeError:  # unhashable callable
            return None
        if entry is None and isinstance(fn, torch._ops.OpOverload):
            entry = self._functions.get(fn.overloadpacket)
        return entry

    def alias(self, target: Any, existing: Any) -> None:
        """Give ``target`` the rule already registered for ``existing`` (a method name or a
        callable); used to map aten ops onto the torch-level rules of the same op."""
        entry = self._methods.get(existing) if isinstance(existing, str) else self.function_entry(existing)
        if entry is not None:  # an alias takes other arguments: the shape rule stays behind
            self._add(target, replace(entry, shape=None))

    def method_entry(self, name: str) -> Entry | None:
        return self._methods.get(name)

    def node_entry(self, kind: str, target: Any, module: nn.Module | None = None) -> Entry | None:
        """The rule of a graph node: by module type, callable or method name."""
        if kind == "call_module":
            return self.module_entry(type(module))
        if kind == "call_function":
            return self.function_entry(target)
        if kind == "call_method":
            return self.method_entry(target)
        return None

    def targets(self) -> Iterable[Any]:
        """Every registered target (for documentation and coverage tests)."""
        yield from self._modules
        yield from self._functions
        yield from self._methods


#: The registry fxcost uses unless given another.
REGISTRY = Registry()


def register_rule(*targets: Any, op: str | None = None, moves_data: bool = True, shape: ShapeRule | None = None):
    """Register a cost rule for one or more targets (decorator).

    >>> @fxcost.register_rule(MyFusedBlock)
    ... def my_block(call):
    ...     return call.dots(macs=..., outputs=call.y.numel())

    ``op`` names the row in ``Report.by_operator()`` (default: the function's name).
    ``moves_data=False`` marks views whose outputs alias their inputs (no bytes moved).
    ``shape`` (optional) computes the output on meta tensors from ``call.args`` alone (``call.out``
    is None) so that shape propagation can skip the op's forward, or returns None to run it.
    """
    return REGISTRY.register(*targets, op=op, moves_data=moves_data, shape=shape)


def method_names(*names: str, inplace: bool = True, dunder: bool = False) -> list[str]:
    """Tensor-method spellings of ops: ``relu`` gives ``relu``, ``relu_``; with ``dunder``
    also ``__add__``, ``__radd__``, ``__iadd__``."""
    out: list[str] = []
    for n in names:
        out.append(n)
        if inplace:
            out.append(n + "_")
        if dunder:
            out += [f"__{n}__", f"__r{n}__", f"__i{n}__"]
    return out

"""The rule registry: maps an op target to the rule that costs it.

A target is one of
- an ``nn.Module`` subclass (looked up along the MRO, so subclasses inherit their base's rule),
- a Python callable (``torch.nn.functional.relu``, ``torch.relu``, ``operator.add`` ...),
- a tensor-method name (``"relu"``, ``"softmax"``, ``"__matmul__"`` ...),
- an operator name ``"namespace::op"`` (a ``torch.library`` custom op, before its library is
  even imported: ``"transformers::grouped_mm_fallback"``).

An aten op (``aten.conv2d.default``: export programs, training steps, Inductor graphs) without a
rule of its own takes the rule of the torch-level op of the same name, found when it is first
looked up: one formula in one place, users' rules included. Rules read arguments by name, and an
aten call's arguments are read by its schema's names, so the same rule serves both levels.

A rule is a pure function ``rule(call: OpCall) -> Cost`` that reads only shapes, dtypes, module
attributes and call arguments. It returns FLOPs and MACs; bytes are filled in generically by the
interpreter.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from .aten_names import ATEN_NAMES, torch_builtin
from .call import Entry, OpCall, Rule, ShapeRule

__all__ = ["Entry", "OpCall", "Registry", "REGISTRY", "Rule", "ShapeRule", "register_rule", "watch_rules"]


class Registry:
    """Targets to rules. ``register`` is a decorator; later registrations win.

    ``builtins`` names a module whose import registers rules into this registry, done on first
    use (a lookup, a registration, ``copy``) so that ``import fxcost`` loads no rule and a user's
    own rule, registered before or after, wins over the built-in one. The module's ``late()``
    registers rules for libraries imported since (torchvision's ops); it is asked again whenever
    ``sys.modules`` has grown, until it answers True.
    """

    def __init__(self, builtins: str | None = None) -> None:
        self._builtins = builtins  # None once loaded and nothing more can come
        self._imported = False
        self._modules_seen = -1
        self._modules: dict[type, Entry] = {}
        self._functions: dict[Any, Entry] = {}
        self._methods: dict[str, Entry] = {}
        self._ops: dict[str, Entry] = {}  # "namespace::op" names
        self._module_cache: dict[type, Entry | None] = {}
        self._op_cache: dict[Any, Entry | None] = {}
        self._python_functions: list[Any] | None = None

    def load(self) -> None:
        """Load the built-ins now rather than on first use (``import fxcost`` does, so that no
        count pays for it), and the rules of modules imported since."""
        self._ready()

    def _ready(self) -> None:
        if self._builtins is None:
            return
        with _LOADING:  # the first use may come from several threads at once
            self._load()

    def _load(self) -> None:
        if self._builtins is None:
            return
        if not self._imported:
            self._imported = True  # set first: the import registers here
            importlib.import_module(self._builtins)
        if len(sys.modules) != self._modules_seen:
            late = getattr(sys.modules.get(self._builtins), "late", None)
            if late is None:  # the package is still being imported: ask on a later use
                return
            self._modules_seen = len(sys.modules)
            if late():
                self._builtins = None

    def copy(self) -> Registry:
        """A registry holding this one's rules, to change without changing this one
        (``fxcost.REGISTRY.copy()``: the built-ins plus your own)."""
        self._ready()
        new = Registry()
        for store in _STORES:
            getattr(new, store).update(getattr(self, store))
        return new

    @contextlib.contextmanager
    def scoped(self) -> Iterator[Registry]:
        """Registrations made inside the block are undone when it ends (a test's own rules, a
        notebook's experiment): ``with fxcost.REGISTRY.scoped(): ...``."""
        self._ready()
        saved = {store: dict(getattr(self, store)) for store in _STORES}
        try:
            yield self
        finally:
            for store, entries in saved.items():
                getattr(self, store).clear()
                getattr(self, store).update(entries)
            self._forget_lookups()

    def register(
        self,
        *targets: Any,
        op: str | None = None,
        moves_data: bool = True,
        shape: ShapeRule | None = None,
        recompute: Rule | None = None,
    ) -> Callable[[Rule], Rule]:
        """Register the decorated rule for every target given."""
        if not targets:
            raise TypeError("register_rule() needs at least one target")

        self._ready()  # the built-ins first, so that this rule wins over theirs

        def deco(rule: Rule) -> Rule:
            entry = Entry(rule, op or rule.__name__.lstrip("_"), moves_data, shape, recompute)
            for t in targets:
                self._add(t, entry)
            return rule

        return deco

    def unregister(self, *targets: Any) -> None:
        """Remove the rules of ``targets`` (a built-in one included): their calls are then reported
        as unsupported, or take a rule registered later."""
        self._ready()
        for t in targets:
            for store in _STORES:
                getattr(self, store).pop(_function_key(t), None)
        self._forget_lookups()

    def _forget_lookups(self) -> None:
        """Drop what lookups cached, after the rules changed: aten ops resolve to torch-level rules
        and modules to their base class's on lookup, so both are looked up again."""
        self._op_cache.clear()
        self._module_cache.clear()
        self._python_functions = None

    def _add(self, target: Any, entry: Entry) -> None:
        self._forget_lookups()
        if isinstance(target, str) and "::" in target:
            self._ops[target] = entry
        elif isinstance(target, str):
            self._methods[target] = entry
        elif isinstance(target, type) and issubclass(target, nn.Module):
            self._modules[target] = entry
        elif isinstance(target, type) and issubclass(target, torch.autograd.Function):
            self._functions[_function_key(target)] = entry
        elif callable(target):
            self._functions[target] = entry
        else:
            raise TypeError(
                f"cannot register a rule for {target!r}: a target is an nn.Module or autograd.Function subclass, a "
                "callable or a tensor-method name"
            )

    def module_entry(self, cls: type) -> Entry | None:
        """The rule for a module type, following its MRO."""
        if self._builtins is not None:
            self._ready()
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

    def own_entry(self, cls: type) -> Entry | None:
        """The rule registered for exactly ``cls`` (not one inherited from a base class)."""
        if self._builtins is not None:
            self._ready()
        return self._modules.get(cls)

    def leaf_entry(self, module: nn.Module) -> Entry | None:
        """The rule that costs a call of ``module`` as one node, or None to capture what it runs.

        A parametrized module (``nn.utils.parametrize``, ``parametrizations.weight_norm``)
        computes its weights on each access: its rule would miss that work, so it is captured
        through, its parametrizations included."""
        entry = self.module_entry(type(module))
        if entry is not None and "parametrizations" in module._modules:
            return None
        return entry

    def function_entry(self, fn: Any) -> Entry | None:
        """The rule for a callable. An operator (``aten.mm.default``) falls back to its packet
        (``aten.mm``), its name (``"aten::mm"``), then the torch-level op of the same name."""
        if self._builtins is not None:
            self._ready()
        try:
            entry = self._functions.get(fn)
        except TypeError:  # unhashable callable
            return None
        if entry is None and (
            isinstance(fn, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)) or torch_builtin(fn)
        ):
            try:
                return self._op_cache[fn]
            except KeyError:
                entry = self._op_cache[fn] = self._operator_entry(fn)
        return entry

    def _operator_entry(self, op: Any) -> Entry | None:
        if torch_builtin(op):  # torch.native_layer_norm, torch.linalg.solve: their aten op's rule
            op = getattr(torch.ops.aten, op.__name__, None)
            if not isinstance(op, torch._ops.OpOverloadPacket):
                return None
        packet = op.overloadpacket if isinstance(op, torch._ops.OpOverload) else op
        entry = self._functions.get(packet) or self._ops.get(packet._qualified_op_name)
        if entry is not None or not packet._qualified_op_name.startswith("aten::"):
            return entry
        name = ATEN_NAMES.get(packet.__name__, packet.__name__)
        entry = self._methods.get(name)
        for owner, prefix in (
            (torch, ""),
            (torch.nn.functional, ""),
            (torch.special, "special_"),
            (torch.linalg, "linalg_"),
        ):
            if entry is None:  # aten.special_erfcx is torch.special.erfcx
                fn = getattr(owner, name.removeprefix(prefix), None)
                entry = self._functions.get(fn) if callable(fn) else None
        # the torch-level shape rule reads torch's arguments, not the aten op's: it stays behind
        return replace(entry, shape=None) if entry is not None and entry.shape is not None else entry

    def method_entry(self, name: str) -> Entry | None:
        """The rule for a tensor-method name."""
        if self._builtins is not None:
            self._ready()
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

    def python_functions(self) -> list[Any]:
        """The plain Python functions with a rule of their own (a user's ``register_rule(my_fn)``):
        the capture keeps each call of one as a single node instead of tracing into it."""
        self._ready()
        if self._python_functions is None:  # asked on every capture: kept until a registration
            self._python_functions = [
                f
                for f in self._functions
                if (isinstance(f, types.FunctionType) or autograd_function(f))
                and not (getattr(autograd_function(f) or f, "__module__", None) or "").startswith("torch")
            ]
        return self._python_functions

    def targets(self) -> Iterable[Any]:
        """Every registered target (for documentation and coverage tests)."""
        self._ready()
        for store in _STORES:
            yield from getattr(self, store)

    def entries(self) -> Iterable[Entry]:
        """Every registered entry, once per target that has it."""
        self._ready()
        for store in _STORES:
            yield from getattr(self, store).values()


def _function_key(target: Any) -> Any:
    """Where a target's rule is kept: an autograd.Function's under its ``apply``, the call the
    capture sees (``MyFunction.apply(x)``); any other target under itself."""
    if isinstance(target, type) and issubclass(target, torch.autograd.Function):
        return target.apply
    return target


def autograd_function(f: Any) -> type | None:
    """The ``torch.autograd.Function`` whose ``apply`` ``f`` is (a rule registered for the
    class is kept under its ``apply``), or None."""
    owner = getattr(f, "__self__", None)
    if (
        getattr(f, "__name__", None) == "apply"
        and isinstance(owner, type)
        and issubclass(owner, torch.autograd.Function)
    ):
        return owner
    return None


_STORES = ("_modules", "_functions", "_methods", "_ops")
_LOADING = threading.RLock()  # re-entrant: loading the built-ins registers rules, which asks again
#: The sets ``watch_rules`` blocks are filling.
_WATCHING: list[set[Rule]] = []


@contextlib.contextmanager
def watch_rules() -> Iterator[set[Rule]]:
    """The rule functions (``recompute`` rules included) that any registry applies while the block
    runs: to check that a test suite exercises every rule of a rules package."""
    applied: set[Rule] = set()
    _WATCHING.append(applied)
    try:
        yield applied
    finally:
        _WATCHING.remove(applied)


def note_applied(rule: Rule) -> None:
    """Called by the interpreter for each rule it applies (see ``watch_rules``)."""
    for applied in _WATCHING:
        applied.add(rule)


#: The registry fxcost uses unless given another.
REGISTRY = Registry(builtins="fxcost.rules.builtins")


def register_rule(
    *targets: Any,
    op: str | None = None,
    moves_data: bool = True,
    shape: ShapeRule | None = None,
    recompute: Rule | None = None,
):
    """Register a cost rule for one or more targets (decorator).

    >>> @fxcost.register_rule(MyFusedBlock)
    ... def my_block(call):
    ...     return call.dots(macs=..., outputs=call.y.numel())

    ``op`` names the row in ``Report.by_operator()`` (default: the function's name).
    ``moves_data=False`` marks views whose outputs alias their inputs (no bytes moved).
    ``shape`` (optional) computes the output on meta tensors from ``call.args`` alone (``call.out``
    is None) so that shape propagation can skip the op's forward, or returns None to run it.
    ``recompute`` (optional) costs what the kernel recomputes on its own (a fused attention
    backward re-running QKᵀ): reported as a node of phase "recompute", hardware FLOPs only.
    """
    return REGISTRY.register(*targets, op=op, moves_data=moves_data, shape=shape, recompute=recompute)


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

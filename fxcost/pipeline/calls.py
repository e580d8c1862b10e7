"""Pipeline, calls a capture takes whole or cannot see op by op.

``whole_calls``: a plain Python function with a cost rule of its own is kept as one node (its
rule costs it) instead of being traced through, as ``torch.fx.wrap`` does.

TorchScript inside a recording: TorchScript's interpreter calls ops without torch's Python overrides, so the recorder's
``TorchFunctionMode`` never sees them: left alone, a scripted function would cost nothing and
say nothing. While it runs, ``ScriptedOps`` (a ``TorchDispatchMode``) records each aten op it
dispatches instead, as FlopCounterMode sees them: a scripted function counts as the same code
unscripted. The recorder turns it on for a ``torch.jit.ScriptModule``'s forward (from its
module hooks) and, through ``script_calls``, for each call of a ``torch.jit.ScriptFunction``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..core.concurrency import GLOBAL, Patch
from ..rules.registry import Registry, autograd_function


@contextlib.contextmanager
def whole_calls(model: nn.Module, registry: Registry, wrap: Any) -> Iterator[None]:
    """While the block runs, the plain Python functions that have a rule of their own are
    replaced by ``wrap(fn)`` wherever the model's code can name them: the globals of each of
    its modules' source files and the function's own module (``helpers.fn(x)``), as
    ``torch.fx.wrap`` does. The capture then keeps each call as one node that the function's
    rule costs, instead of tracing through it."""
    functions = registry.python_functions()
    if not functions:
        yield
        return
    with GLOBAL:  # module globals are process-wide: no other count may run with them patched
        with _patched(model, functions, wrap):
            yield


@contextlib.contextmanager
def _patched(model: nn.Module, functions: list[Any], wrap: Any) -> Iterator[None]:
    spaces = {
        id(vars(m)): vars(m)
        for m in (sys.modules.get(type(sub).__module__) for sub in model.modules())
        if m is not None
    }
    spaces.update({id(vars(m)): vars(m) for m in (sys.modules.get(f.__module__) for f in functions) if m is not None})
    wanted = {id(f): f for f in functions}
    patched: list[tuple[dict, str, Any]] = []
    applies: list[tuple[Any, Any]] = []  # (autograd.Function, its own ``apply`` or None)
    try:
        for space in spaces.values():
            for name, value in list(space.items()):
                if id(value) in wanted and value is wanted[id(value)]:
                    patched.append((space, name, value))
                    space[name] = wrap(value)
        for f in functions:
            cls: Any = autograd_function(f)
            if cls is not None:  # MyFunction.apply: a class attribute, not a global
                applies.append((cls, cls.__dict__.get("apply")))
                cls.apply = staticmethod(wrap(f))
        yield
    finally:
        for space, name, value in reversed(patched):
            space[name] = value
        for owner, own in reversed(applies):
            if own is None:
                del owner.apply
            else:
                owner.apply = own


def has_tensor(value: Any) -> bool:
    """Whether a call's result holds a tensor (tuples and lists of them included)."""
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(has_tensor(v) for v in value)
    return False


class ScriptedOps(TorchDispatchMode):
    """While on, each aten op with a tensor result goes to ``emit(op, func, args, kwargs, out)``
    (the recorder's)."""

    def __init__(self, emit: Callable[..., Any]) -> None:
        super().__init__()
        self._emit = emit
        self.active = False

    def __enter__(self) -> ScriptedOps:
        self.active = True
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.active = False
        super().__exit__(*exc)

    def close(self) -> None:
        """Leave the mode if it is on (a scripted module's forward ends in its exit hook, or
        not at all when it raises)."""
        if self.active:
            self.__exit__(None, None, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if has_tensor(out):
            self._emit("call_function", func, args, kwargs, out)
        return out


def _scripted_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``ScriptFunction.__call__`` while a recording runs: its thread's recorder takes the call
    (unless it is inside a leaf); other threads, and code outside recordings, call it as ever."""
    recorders = _SCRIPT_FUNCTIONS.items()
    if not recorders or recorders[-1].leaf is not None:
        return SCRIPT_CALL(fn, *args, **kwargs)
    return recorders[-1].run_scripted(fn, args, kwargs)


_SCRIPT_FUNCTIONS = Patch(torch.jit.ScriptFunction, "__call__", _scripted_call)
#: ``ScriptFunction.__call__`` as torch defines it
SCRIPT_CALL = _SCRIPT_FUNCTIONS.original


@contextlib.contextmanager
def script_calls(recorder: Any) -> Iterator[None]:
    """While the block runs, a TorchScript function this thread calls goes to
    ``recorder.run_scripted(fn, args, kwargs)`` (unless ``recorder.leaf`` is set)."""
    with _SCRIPT_FUNCTIONS.held(recorder):
        try:
            yield
        finally:
            recorder.scripted.close()

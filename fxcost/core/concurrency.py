"""Core: what lets every entry point be called from several threads at once, with the results
of serial calls.

Three kinds of state are shared between threads, each guarded as narrowly as it allows:

- **a model**: a count swaps its parameters and buffers for stand-ins and puts back whatever
  its forward assigned; two counts of one model at once would each take the other's stand-ins
  for the model's own. ``per_model`` holds that model's lock for the call; counts of different
  models run concurrently.
- **process-wide switches** every count turns on and back off (``torch.compiler.is_compiling()``,
  the paused garbage collector): a ``Switch`` is turned on by the first count that enters and
  back by the last that leaves, so that no count turns it off under another; a ``Patch`` does the
  same for a class attribute fxcost replaces while it records (``ScriptFunction.__call__``,
  ``UntypedStorage.resize_``), serving each thread's own recording.
- **PyTorch machinery that is process-global**: ``torch.fx``'s tracer patches functions in
  module globals for the length of a trace, fxcost's own ``whole_calls`` does the same for
  functions with rules of their own, and a fake process group is the default group while a
  parallel plan is costed. ``GLOBAL`` serialises just those parts.

The torch function and dispatch modes fxcost records with are thread-local in PyTorch, and the
global module hooks of a recording ignore calls from other threads (``capture.ModuleStack``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from torch import nn

#: Serialises PyTorch's process-global machinery (fx's tracer patching, patched module globals,
#: the fake process group). Re-entrant: a parallel plan's count traces too.
GLOBAL = threading.RLock()

_model_locks: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_model_locks_guard = threading.Lock()

F = TypeVar("F", bound=Callable[..., Any])


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock of one model (re-entrant: an entry point may call another on the same model)."""
    with _model_locks_guard:
        lock = _model_locks.get(model)
        if lock is None:
            lock = _model_locks[model] = threading.RLock()
        return lock


def per_model(fn: F) -> F:
    """Decorator for an entry point: the call holds the lock of its model, the first
    ``nn.Module`` among its positional arguments (or its ``model=`` keyword)."""

    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        model = next((a for a in args if isinstance(a, nn.Module)), kwargs.get("model"))
        if not isinstance(model, nn.Module):
            return fn(*args, **kwargs)
        with model_lock(model):
            return fn(*args, **kwargs)

    return locked  # type: ignore[return-value]


class Switch:
    """A process-wide setting on while any thread's count is inside ``held()``: ``on()`` runs
    when the first enters and returns what ``off(saved)`` restores when the last leaves."""

    def __init__(self, on: Callable[[], Any], off: Callable[[Any], None]) -> None:
        self._on, self._off = on, off
        self._inside = 0
        self._saved: Any = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._saved = self._on()
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    self._off(self._saved)


class Patch:
    """``owner.name`` replaced by ``replacement`` while any thread is inside ``held(item)`` (a
    class attribute is process-wide: the first thread in patches it, the last out restores it).
    ``items()`` are this thread's, innermost last: the replacement serves them, and calls
    ``original`` for any other thread or when there are none."""

    def __init__(self, owner: Any, name: str, replacement: Callable[..., Any]) -> None:
        self.original = getattr(owner, name)
        self._local = threading.local()
        self._switch = Switch(lambda: setattr(owner, name, replacement), lambda _: setattr(owner, name, self.original))

    def items(self) -> list[Any]:
        return getattr(self._local, "items", [])

    @contextlib.contextmanager
    def held(self, item: Any) -> Iterator[None]:
        with self._switch.held():
            self._local.__dict__.setdefault("items", []).append(item)
            try:
                yield
            finally:
                self._local.items.pop()


def serialised(fn: F) -> F:
    """Decorator for an entry point that holds process-global state for its whole call (a fake
    process group as the default group): one such call in the process at a time."""

    @functools.wraps(fn)
    def one_at_a_time(*args: Any, **kwargs: Any) -> Any:
        with GLOBAL:
            return fn(*args, **kwargs)

    return one_at_a_time  # type: ignore[return-value]

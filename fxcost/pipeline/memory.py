"""Peak memory: storage lifetimes over a recorded run, and the model's resident state.

While the dispatch-level recorder runs a forward (and a training step's backward) on meta
stand-ins, a ``Timeline`` notes, op by op, each storage an op makes (views and in-place ops make
none: they share their input's storage), the last op that reads it, and the moment Python frees
its last tensor: meta tensors are Python objects like any, freed when the model's code lets go
of them. A storage lives until the later of the two, or to the end for the run's outputs and the
gradients left in ``.grad``. Autograd's saved tensors need no special case: the backward op that
needs one reads it, so it lives until then, exactly as long as autograd keeps it (activation
checkpointing drops them, and the timeline sees that too).

    peak = parameters + buffers + optimizer state + max over ops of the live storages

split at the peak into gradients, activations (made in the forward), temporaries (made in the
backward) and gathered parameters: storages grown in place with ``UntypedStorage.resize_``, which
is how FSDP2 allocates each group's unsharded parameters before its forward and frees them after
(``reshard_after_forward``) and again around its backward. A resize is not an op the recorder
sees, so the timeline is told of it while it records (``resizes``): resizing to 0 ends the
storage's life there, and growing it again starts a new one. Not counted: the caller's inputs,
allocator rounding and fragmentation, the CUDA context, cuBLAS/cuDNN workspaces.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.concurrency import Patch
from ..core.options import OPTIMIZER_STATES
from ..core.walk import local

_END = 1 << 62


def _key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


class _Storage:
    __slots__ = ("first", "last", "dead", "nbytes", "kind", "module", "refs", "resized")

    def __init__(self, step: int, nbytes: int, kind: str, module: str) -> None:
        self.first = self.last = step
        self.dead: int | None = None  # the step at which Python let go of its last tensor
        self.nbytes, self.kind, self.module, self.refs = nbytes, kind, module, 0
        self.resized = False  # its life was ended by a resize to 0, not by Python

    @property
    def end(self) -> int:
        """It lives until its last reader and until Python let go of it, whichever is later."""
        return _END if self.dead is None else max(self.last, self.dead)


class Timeline:
    """Storage lifetimes over a run, op by op: from the op that makes a storage to the later of
    its last reader and the moment Python frees its last tensor (a value a function returns,
    say, lives past its last use). The recorder keeps no tensor alive in this mode."""

    def __init__(self, resident: Iterable[torch.Tensor]) -> None:
        self.resident = {_key(t) for t in resident}
        self.active: dict[int, _Storage] = {}  # storage key -> its record, while a tensor holds it
        self.storages: list[_Storage] = []
        self.names: list[str] = []  # op name per step, for the peak's place

    def op(self, ins: list[torch.Tensor], outs: list[torch.Tensor], name: str, phase: str, module: str) -> None:
        step = len(self.names)
        self.names.append(name)
        for t in ins:
            rec = self.active.get(_key(t))
            if rec is not None:
                rec.last = step
        for t in outs:
            k = _key(t)
            if k in self.resident:
                continue
            rec = self.active.get(k)
            if rec is None:
                rec = self.active[k] = _Storage(step, t.untyped_storage().nbytes(), phase, module)
                self.storages.append(rec)
            rec.last = step
            rec.refs += 1  # each tensor on it (views too); the storage is freed with the last
            weakref.finalize(t, self._released, k, rec)

    def _released(self, key: int, rec: _Storage) -> None:
        rec.refs -= 1
        if rec.refs == 0:
            if not rec.resized:
                rec.dead = len(self.names) - 1
            if self.active.get(key) is rec:
                del self.active[key]

    def resized(self, key: int, nbytes: int) -> None:
        """A storage was resized in place to ``nbytes``: to 0, its life ends after the last op
        so far; grown, a new life of ``nbytes`` starts with the next op."""
        rec = self.active.pop(key, None)
        if rec is not None and not rec.resized:
            rec.dead, rec.resized = max(len(self.names) - 1, rec.first), True
        if nbytes:
            grown = self.active[key] = _Storage(len(self.names), nbytes, "gathered", rec.module if rec else "")
            grown.refs = 1 << 30  # its life ends with the next resize to 0 (or the run), not with a view
            self.storages.append(grown)

    def held_to_end(self, ts: Iterable[torch.Tensor], kind: str | None = None) -> None:
        """Tensors the run leaves behind (its outputs, the gradients in .grad)."""
        for t in ts:
            rec = self.active.get(_key(t))
            if rec is None:  # made outside the recorded ops (a seed): counted from here
                self.op([], [t], "end", kind or "forward", "")
                rec = self.active[_key(t)]
            rec.dead = None
            rec.refs += 1 << 30  # held by the caller after the run
            if kind is not None:
                rec.kind = kind

    def peak(self) -> tuple[int, int]:
        """(step of the peak, bytes live then)."""
        steps = len(self.names)
        delta = [0] * (steps + 1)
        for rec in self.storages:
            delta[rec.first] += rec.nbytes
            if rec.end < steps:
                delta[rec.end + 1] -= rec.nbytes
        live = best = at = 0
        for step in range(steps):
            live += delta[step]
            if live > best:
                best, at = live, step
        return at, best

    def live_at(self, step: int) -> list[_Storage]:
        return [rec for rec in self.storages if rec.first <= step <= rec.end]


def _resize(storage: torch.UntypedStorage, size: int) -> Any:
    out = _RESIZES.original(storage, size)
    for timeline in _RESIZES.items():
        timeline.resized(storage._cdata, storage.nbytes())
    return out


_RESIZES = Patch(torch.UntypedStorage, "resize_", _resize)


@contextlib.contextmanager
def resizes(timeline: Timeline | None) -> Iterator[None]:
    """While the block runs, storages this thread resizes in place are told to ``timeline``."""
    if timeline is None:
        yield
        return
    with _RESIZES.held(timeline):
        yield


@dataclass
class Memory:
    """``report.memory``: the peak (bytes), its ``breakdown`` (params, buffers, gradients,
    optimizer, activations, temporary, gathered), the node where it happens, the optimizer counted, and
    each module's activations and temporaries live then (``modules``, largest first).
    ``memory["peak_bytes"]`` reads a field too, as the JSON does."""

    peak_bytes: int
    breakdown: dict[str, int]
    peak_node: str | None = None
    optimizer: str | None = None
    modules: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Memory:
        return cls(**d)


def summary(timeline: Timeline, model: nn.Module, optimizer: str | None, backward: bool) -> Memory:
    """``report.memory``: the peak, its breakdown, where it happens, and each module's share of
    the activations and temporaries live then."""
    params = {id(p): local(p) for p in model.parameters()}.values()  # a rank's own shards
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad) if backward else 0
    buffer_bytes = sum(b.numel() * b.element_size() for b in {id(b): local(b) for b in model.buffers()}.values())
    step, live = timeline.peak()
    breakdown = {
        "params": param_bytes,
        "buffers": buffer_bytes,
        "gradients": 0,
        "optimizer": OPTIMIZER_STATES[optimizer] * trainable,
        "activations": 0,
        "temporary": 0,
        "gathered": 0,
    }
    modules: dict[str, int] = {}
    for rec in timeline.live_at(step) if live else []:
        slot = {"gradient": "gradients", "forward": "activations", "gathered": "gathered"}.get(rec.kind, "temporary")
        breakdown[slot] += rec.nbytes
        if slot in ("activations", "temporary"):
            modules[rec.module] = modules.get(rec.module, 0) + rec.nbytes
    return Memory(
        sum(breakdown.values()),
        breakdown,
        timeline.names[step] if timeline.names else None,
        optimizer,
        dict(sorted(modules.items(), key=lambda kv: -kv[1])),
    )

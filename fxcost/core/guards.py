"""Core: the guards that keep the user's model exactly as it was, and the state a capture runs in.

A count runs the user's model inside ``guarded``, entered once by the pipeline's entry point:
parameters and buffers are swapped for stand-ins (``standins``), attributes a forward assigns
are put back (``attributes_kept``), Python's collector is paused (``gc_paused``), and the model
runs as under a compiler (``tracing``). Each restores what it changed, also when the run fails.
Timing (real runs) has guards of its own: ``evaluated``, ``grads_and_buffers_kept``.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from .concurrency import Switch
from .errors import FxcostError
from .walk import map_tensors


def to_meta(value: Any, grad: bool = False) -> Any:
    """Meta copies (shape, dtype, strides; no data) of every tensor in a pytree. With ``grad``,
    a floating-point tensor that requires grad gives a meta leaf that does too (its gradient is
    part of a training step)."""
    offsets: dict[int, torch.Tensor] = {}  # jagged tensors sharing offsets share their stand-in's
    return map_tensors(lambda t: _meta_copy(t, grad, offsets), value)


def _meta_copy(t: torch.Tensor, grad: bool = False, offsets: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
    if t.device.type == "meta" and not (grad and t.requires_grad and not t.is_leaf):
        return t
    if t.layout == torch.jagged:
        return _jagged_meta(t, {} if offsets is None else offsets)
    if t.layout != torch.strided:
        raise FxcostError(
            f"an input of layout {t.layout} (shape {list(t.shape)}) has no meta stand-in: fxcost counts on meta "
            "tensors with strides. Fix: profile with real=True, or pass x.to_dense() to count the dense op."
        )
    out = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
    if not (grad and t.requires_grad and (t.is_floating_point() or t.is_complex())):
        return out
    out.requires_grad_()
    if t.is_leaf:
        return out
    # the input is the result of an op (``x.clone()``): so is its stand-in, since the model may
    # write to it in place (``relu_``), which autograd allows on a non-leaf alone
    with torch.enable_grad():
        return out.clone()


def _jagged_meta(t: torch.Tensor, offsets: dict[int, torch.Tensor]) -> torch.Tensor:
    """A jagged nested tensor's stand-in: its values on meta, and meta offsets that remember the
    real sequence lengths (``lengths``), which a rule reads where the meta offsets hold none.
    Tensors that share offsets (q, k and v of one batch) share the stand-in's, and so their
    ragged size."""
    from torch.nested._internal.nested_tensor import NestedTensor, _store_val_in_tensor  # the jagged layout's

    real = t._offsets  # type: ignore[attr-defined]
    if t._lengths is not None:  # type: ignore[attr-defined]  # a view with holes: non-contiguous
        raise FxcostError(
            f"a jagged input with lengths (shape {list(t.shape)}) has no meta stand-in. "
            "Fix: profile with real=True, or pass it made contiguous (x.contiguous())."
        )
    if id(real) not in offsets:
        meta = torch.empty_like(real, device="meta")
        meta.lengths = real.diff().tolist()  # type: ignore[attr-defined]
        offsets[id(real)] = meta
    values: torch.Tensor = t._values  # type: ignore[assignment]  # the jagged class sets it
    lengths = offsets[id(real)].lengths  # type: ignore[attr-defined]
    cache = dict(t._metadata_cache or {})  # type: ignore[attr-defined]
    if lengths:  # torch reads the extremes from the offsets' values, which meta has not: known now
        cache.update(min_seqlen=_store_val_in_tensor(min(lengths)), max_seqlen=_store_val_in_tensor(max(lengths)))
    return NestedTensor(
        torch.empty_strided(values.shape, values.stride(), dtype=values.dtype, device="meta"),
        offsets[id(real)],
        _ragged_idx=t._ragged_idx,  # type: ignore[attr-defined]
        _metadata_cache=cache,
    )


@contextlib.contextmanager
def standins(model: nn.Module, real: bool = False) -> Iterator[None]:
    """Swap the model's parameters and buffers for stand-ins while the block runs.

    ``real=False``: meta stand-ins that keep each parameter's ``requires_grad`` (tied weights stay
    tied). ``real=True``: parameters are used as they are and only buffers are cloned, so that a
    forward in training mode (batch-norm running statistics) cannot write to the user's buffers.
    """
    swapped: list[tuple[dict, str, Any]] = []
    made: dict[int, Any] = {}
    try:
        for mod in model.modules():
            stores: list[tuple[Any, bool]] = [(mod._parameters, True), (mod._buffers, False)]
            for store, is_param in stores:
                if real and is_param:
                    continue
                for name, t in store.items():
                    if t is None or (not real and t.device.type == "meta" and not is_param):
                        continue
                    new = made.get(id(t))
                    if new is None:
                        if real:
                            new = t.detach().clone()
                        else:
                            # parameters always get a fresh stand-in, meta ones too: a training
                            # step accumulates gradients into the stand-in, never the user's .grad
                            new = _meta_copy(t)
                            if is_param:
                                new = nn.Parameter(new, requires_grad=t.requires_grad)
                        made[id(t)] = new
                    swapped.append((store, name, t))
                    store[name] = new
        yield
    finally:
        for store, name, t in reversed(swapped):
            store[name] = t


_HOOKS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_backward_hooks",
    "_backward_pre_hooks",
)


class attributes_kept:
    """Puts back every module attribute a traced or recorded forward assigned (a model that
    caches tensors on itself, like torchvision's AnchorGenerator, would otherwise keep fx
    Proxies or meta tensors, and symbolic_trace adds ``_tensor_constant*``), the contents of
    its parameter, buffer and module dicts, and its hooks (transformers installs output-capturing
    hooks on a model's first forward): on exit, and whenever ``restore()`` is called."""

    def __init__(self, model: nn.Module) -> None:
        # run per count on every module: hook dicts are nearly always empty, kept as None then
        self.saved = []
        for m in model.modules():
            d = m.__dict__
            hooks = [(h, dict(h) if h else None) for h in (d.get(n) for n in _HOOKS) if h is not None]
            self.saved.append((m, dict(d), dict(m._parameters), dict(m._buffers), dict(m._modules), hooks))

    def restore(self) -> None:
        for m, attrs, params, buffers, modules, hooks in self.saved:
            pairs: list[tuple[Any, dict]] = [
                (m.__dict__, attrs),
                (m._parameters, params),
                (m._buffers, buffers),
                (m._modules, modules),
            ]
            for now, then in pairs:
                if now.keys() != then.keys() or any(now[k] is not v for k, v in then.items()):
                    if isinstance(now, dict):
                        now.clear()
                        now.update(then)
                    else:  # a scripted module's slots (a fixed set of C++ attributes)
                        for k, v in then.items():
                            now[k] = v
            for now, maybe in hooks:
                if maybe is None:
                    if now:
                        now.clear()
                elif now.keys() != maybe.keys():
                    now.clear()
                    now.update(maybe)

    def __enter__(self) -> attributes_kept:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()


@contextlib.contextmanager
def guarded(model: nn.Module, real: bool = False, swap: bool = True) -> Iterator[attributes_kept]:
    """The one guard a count runs in (``pipeline.run`` enters it once per count): the collector
    paused, the parameters and buffers swapped for stand-ins (``swap=False`` for a model fxcost
    built itself; ``real``: buffers cloned, parameters used as they are), then the attributes
    kept (``restore()`` puts back the state after the swap, for a second capture path after a
    failed one), and the model run as under a compiler. Everything is undone on exit, also when
    the run fails."""
    with gc_paused(), standins(model, real=real) if swap else contextlib.nullcontext():
        with attributes_kept(model) as kept, tracing():
            yield kept


def _pause_gc() -> bool:
    was_enabled = gc.isenabled()
    gc.disable()
    return was_enabled


_GC = Switch(_pause_gc, lambda was_enabled: gc.enable() if was_enabled else None)


def gc_paused() -> Any:  # a context manager, usable as a decorator
    """Defer Python's cyclic garbage collector while a count runs. Capture allocates thousands
    of short-lived objects, and each full collection it triggers walks every object the process
    holds (torch, transformers, the model): 30 ms a time on mobilenet_v3, most of the count's
    cost. Collection resumes (if it was on) when the last count running in any thread exits.
    Usable as a decorator."""
    return _GC.held()


def _compiling_on() -> tuple[Any, dict[str, Any]]:
    compiler = torch.compiler
    before = getattr(compiler, "_is_compiling_flag", None)
    checks = {
        name: getattr(torch, name) for name in ("_check_tensor_all", "_check_tensor_all_with") if hasattr(torch, name)
    }
    if before is not None:
        compiler._is_compiling_flag = True
    for name, check in checks.items():
        setattr(torch, name, _unless_meta(check))
    return before, checks


def _compiling_off(saved: tuple[Any, dict[str, Any]]) -> None:
    before, checks = saved
    for name, check in checks.items():
        setattr(torch, name, check)
    if before is not None:
        torch.compiler._is_compiling_flag = before


_COMPILING = Switch(_compiling_on, _compiling_off)


def tracing() -> contextlib.AbstractContextManager:
    """Run the model as torch.compile and torch.export's non-strict tracing do: with
    ``torch.compiler.is_compiling()`` true. Libraries check it to take their trace-friendly
    paths instead of reading tensor values, which stand-ins do not have (transformers' mask and
    packed-sequence checks: ``torch.all(mask == 1)`` on a meta tensor cannot be answered).
    Value assertions on meta tensors (``torch._check_tensor_all``: a compiler makes them runtime
    asserts) are skipped: there is no value to check, and they compute nothing. Both are
    process-wide: on while any thread counts, restored when the last count exits."""
    return _COMPILING.held()


def _unless_meta(check: Any) -> Any:
    def skip_on_meta(*args: Any, **kwargs: Any) -> None:
        cond = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        if cond is not None and cond.device.type == "meta":
            return None
        return check(*args, **kwargs)

    return skip_on_meta


def quantized(module: nn.Module) -> bool:
    """Whether ``module`` is an eager-mode quantized module (``torch.ao.nn.quantized``, fused
    ``torch.ao.nn.intrinsic.quantized``): its kernels run on real tensors only."""
    where = type(module).__module__
    return where.startswith("torch.ao.nn.") and ".quantized" in where


class evaluated:
    """Puts the model in eval mode for the block and restores every module's training flag,
    even on error."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc: Any) -> None:
        for m, flag in self.flags:
            m.training = flag


@contextlib.contextmanager
def grads_and_buffers_kept(model: nn.Module) -> Iterator[None]:
    """For real training steps (timing): every parameter's ``.grad`` object and every buffer's
    values (batch-norm statistics, step counters) are put back when the block exits."""
    grads = [(p, p.grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        for p, _ in grads:  # else the backward would accumulate into the user's .grad in place
            p.grad = None
        yield
    finally:
        for p, g in grads:
            p.grad = g
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)

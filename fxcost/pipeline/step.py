"""Pipeline, capture of training steps: one forward and backward on meta stand-ins, recorded op by op.

``record_step`` runs ``model(*args, **kwargs)`` with gradients on, then the backward of its loss
(or of every floating output), under a ``TorchDispatchMode``: it sees each aten op autograd runs,
as ``FlopCounterMode`` does, so the step is exactly what autograd computes. Inputs that require
grad get their gradients, frozen parameters get none, branches nobody needs cost nothing, custom
``autograd.Function`` backwards are what they are, and nothing is guessed per op.

Every node carries a ``phase``:

``forward``    the ops of the forward call;
``backward``   the ops the autograd engine runs for the gradients;
``recompute``  forward ops re-run during the backward by activation checkpointing
               (``torch.utils.checkpoint``, transformers' ``gradient_checkpointing_enable``):
               the engine runs backward functions with grad mode off, and a checkpoint turns
               it back on to re-run the forward.

A backward op belongs to the module whose forward made the autograd node that runs it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from ..core.concurrency import Patch
from ..core.errors import FxcostError, explain_failure
from ..core.guards import to_meta
from ..core.options import CaptureMethod
from ..core.walk import backward_roots, local, tensors
from ..rules.registry import Registry
from .calls import has_tensor
from .capture import Capture, GraphBuilder, ModuleStack, input_placeholders, tensor_names
from .memo import Memo, by_shape_rule, on_meta
from .memory import Timeline, resizes


class _StepRecorder(ModuleStack, TorchDispatchMode):
    """Appends one node per aten op (with a tensor result) of a forward and backward."""

    def __init__(
        self,
        model: nn.Module,
        registry: Registry,
        memory: bool = False,
        shortcuts: bool = True,
        own_model: bool = False,
    ) -> None:
        ModuleStack.__init__(self, model)
        TorchDispatchMode.__init__(self)
        self.registry = registry
        self.timeline: Timeline | None = None  # storage lifetimes, when memory is asked for
        self.builder = GraphBuilder(weak=memory)
        self.memo = Memo()
        self.shortcuts = shortcuts and not own_model  # shape rules: off where sizes are symbolic
        # profile_parallel's own model (DTensors): no memo, since DTensor's sharding propagation
        # must see the outputs ops really make, and whatever a library allocates lands on meta
        self.own_model = own_model
        self.in_backward = False
        self.made_by: dict[Any, dict] = {}  # autograd node -> meta of the forward op that made it
        self.pending: list[tuple[list[torch.Tensor], dict]] = []
        self._meta_by_stack: dict[tuple[int, str], dict] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if types:
            names = {t.__name__ for t in types}
            if "DTensor" in names:
                # a DTensor runs its op as plain ops on its local shard (and collectives), which
                # come back here: the rank's own work
                return NotImplemented
            if "FakeTensor" in names:
                # DTensor's sharding propagation, at global shapes: not this rank's work
                return func(*args, **(kwargs or {}))
        kwargs = kwargs or {}
        if self.own_model and isinstance(kwargs.get("device"), torch.device) and kwargs["device"].type != "meta":
            # a plan's library (FSDP2's unsharded parameters) allocates on the mesh's device
            kwargs = {**kwargs, "device": torch.device("meta")}
        if self.pending:
            self.name_autograd_nodes()
        out = self._run(func, args, kwargs)
        if not self.in_backward:
            meta = self._meta("forward", self.module_stack())
        elif torch.is_grad_enabled():  # a checkpoint re-running the forward
            stack = self.module_stack() if self.stack else self._engine_stack()
            meta = self._meta("recompute", stack)
        else:
            meta = self._meta("backward", self._engine_stack())
        name = str(func)
        if has_tensor(out) or getattr(func, "namespace", None) == "c10d":  # c10d ops may return a Work only
            name = self.builder.emit("call_function", func, args, kwargs, out, meta).name
            if meta["phase"] == "forward":  # not a checkpoint's recompute: its nodes never run, and
                # holding them would keep the activations they save alive to the end
                self.pending.append((tensors(out), meta))
        if self.timeline is not None:
            stack = meta["nn_module_stack"]
            module = next(reversed(stack.values()))[0] if stack else ""
            self.timeline.op(tensors((args, kwargs)), tensors(out), name, meta["phase"], module)
        return out

    def _run(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """The op's output: on meta, from its shape rule or an identical call that ran already
        (ops that return views or write to an argument always run: autograd tracks them)."""
        if self.shortcuts:
            out = by_shape_rule(self.registry, "call_function", func, args, kwargs)
            if out is not None:
                return out
        key = Memo.key(func, (args, kwargs)) if not self.own_model and _functional(func) else None
        out = self.memo.get(key)
        if out is None:
            out = on_meta(func, args, kwargs)
            self.memo.put(key, out)
        return out

    def _meta(self, phase: str, stack: dict) -> dict:
        """One meta dict per (phase, stack state), shared by its nodes (the stack dict is kept
        alive in it, so its id is not reused)."""
        meta = self._meta_by_stack.get((id(stack), phase))
        if meta is None:
            meta = self._meta_by_stack[(id(stack), phase)] = {"nn_module_stack": stack, "phase": phase}
        return meta

    def _engine_stack(self) -> dict:
        node = torch._C._current_autograd_node()
        meta = self.made_by.get(node) if node is not None else None
        return meta["nn_module_stack"] if meta is not None else {}

    def exit(self, module: nn.Module, args: tuple, kwargs: dict, out: Any) -> None:
        """Autograd nodes this module's forward made that no op here returned (a DTensor op's
        node sits above this mode, which sees only its local ops) belong to the module too:
        walk back from its outputs to nodes already named (its children's, earlier modules')."""
        if torch.is_grad_enabled() and not self.in_backward and self.paths.get(id(module)) is not None:
            self.name_autograd_nodes()
            meta = self._meta("forward", self.module_stack())
            todo: list[Any] = [t.grad_fn for t in tensors(out) if t.grad_fn is not None]
            while todo:
                fn = todo.pop()
                if fn is None or fn in self.made_by:
                    continue
                self.made_by[fn] = meta
                todo.extend(next_fn for next_fn, _ in fn.next_functions)
        super().exit(module, args, kwargs, out)

    def name_autograd_nodes(self) -> None:
        """Autograd sets an op's ``grad_fn`` after the op returns through this mode: map each
        new autograd node to the module of the op that made it, once the next op comes."""
        for outs, meta in self.pending:
            for t in outs:
                fn = t.grad_fn
                if fn is not None and fn not in self.made_by:
                    self.made_by[fn] = meta
        self.pending.clear()


def _functional(func: Any) -> bool:
    """Ops whose outputs are fresh tensors: no alias in their results, no argument written."""
    schema = getattr(func, "_schema", None)
    if schema is None:
        return False
    return not any(r.alias_info is not None for r in schema.returns) and not any(
        a.alias_info is not None and a.alias_info.is_write for a in schema.arguments
    )


def record_step(
    model: nn.Module,
    args: tuple,
    kwargs: dict,
    registry: Registry,
    backward: bool = True,
    memory: bool = False,
    shortcuts: bool = True,
    own_model: bool = False,
    keep_outputs: bool = False,
) -> Capture:
    """Record one training step of ``model(*args, **kwargs)``, inside the count's guard (the
    model on its meta stand-ins, or as it is for ``own_model``): the forward,
    then the backward of the loss (or of each floating output, seeded with ones, as
    ``out.sum().backward()`` would). ``backward=False``: the forward alone, without grad.
    ``memory``: also the storage lifetimes (``Capture.timeline``) for the peak memory.
    ``shortcuts=False``: no shape rules, for symbolic sizes. ``own_model``: a model fxcost built
    itself (``profile_parallel``: DTensor parameters), run as it is, without stand-ins, shape
    rules or memo (DTensor's sharding propagation reads the outputs ops really make).

    Before the backward only its roots (the loss) stay referenced, as in a training loop
    (``model(**batch).loss.backward()``, the transformers Trainer): the logits are freed then,
    unless ``keep_outputs`` (a loop that holds the outputs through the backward)."""
    args, kwargs = to_meta(args, grad=backward), to_meta(kwargs, grad=backward)
    rec = _StepRecorder(model, registry, memory, shortcuts, own_model)
    builder = rec.builder
    inputs = input_placeholders(builder, args, kwargs)
    builder.attrs.update(tensor_names(model))
    if memory:
        rec.timeline = Timeline([local(t) for t in (*model.parameters(), *model.buffers(), *inputs)])
    jagged = any(t.is_nested for t in tensors((args, kwargs)))
    try:
        with rec.hooked(), torch.set_grad_enabled(backward), resizes(rec.timeline), _jagged_sdpa(jagged), rec:
            out = model(*args, **kwargs)
            outputs = builder.to_args(tensors(out))  # named now: a freed output leaves the builder
            held = tensors(out)
            if backward:
                roots = backward_roots(out)
                if not roots:
                    raise _NothingToDifferentiate()
                if not keep_outputs:  # the loop keeps the loss alone
                    held = roots
                    del out
                with _disable_current_modes():  # the seeds are not part of the step
                    seeds = [torch.ones_like(t) for t in roots]
                rec.name_autograd_nodes()
                rec.in_backward = True
                torch.autograd.backward(roots, seeds)
        if rec.timeline is not None:  # what the step leaves: what the caller holds, the gradients
            rec.timeline.held_to_end(held)
            rec.timeline.held_to_end([local(p.grad) for p in model.parameters() if p.grad is not None], "gradient")
    except _NothingToDifferentiate:
        raise FxcostError(
            "the training step has nothing to differentiate: no output requires grad (every "
            "parameter is frozen, no input requires grad, or the forward ran without grad). "
            "Fix: leave some parameters trainable (requires_grad=True), pass inputs with "
            "requires_grad=True, or profile the forward alone (backward=False)."
        ) from None
    except FxcostError:
        raise
    except Exception as e:
        where = "the training step" + (f" in module '{rec.stack[-1][0]}'" if rec.stack and rec.stack[-1][0] else "")
        raise explain_failure(e, where, False) from e
    builder.graph.output(outputs)
    cap = Capture(builder.graph, model, CaptureMethod.AUTOGRAD, inputs, constants=builder.constants)
    cap.timeline = rec.timeline
    return cap


@functools.cache
def _jagged_patches() -> tuple[Patch, Patch]:
    from torch.nested._internal import sdpa  # imported where a step has jagged inputs

    def counting_on_meta(x: torch.Tensor) -> bool:
        return (bool(flops.items()) and x.device.type == "meta") or flops.original(x)

    def offsets_kept(qkv: torch.Tensor) -> Any:
        out = offsets.original(qkv)
        known = getattr(qkv._offsets, "lengths", None)  # type: ignore[attr-defined]
        if offsets.items() and known is not None:
            out[0].lengths = known  # the kernel's cumulative lengths: a copy of the offsets
        return out

    flops = Patch(sdpa, "_is_computing_meta_flops", counting_on_meta)
    offsets = Patch(sdpa, "_cumulative_and_max_seq_len_nnz", offsets_kept)
    return flops, offsets


@contextlib.contextmanager
def _jagged_sdpa(jagged: bool) -> Iterator[None]:
    """torch's jagged SDPA asks whether a flop counter runs it on meta (FlopCounterMode alone is
    recognised): then it skips autocast, which the meta device lacks, and runs the flash kernel
    the CUDA build would. A step recorded on jagged meta inputs is such a count; the kernel's
    cumulative lengths, copied from the offsets, keep the real lengths the stand-in's offsets
    remember (``core.guards.to_meta``)."""
    if not jagged:
        yield
        return
    flops, offsets = _jagged_patches()
    with flops.held(True), offsets.held(True):
        yield


class _NothingToDifferentiate(Exception):
    pass

"""``fxcost.profile``: capture -> shapes -> rules -> interpret -> report."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.concurrency import per_model
from ..core.errors import FxcostError
from ..core.guards import gc_paused
from ..core.inputs import checked, is_program, refuse_sharded_step
from ..core.options import Options
from ..core.walk import tensors
from ..pipeline.run import count, count_program
from ..reports.peaks import peak_for
from ..reports.report import Report
from ..rules.registry import Registry
from .timing import measure as _measure


@per_model
@gc_paused()
def profile(
    model: nn.Module,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    real: bool = False,
    strict: bool = False,
    flops: str = "exact",
    attention: str = "full",
    capture: str = "auto",
    registry: Registry | None = None,
    measure: bool = False,
    backward: bool = False,
    memory: bool = False,
    optimizer: str | None = None,
    keep_outputs: bool = False,
    **measure_options: Any,
) -> Report:
    """Count what ``model(*args, **kwargs)`` costs, without running it on real data.

    Args:
        model: any ``nn.Module``, on any device, the ``meta`` device included.
        args: positional inputs, a tuple (like ``torch.export``).
        kwargs: keyword inputs.
        real: run shape propagation on real tensors on the model's device (for models whose
            shapes depend on data) instead of meta tensors.
        strict: raise ``UnsupportedOpError`` when an op has no rule instead of listing it in
            ``report.unsupported``.
        flops: ``"exact"`` (a dot product of n is 2n-1 FLOPs) or ``"2mac"`` (2 FLOPs per MAC,
            as FlopCounterMode and MFU figures count).
        attention: ``"full"`` counts causal attention's full L x S matmuls (as published
            figures do); ``"causal"`` counts only the pairs a causal mask lets through.
        capture: ``"auto"`` (record the forward on meta tensors, then symbolic_trace for a model
            the recording cannot run), or one path alone: ``"record"``, ``"symbolic_trace"``.
        registry: rules to use (default: the global registry, with ``register_rule`` additions).
        backward: count a training step: the forward, then the backward of the model's ``loss``
            (transformers with ``labels``) or of every floating output, exactly as autograd runs
            it on meta stand-ins (input gradients, frozen weights and activation checkpointing
            included). ``report.by_phase()`` splits forward, backward and recompute;
            ``report.model_flops``, ``hardware_flops`` and ``mfu()`` follow.
        measure: also time the model (``fxcost.measure``; its options pass through, plus
            ``peak=fxcost.Peak(...)`` to override the device's roofline peak) and fill
            ``report.timing``, ``report.total_time_ms``, ``achieved_flops_per_s``, ``utilization``.
            With ``backward=True`` a real training step is timed (forward, backward, zero_grad).
        memory: also the peak memory (``report.memory``): parameters, buffers, gradients,
            optimizer state, activations and temporaries, from the lifetimes of the storages the
            run makes (see ``fxcost.pipeline.memory``); of a training step with ``backward=True``.
        optimizer: the optimizer whose state ``memory`` counts: ``"adamw"`` or ``"adam"`` (two
            states per trainable parameter), ``"sgd"`` (momentum, one) or None.
        keep_outputs: with ``memory`` and ``backward``: the model's outputs (the logits) stay
            alive through the backward, for a loop that holds them. By default only the loss
            does, as in ``model(**batch).loss.backward()`` and the transformers Trainer.

    The model is left exactly as it was: parameters, buffers, ``.grad``, ``requires_grad``,
    training flag, hooks, grad mode.
    """
    opts = Options.of(
        "profile",
        measure,
        real=real,
        strict=strict,
        flops=flops,
        attention=attention,
        capture=capture,
        registry=registry,
        backward=backward,
        memory=memory,
        optimizer=optimizer,
        keep_outputs=keep_outputs,
        **measure_options,
    )
    if is_program(model):
        if backward or memory or measure or real:
            raise FxcostError(
                "an ExportedProgram is costed from its graph alone: backward, memory, measure and "
                "real need the nn.Module. Fix: profile the model itself with those options."
            )
        return _profile_program(model, args, kwargs, opts)
    model, args, kwargs = checked(model, args, kwargs)
    if opts.backward or opts.memory:
        refuse_sharded_step(model)
    counted = count(model, args, kwargs, opts)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    report = Report.of_model(
        model,
        counted.records,
        counted.capture.info(),
        {**opts.counting(), "dtype": str(dtype).replace("torch.", "")},
        opts,
    )
    report.memory = counted.memory
    report.check_strict(opts.strict)
    if opts.timing is not None:
        timing = _measure(model, args, kwargs, train=opts.backward, **opts.timing.measure_kwargs())
        peak = opts.timing.peak or peak_for(timing.device)
        report.timing = timing.to_dict(report.total.flops, peak.flops_for(dtype) if peak else None)
    return report


def _profile_program(ep: Any, args: Any, kwargs: Any, opts: Options) -> Report:
    """An ExportedProgram, costed from its own graph and values (the example inputs it was
    exported with: ``args``, if given, must have their shapes)."""
    if args or kwargs:
        given = [tuple(t.shape) for t in tensors((args, kwargs or {}))]
        example = [tuple(t.shape) for t in tensors(ep.example_inputs)] if ep.example_inputs else given
        if given != example:
            raise FxcostError(
                f"an ExportedProgram is costed at the shapes it was exported with {example}, "
                f"not {given}. Fix: export it with these inputs, or profile the nn.Module."
            )
    counted, modules = count_program(ep, opts)
    report = Report(
        model="ExportedProgram",
        params=modules[""][1],
        nodes=counted.records,
        modules=modules,
        capture=counted.capture.info(),
        options=opts.counting(),
        settings=opts,
    )
    report.check_strict(opts.strict)
    return report

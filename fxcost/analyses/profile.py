"""``fxcost.profile``: capture -> shapes -> rules -> interpret -> report."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.errors import FxcostError
from ..core.guards import attributes_kept, gc_paused, to_meta
from ..core.inputs import check_call
from ..pipeline.interpret import CostInterpreter
from ..pipeline.memory import summary as memory_summary
from ..pipeline.programs import graph_with_values, is_program, program_capture, refuse_sharded_step, unwrap
from ..core.options import Options
from ..rules.registry import REGISTRY, Registry
from ..reports.report import Report
from ..reports.peaks import peak_for
from ..pipeline.step import record_step
from .timing import measure as _measure
from ..pipeline.trace import capture_and_shape
from ..core.walk import tensors


def _check_devices(model: nn.Module, args: tuple, kwargs: dict) -> None:
    """In real mode the inputs must be where the model is."""
    first = next(model.parameters(), None)
    for t in tensors((args, kwargs)):
        if first is not None and t.device != first.device:
            raise FxcostError(
                f"the model is on {first.device} but an input is on {t.device}. "
                f"Fix: move the inputs with x.to('{first.device}'), or profile on meta (real=False)."
            )


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
            figures do); ``"unmasked"`` counts only the pairs a causal mask keeps.
        capture: ``"auto"`` (symbolic_trace, then record), or one path alone.
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
            run makes (see ``fxcost.memory``); of a training step with ``backward=True``.
        optimizer: the optimizer whose state ``memory`` counts: ``"adamw"`` or ``"adam"`` (two
            states per trainable parameter), ``"sgd"`` (momentum, one) or None.
        keep_outputs: with ``memory`` and ``backward``: the model's outputs (the logits) stay
            alive through the backward, for a loop that holds them. By default only the loss
            does, as in ``model(**batch).loss.backward()`` and the transformers Trainer.

    The model is left exactly as it was: parameters, buffers, ``.grad``, ``requires_grad``,
    training flag, hooks, grad mode.
    """
    opts = Options.of("profile", measure, real=real, strict=strict, flops=flops, attention=attention,
                      capture=capture, registry=registry, backward=backward, memory=memory, optimizer=optimizer,
                      keep_outputs=keep_outputs, **measure_options)
    if is_program(model):
        if backward or memory or measure or real:
            raise FxcostError("an ExportedProgram is costed from its graph alone: backward, memory, measure and "
                              "real need the nn.Module. Fix: profile the model itself with those options.")
        return _profile_program(model, args, kwargs, opts)
    model = unwrap(model)
    args, kwargs = check_call(model, args, kwargs)
    if opts.backward or opts.memory:
        refuse_sharded_step(model)
    return _profile(model, args, kwargs, opts)


def _profile(model: nn.Module, args: tuple, kwargs: dict, opts: Options) -> Report:
    registry = opts.registry or REGISTRY
    if opts.backward:
        with attributes_kept(model):
            cap = record_step(model, args, kwargs, registry, memory=opts.memory, keep_outputs=opts.keep_outputs)
    elif not opts.real and opts.capture == "auto" and (cap := graph_with_values(model, args, kwargs)) is not None:
        pass  # ep.module() and other graphs that carry their values: costed as they are
    else:
        run_args, run_kwargs = (args, kwargs) if opts.real else (to_meta(args), to_meta(kwargs))
        if opts.real:
            _check_devices(model, args, kwargs)
        cap = capture_and_shape(model, run_args, run_kwargs, registry, opts.real, opts.capture)
    nodes = CostInterpreter(cap.graph, cap.root, opts).run()
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    report = Report.of_model(model, nodes, {"method": cap.method, "fallback_reason": cap.fallback_reason},
                             {**opts.counting(), "dtype": str(dtype).replace("torch.", "")}, opts)
    if opts.memory:
        timeline = cap.timeline
        if timeline is None:  # the forward's own storages, recorded at the aten level without grad
            with attributes_kept(model):
                timeline = record_step(model, args, kwargs, registry, backward=False, memory=True).timeline
        report.memory = memory_summary(timeline, model, opts.optimizer, opts.backward)
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
            raise FxcostError(f"an ExportedProgram is costed at the shapes it was exported with {example}, "
                              f"not {given}. Fix: export it with these inputs, or profile the nn.Module.")
    cap, modules = program_capture(ep)
    nodes = CostInterpreter(cap.graph, cap.root, opts).run()
    report = Report(model="ExportedProgram", params=modules[""][1], nodes=nodes, modules=modules,
                    capture={"method": cap.method, "fallback_reason": None}, options=opts.counting(), settings=opts)
    report.check_strict(opts.strict)
    return report

"""The transformers Trainer: exact FLOPs, TFLOP/s and MFU in its own logs.

    from fxcost.integrations.hf import FxcostCallback
    trainer = Trainer(model, args, train_dataset=..., callbacks=[FxcostCallback(peak="H100")])

The Trainer's ``total_flos`` is an estimate, 6 x parameters x tokens, without attention's L²
term. While it trains, the callback watches each training forward of the model (a forward
pre-hook, removed when training ends) and counts the exact model FLOPs of its batch: 2 per MAC of
the forward and backward, the convention of MFU and of the Trainer's own estimate where that one
is right. They come from the training step costed once as a formula in batch size and sequence
length, so batches of any length cost what they cost without counting again (a batch outside
where the formula holds is counted on its own, once per shape). Padding tokens count: the model
computes them. ``state.total_flos`` (and the ``total_flos`` of the final metrics) is set to the
exact sum each time the Trainer logs, summed over processes in distributed training.

Each step's FLOPs over its wall time (from one step's end to the next, less the time the
callback itself spent counting: the formula's derivation on the first step) give ``tflops_per_s``,
and over the device's peak ``mfu``; with gradient checkpointing also ``hfu`` (the recomputed
forward included). They are added to the Trainer's logs (``state.log_history``, and callbacks
after this one); add the callback first to have reporting integrations see them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from ..analyses.formula import Dims, formula
from ..analyses.profile import profile
from ..core.errors import FxcostError
from ._common import peak_flops, require

transformers = require("transformers", "hf")
logger = logging.getLogger("fxcost")


def _dims(batch: dict[str, torch.Tensor], main: str) -> Dims:
    """B over axis 0 of every tensor that has the main input's batch size; L over axis 1 of those
    shaped [B, L] like the main input (ids, masks, labels, positions)."""
    x = batch[main]
    dims: Dims = {"B": [(k, 0) for k, t in batch.items() if t.dim() and t.shape[0] == x.shape[0]]}
    if x.dim() == 2:
        dims["L"] = [(k, 1) for k, t in batch.items() if t.dim() == 2 and t.shape == x.shape]
    return dims


class FxcostCallback(transformers.TrainerCallback):  # type: ignore[name-defined]  # imported at run time
    """Exact model FLOPs into ``state.total_flos``, and ``tflops_per_s``, ``mfu`` (``hfu`` with
    gradient checkpointing) into the logs.

    ``peak``: the device's peak FLOP/s for the training dtype: a name in fxcost's table
    ("H100"), an ``fxcost.Peak``, a number, or None for the GPU the Trainer runs on. On a CPU
    without one, FLOP/s are logged and the log says once why there is no MFU.
    """

    def __init__(self, peak: Any = None) -> None:
        self.peak = peak
        self.last: dict[str, float] = {}  # the latest step's figures
        self.overhead = 0.0  # seconds spent counting in the current step
        self._model: Any = None
        self._hook: Any = None
        self._counting = False
        self._total = 0  # exact FLOPs of this process's finished steps
        self._start = 0.0
        self._world = 1
        self._fns: tuple[Any, Any] | None = None  # (model MACs, hardware MACs) as functions of (B, L)
        self._formula: Any = None
        self._by_shape: dict[tuple, tuple[int, int]] = {}
        self._flops = self._hw_flops = 0
        self._peak: float | None = None
        self._since: float | None = None

    # -- the Trainer's hooks ---------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._model = model
        self._hook = model.register_forward_pre_hook(self._forward, with_kwargs=True)
        self._total, self._start = 0, state.total_flos  # a resumed run starts from its checkpoint's
        self._world = args.world_size
        dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else next(model.parameters()).dtype
        self._peak, why = peak_flops(self.peak, args.device, dtype)
        if self._peak is None:
            logger.warning("fxcost: logging tflops_per_s without mfu: %s", why)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._hook is not None:  # the model as it was
            self._hook.remove()
            self._hook = None

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.perf_counter()
        # the step's own time: what counting took (the formula's derivation, on the first step) is not training
        seconds, self._since = now - (self._since or now) - self.overhead, now
        self.overhead = 0.0
        if seconds <= 0 or not self._flops:
            return
        per_s = self._flops / seconds
        self.last = {"tflops_per_s": per_s / 1e12}
        if self._peak:
            self.last["mfu"] = per_s / self._peak
            if self._hw_flops != self._flops:
                self.last["hfu"] = self._hw_flops / seconds / self._peak
        self._total += self._flops
        self._flops = self._hw_flops = 0

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        state.total_flos = self._start + self._summed()  # the Trainer has just added its estimate
        entry = state.log_history[-1] if state.log_history else {}
        if logs is not None and "total_flos" in logs:  # the final metrics
            logs["total_flos"] = entry["total_flos"] = state.total_flos
        if logs is not None and self.last and "loss" in logs:
            logs.update(self.last)
            entry.update(self.last)

    def _summed(self) -> float:
        """The exact FLOPs of every process's batches so far."""
        if self._world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            device = next(self._model.parameters()).device
            total = torch.tensor([float(self._total)], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(total)
            return total.item()
        return float(self._total)

    # -- the count -------------------------------------------------------------------------------
    def _forward(self, module: Any, args: tuple, kwargs: dict) -> None:
        # a training forward, not an evaluation, nor fxcost's own run of the model while it counts
        if module.training and torch.is_grad_enabled() and not self._counting:
            self._counting = True
            start = time.perf_counter()
            try:
                model, hardware = self.cost(kwargs)
            finally:
                self._counting = False
                self.overhead += time.perf_counter() - start
            self._flops += 2 * model
            self._hw_flops += 2 * hardware

    def cost(self, batch: dict[str, Any]) -> tuple[int, int]:
        """(model MACs, hardware MACs) of a training step on ``batch``."""
        tensors = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        main = getattr(self._model, "main_input_name", "input_ids")
        main = main if main in tensors else next(iter(tensors))
        x = tensors[main]
        sizes = {"B": x.shape[0], **({"L": x.shape[1]} if x.dim() == 2 else {})}
        if self._formula is None:
            self._derive(batch, _dims(tensors, main))
        if self._fns is not None and set(sizes) == set(self._formula.symbols) and self._formula.holds(**sizes):
            values = [sizes[k] for k in self._formula.symbols]
            return int(self._fns[0](*values)), int(self._fns[1](*values))
        key = tuple((k, tuple(t.shape), t.dtype) for k, t in tensors.items())
        if key not in self._by_shape:  # outside the formula: this shape counted on its own, once
            r = profile(self._model, (), dict(batch), backward=True)
            self._by_shape[key] = (int(r.model_flops.macs), int(r.hardware_flops.macs))
        return self._by_shape[key]

    def _derive(self, batch: dict[str, Any], dims: Dims) -> None:
        """The step's formula, from the model called with this batch as the Trainer calls it."""
        try:
            f = formula(self._model, (), dict(batch), dims=dims, backward=True)
        except FxcostError as e:  # counted per shape instead
            logger.warning("fxcost: no formula for this model (%s); each batch shape is counted once", e)
            self._formula = False
            return
        self._formula = f
        assert f.report is not None  # a formula just derived carries its report
        self._fns = (f.function(f.expression(f.report.model_flops.macs)), f.function(f.macs))


__all__ = ["FxcostCallback"]

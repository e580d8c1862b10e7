"""Lightning: a drop-in for ``lightning.fabric.utilities.throughput.measure_flops``, the
``flops_per_batch`` of Lightning's ``ThroughputMonitor``, with either package: ``lightning`` or
``pytorch_lightning``.

    from fxcost.integrations.lightning import measure_flops
    with torch.device("meta"):
        model = MyModel()
    x = torch.randn(2, 32, device="meta")
    flops_per_batch = measure_flops(model, lambda: model(x), lambda y: y.sum())

Lightning's runs ``forward_fn`` under FlopCounterMode, which on a CPU or meta device misses
attention's matmuls (SDPA's fused kernels have no FLOP formula there) and the expert matmuls of
mixture-of-experts layers. This one calls ``forward_fn`` only to see the inputs it gives the
model (the model's forward is stopped before it runs), then counts that call with
``fxcost.profile``: the forward, and with ``loss_fn`` the backward too, at 2 FLOPs per MAC,
Lightning's convention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..analyses.profile import profile
from ..core.errors import FxcostError
from ._common import require

# Lightning ships as ``lightning`` and, still the common install, as ``pytorch_lightning``
require("lightning", "lightning", "pytorch_lightning")


def measure_flops(
    model: nn.Module, forward_fn: Callable[[], Any], loss_fn: Callable[[Any], torch.Tensor] | None = None
) -> int:
    """FLOPs of ``forward_fn()`` on ``model`` (plus the backward when ``loss_fn`` is given), at 2
    per multiply-accumulate: Lightning's signature and return value. What is counted is the
    model called with the inputs ``forward_fn`` gives it (its first call of ``model``); the
    backward is that of the model's outputs, whatever ``loss_fn`` computes from them (its own
    few FLOPs are not counted, as Lightning's FlopCounterMode counts no reduction either)."""
    seen: list[tuple[tuple, dict]] = []

    def stop(module: nn.Module, args: tuple, kwargs: dict) -> None:
        seen.append((args, kwargs))
        raise _Seen

    hook = model.register_forward_pre_hook(stop, with_kwargs=True)
    try:
        forward_fn()
    except _Seen:
        pass
    finally:
        hook.remove()
    if not seen:
        raise FxcostError("forward_fn never called the model. Fix: forward_fn = lambda: model(x).")
    args, kwargs = seen[0]
    report = profile(model, args, kwargs, backward=loss_fn is not None)
    return 2 * (report.model_flops.macs if loss_fn is not None else report.total.macs)


class _Seen(Exception):
    """Stops ``forward_fn`` once the model's inputs are known."""


__all__ = ["measure_flops"]

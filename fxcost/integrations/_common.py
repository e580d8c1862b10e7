"""What the integrations share: importing the trainer library with a one-line error naming the
extra, and a device's peak FLOP/s from what a user passes."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import torch

from ..core.errors import FxcostError
from ..reports.peaks import Peak, named_peak, peak_for


def require(module: str, extra: str, *alternatives: str) -> ModuleType:
    """Import ``module`` (or the first of ``alternatives`` that imports: the same library under
    another package name), or raise an ImportError saying which extra installs it."""
    for name in (module, *alternatives):
        try:
            return importlib.import_module(name)
        except ImportError as e:
            error = e
    names = " or ".join(n.split(".")[0] for n in (module, *alternatives))
    raise ImportError(
        f"fxcost.integrations.{extra} needs {names}, which is not installed. Fix: pip install 'fxcost[{extra}]'."
    ) from error


def peak_flops(peak: Any, device: torch.device, dtype: torch.dtype) -> tuple[float | None, str]:
    """(peak FLOP/s for ``dtype``, where it came from) from ``peak``: a name in fxcost's table, an
    ``fxcost.Peak``, a number, or None for the CUDA device the model is on (None on a CPU)."""
    if isinstance(peak, (int, float)) and not isinstance(peak, bool):
        return float(peak), "the number given"
    if isinstance(peak, str):
        peak = named_peak(peak, "peak=")
    if peak is None and device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = peak_for(name)
        if peak is None:
            return None, f"fxcost has no peak for {name!r}: pass peak= (a number of FLOP/s, or a fxcost.Peak)"
    if peak is None:
        return None, f"no peak FLOP/s for a {device.type} device: pass peak= (a device name, a fxcost.Peak or FLOP/s)"
    if not isinstance(peak, Peak):
        raise FxcostError(
            f"peak={peak!r} is not a device name, an fxcost.Peak or a number of FLOP/s. "
            "Fix: peak='H100' or peak=989e12."
        )
    value = peak.flops_for(dtype)
    return value, (peak.name if value else f"{peak.name} has no peak for {dtype}")

"""Roofline: each node's arithmetic intensity, bound and lower-bound time on a device's peaks
(``fxcost/reports/peaks.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .peaks import Peak
from .report import Report


@dataclass
class RooflineRow:
    """One node on the roofline."""

    name: str
    module: str
    flops: int
    bytes: int
    intensity: float | None  # FLOPs per byte
    bound: str  # "compute", "memory" or "-" (neither: no work)
    min_time_ms: float  # the roofline's lower bound: max(flops / peak, bytes / bandwidth)
    time_ms: float | None = None
    achieved_flops_per_s: float | None = None


def roofline(report: Report, peak: Peak, dtype: torch.dtype | str = torch.float32) -> list[RooflineRow]:
    """Each node's arithmetic intensity, bound and lower-bound time on ``peak``."""
    pf = peak.flops_for(dtype)
    if pf is None:
        raise ValueError(f"{peak.name} has no peak for {dtype}; pass a Peak with one")
    ridge = pf / peak.bandwidth
    rows = []
    for n in report.nodes:
        c = n.cost
        t_compute, t_memory = c.flops / pf, c.bytes / peak.bandwidth
        intensity = c.flops / c.bytes if c.bytes else None
        if c.flops == 0 and c.bytes == 0:
            bound = "-"
        elif intensity is None or intensity >= ridge:
            bound = "compute"
        else:
            bound = "memory"
        achieved = c.flops / (n.time_ms / 1e3) if n.time_ms else None
        rows.append(
            RooflineRow(
                n.name,
                n.module,
                c.flops,
                c.bytes,
                intensity,
                bound,
                1e3 * max(t_compute, t_memory),
                n.time_ms,
                achieved,
            )
        )
    return rows

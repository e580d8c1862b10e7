"""Reports: peak FLOP/s and memory bandwidth per device, the roofline's roofs.

Peaks are vendors' dense (no sparsity) datasheet figures; override them for your part, clocks or
CPU with ``Peak(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import FxcostError

T = 1e12


@dataclass(frozen=True)
class Peak:
    """Peak dense FLOP/s per dtype name, and memory bandwidth in bytes/s."""

    name: str
    flops: dict[str, float]
    bandwidth: float

    def flops_for(self, dtype: torch.dtype | str) -> float | None:
        key = str(dtype).replace("torch.", "")
        if key == "float32" and torch.get_float32_matmul_precision() != "highest" and "tfloat32" in self.flops:
            key = "tfloat32"
        return self.flops.get(key)


def _p(name: str, bf16: float, fp32: float, bw: float, tf32: float | None = None, fp8: float | None = None) -> Peak:
    flops = {"bfloat16": bf16 * T, "float16": bf16 * T, "float32": fp32 * T}
    if tf32:
        flops["tfloat32"] = tf32 * T
    if fp8:
        flops["float8_e4m3fn"] = flops["float8_e5m2"] = fp8 * T
    return Peak(name, flops, bw * T)


# Matched in order against torch.cuda.get_device_name(): more specific names first.
PEAKS: list[tuple[str, Peak]] = [
    ("H200", _p("NVIDIA H200", 989.4, 66.9, 4.8, 494.7, 1978.9)),
    ("H100 PCIe", _p("NVIDIA H100 PCIe", 756.0, 51.2, 2.0, 378.0, 1513.0)),
    ("H100 NVL", _p("NVIDIA H100 NVL", 835.0, 60.0, 3.9, 418.0, 1671.0)),
    ("H100", _p("NVIDIA H100 SXM", 989.4, 66.9, 3.35, 494.7, 1978.9)),
    ("A100-SXM4-40GB", _p("NVIDIA A100 SXM 40GB", 312.0, 19.5, 1.555, 156.0)),
    ("A100-PCIE-40GB", _p("NVIDIA A100 PCIe 40GB", 312.0, 19.5, 1.555, 156.0)),
    ("A100", _p("NVIDIA A100 80GB", 312.0, 19.5, 2.039, 156.0)),
    ("L40S", _p("NVIDIA L40S", 362.05, 91.6, 0.864, 183.0, 733.0)),
    ("L4", _p("NVIDIA L4", 121.0, 30.3, 0.3, 60.0, 242.0)),
    ("A10G", _p("NVIDIA A10G", 70.0, 31.2, 0.6, 35.0)),
    ("A10", _p("NVIDIA A10", 125.0, 31.2, 0.6, 62.5)),
    ("RTX 4090", _p("NVIDIA GeForce RTX 4090", 165.2, 82.6, 1.008, 82.6, 330.3)),
    ("RTX 3090", _p("NVIDIA GeForce RTX 3090", 71.0, 35.6, 0.936, 35.6)),
    ("V100", _p("NVIDIA V100", 125.0, 15.7, 0.9)),
    ("T4", _p("NVIDIA T4", 65.0, 8.1, 0.32)),
]


def peak_for(device_name: str) -> Peak | None:
    """The table entry whose key occurs in ``device_name`` (e.g. 'NVIDIA H100 80GB HBM3')."""
    for key, peak in PEAKS:
        if key in device_name:
            return peak
    return None


def named_peak(name: str, fix: str = "") -> Peak:
    """The table entry for ``name`` (as ``peak_for``), or an FxcostError listing the names the
    table holds; ``fix`` prefixes them (a command-line flag)."""
    found = peak_for(name)
    if found is None:
        raise FxcostError(
            f"no roofline entry for device {name!r}. Fix: {fix}one of "
            f"{', '.join(k for k, _ in PEAKS)} (or a fxcost.Peak of your own from Python)."
        )
    return found

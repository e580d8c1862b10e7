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
    """Peak dense FLOP/s per dtype name, memory bandwidth in bytes/s, and (for "will it fit")
    memory capacity in bytes; ``source`` names where the figures come from."""

    name: str
    flops: dict[str, float]
    bandwidth: float
    memory: float | None = None
    source: str = ""

    def flops_for(self, dtype: torch.dtype | str) -> float | None:
        key = str(dtype).replace("torch.", "")
        if key == "float32" and torch.get_float32_matmul_precision() != "highest" and "tfloat32" in self.flops:
            key = "tfloat32"
        return self.flops.get(key)


def _p(
    name: str,
    bf16: float,
    fp32: float | None,
    bw: float,
    tf32: float | None = None,
    fp8: float | None = None,
    gb: float | None = None,
    source: str = "",
    int8: float | None = None,
) -> Peak:
    """TFLOP/s per dtype (dense), TB/s, GB (10⁹ bytes, as vendors count)."""
    flops = {"bfloat16": bf16 * T, "float16": bf16 * T}
    if fp32:
        flops["float32"] = fp32 * T
    if tf32:
        flops["tfloat32"] = tf32 * T
    if fp8:
        flops["float8_e4m3fn"] = flops["float8_e5m2"] = fp8 * T
    if int8:
        flops["int8"] = int8 * T
    return Peak(name, flops, bw * T, gb * 1e9 if gb else None, source)


_NV = "NVIDIA datasheet"
# Matched in order against torch.cuda.get_device_name(): more specific names first (GB200 before
# B200, H200 before H20, L40S before L4). Dense figures: vendors' sparse ones halved.
PEAKS: list[tuple[str, Peak]] = [
    ("GB200", _p("NVIDIA GB200 (per GPU)", 2500.0, 80.0, 8.0, 1250.0, 5000.0, 186, _NV + ", GB200 NVL72 / 72")),
    ("B300", _p("NVIDIA B300 (HGX)", 2250.0, 75.0, 8.0, 1100.0, 4500.0, 288, _NV + ", HGX B300 / 8")),
    ("B200", _p("NVIDIA B200 (HGX)", 2250.0, 75.0, 7.7, 1100.0, 4500.0, 180, _NV + ", HGX B200 / 8")),
    ("H200", _p("NVIDIA H200", 989.4, 66.9, 4.8, 494.7, 1978.9, 141, _NV + ", H200 SXM")),
    ("H100 PCIe", _p("NVIDIA H100 PCIe", 756.0, 51.2, 2.0, 378.0, 1513.0, 80, _NV + ", H100 PCIe")),
    ("H100 NVL", _p("NVIDIA H100 NVL", 835.0, 60.0, 3.9, 418.0, 1671.0, 94, _NV + ", H100 NVL")),
    ("H100", _p("NVIDIA H100 SXM", 989.4, 66.9, 3.35, 494.7, 1978.9, 80, _NV + ", H100 SXM")),
    ("H20", _p("NVIDIA H20", 148.0, 44.0, 4.0, 74.0, 296.0, 96, "NVIDIA H20 product brief")),
    ("A100-SXM4-40GB", _p("NVIDIA A100 SXM 40GB", 312.0, 19.5, 1.555, 156.0, gb=40, source=_NV + ", A100")),
    ("A100-PCIE-40GB", _p("NVIDIA A100 PCIe 40GB", 312.0, 19.5, 1.555, 156.0, gb=40, source=_NV + ", A100")),
    ("A100", _p("NVIDIA A100 80GB", 312.0, 19.5, 2.039, 156.0, gb=80, source=_NV + ", A100 80GB SXM")),
    ("L40S", _p("NVIDIA L40S", 362.05, 91.6, 0.864, 183.0, 733.0, 48, _NV + ", L40S")),
    ("L4", _p("NVIDIA L4", 121.0, 30.3, 0.3, 60.0, 242.0, 24, _NV + ", L4")),
    ("A10G", _p("NVIDIA A10G", 70.0, 31.2, 0.6, 35.0, gb=24, source="AWS G5 instance documentation")),
    ("A10", _p("NVIDIA A10", 125.0, 31.2, 0.6, 62.5, gb=24, source=_NV + ", A10")),
    (
        "RTX 5090",
        _p(
            "NVIDIA GeForce RTX 5090",
            209.5,
            104.8,
            1.792,
            104.8,
            419.0,
            32,
            "NVIDIA RTX Blackwell GPU architecture whitepaper",
        ),
    ),
    (
        "RTX 4090",
        _p("NVIDIA GeForce RTX 4090", 165.2, 82.6, 1.008, 82.6, 330.3, 24, "NVIDIA Ada GPU architecture whitepaper"),
    ),
    (
        "RTX 3090",
        _p("NVIDIA GeForce RTX 3090", 71.0, 35.6, 0.936, 35.6, gb=24, source="NVIDIA Ampere GA102 whitepaper"),
    ),
    ("V100", _p("NVIDIA V100", 125.0, 15.7, 0.9, gb=32, source=_NV + ", V100 SXM2 32GB")),
    ("T4", _p("NVIDIA T4", 65.0, 8.1, 0.32, gb=16, source=_NV + ", T4")),
    ("MI355X", _p("AMD Instinct MI355X", 2516.6, 157.3, 8.0, 1258.3, 5033.2, 288, "AMD Instinct MI355X datasheet")),
    ("MI325X", _p("AMD Instinct MI325X", 1307.4, 163.4, 6.0, 653.7, 2614.9, 256, "AMD Instinct MI325X datasheet")),
    ("MI300X", _p("AMD Instinct MI300X", 1307.4, 163.4, 5.3, 653.7, 2614.9, 192, "AMD Instinct MI300X datasheet")),
    (
        "Gaudi 3",
        _p("Intel Gaudi 3", 1835.0, None, 3.7, fp8=1835.0, gb=128, source="Intel Gaudi 3 AI accelerator white paper"),
    ),
    (
        "TPU v6e",
        _p(
            "Google TPU v6e (Trillium)",
            918.0,
            None,
            1.64,
            gb=32,
            int8=1836.0,
            source="Google Cloud TPU v6e documentation",
        ),
    ),
    (
        "TPU v5p",
        _p("Google TPU v5p", 459.0, None, 2.765, gb=95, int8=918.0, source="Google Cloud TPU v5p documentation"),
    ),
    (
        "TPU v5e",
        _p("Google TPU v5e", 197.0, None, 0.819, gb=16, int8=394.0, source="Google Cloud TPU v5e documentation"),
    ),
    (
        "M2 Ultra",
        _p(
            "Apple M2 Ultra (76-core GPU)",
            27.2,
            27.2,
            0.8,
            gb=192,
            source="Apple M2 Ultra announcement (GPU FP32; no matrix units)",
        ),
    ),
    (
        "M1 Ultra",
        _p(
            "Apple M1 Ultra (64-core GPU)",
            21.0,
            21.0,
            0.8,
            gb=128,
            source="Apple M1 Ultra announcement (GPU FP32; no matrix units)",
        ),
    ),
]


def peak_for(device_name: str) -> Peak | None:
    """The table entry whose key occurs in ``device_name`` (e.g. 'NVIDIA H100 80GB HBM3')."""
    for key, peak in PEAKS:
        if key in device_name:
            return peak
    return None


def named_peak(name: str, fix: str = "") -> Peak:
    """The table entry for ``name`` (as ``peak_for``, then ignoring case and spaces), or an
    FxcostError naming the closest entries; ``fix`` prefixes them (a command-line flag)."""
    found = peak_for(name)
    if found is None:
        squash = lambda s: s.lower().replace(" ", "").replace("-", "")  # noqa: E731
        found = next((p for k, p in PEAKS if squash(k) in squash(name)), None)
    if found is None:
        import difflib

        close = difflib.get_close_matches(name.upper(), [k.upper() for k, _ in PEAKS], n=4, cutoff=0.4)
        near = [k for k, _ in PEAKS if k.upper() in close] or [k for k, _ in PEAKS]
        raise FxcostError(
            f"no entry for device {name!r} in fxcost's table. Fix: {fix}one of {', '.join(near)} "
            "(fxcost rules --devices lists them all; from Python, a fxcost.Peak of your own)."
        )
    return found

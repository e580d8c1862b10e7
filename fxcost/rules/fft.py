"""Fourier transforms: the field's convention, 5·N·log2 N FLOPs for a complex transform of
N points (the radix-2 Cooley–Tukey count FFTW's benchmarks use), half that for a transform of
real data (rfft, irfft, hfft, ihfft). An n-dimensional transform of N = n1·n2·… points costs
5·N·log2 N, the sum of its 1-D passes. Normalization scales and shifts are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..core.cost import Cost
from ._common import attrs
from .registry import OpCall, register_rule

aten = torch.ops.aten
_FFT = torch.fft


def _name(call: OpCall) -> str:
    """``fft_rfft2`` for torch.fft.rfft2, aten.fft_rfft2 and its overloads."""
    return getattr(call.target, "__name__", str(call.target)).split(".")[0].removeprefix("fft_")


def _dims(call: OpCall, x: torch.Tensor, name: str) -> list[int]:
    """The transformed dims, each form's default included (1-D: -1; 2: (-2, -1); n: every dim,
    or the last len(s))."""
    dim = call.arg("dim")
    if dim is None:
        if name.endswith("n"):
            s = call.arg("s")
            dim = list(range(x.dim()))[-len(s) :] if s is not None else list(range(x.dim()))
        elif name.endswith("2"):
            dim = (-2, -1)
        else:
            dim = -1
    dims = [dim] if isinstance(dim, int) else list(dim)
    return [d % x.dim() for d in dims] if x.dim() else []


def transform_flops(points: int, transforms: int, real: bool) -> int:
    """5·N·log2 N per transform of N points (halved for real data)."""
    if points <= 1 or transforms == 0:
        return 0
    flops = 5 * points * math.log2(points) * transforms
    return int(round(flops / 2 if real else flops))


def _cost(points: Sequence[int], total: int, real: bool) -> Cost:
    n = math.prod(points)
    return Cost(flops=transform_flops(n, total // n if n else 0, real))


@register_rule(
    *attrs(_FFT, "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "irfft", "irfft2", "irfftn", "hfft", "hfft2", "hfftn")
)
def fft(call: OpCall) -> Cost:
    """Complex-to-complex and complex-to-real transforms: 5·N·log2 N per transform of the
    output's N points along the transformed dims (half for irfft and hfft, whose output is real)."""
    y, name = call.y, _name(call)
    dims = _dims(call, y, name)
    return _cost([y.shape[d] for d in dims], y.numel(), real=not y.is_complex())


@register_rule(*attrs(_FFT, "rfft", "rfft2", "rfftn", "ihfft", "ihfft2", "ihfftn"))
def rfft(call: OpCall) -> Cost:
    """Real-to-complex transforms: 2.5·N·log2 N per transform of N real points (the input's
    length along each transformed dim, or ``n``/``s``)."""
    x, y, name = call.x, call.y, _name(call)
    dims = _dims(call, x, name)
    n, s = call.arg("n"), call.arg("s")
    full = [s[i] if s is not None else x.shape[d] for i, d in enumerate(dims)]
    if n is not None:
        full[-1] = n
    kept = math.prod(y.shape[d] for d in dims)
    return Cost(flops=transform_flops(math.prod(full), y.numel() // kept if kept else 0, real=True))


@register_rule(*attrs(aten, "_fft_c2c", "_fft_r2c", "_fft_c2r"))
def fft_kernel(call: OpCall) -> Cost:
    """The aten kernels behind every torch.fft op (training steps, export programs): as
    ``fft``/``rfft``, on the full-length side (c2c: either; r2c: the input; c2r: the output)."""
    x, y = call.x, call.y
    dims = [d % x.dim() for d in call.arg("dim")]
    if x.is_complex() and y.is_complex():
        return _cost([y.shape[d] for d in dims], y.numel(), real=False)
    full = x if not x.is_complex() else y
    return _cost([full.shape[d] for d in dims], full.numel(), real=True)


@register_rule(torch.stft, "stft")
def stft(call: OpCall) -> Cost:
    """Per frame: the window's multiply (n_fft) and an n_fft-point transform (real input:
    halved)."""
    x, n_fft = call.x, call.arg("n_fft")
    y = call.y
    frames = y.shape[-1] if y.is_complex() else y.shape[-2]
    signals = x.numel() // x.shape[-1] if x.dim() else 1
    real = not x.is_complex()
    return Cost(flops=signals * frames * n_fft + transform_flops(n_fft, signals * frames, real))


@register_rule(torch.istft, "istft")
def istft(call: OpCall) -> Cost:
    """Per frame: an n_fft-point inverse transform (to real: halved), the window's multiply and
    the overlap-add (2·n_fft); then a divide per output sample by the summed window."""
    x, n_fft = call.x, call.arg("n_fft")
    frames = x.shape[-1]
    signals = x.numel() // (x.shape[-1] * x.shape[-2]) if x.dim() >= 2 else 1
    return Cost(
        flops=signals * frames * 2 * n_fft + transform_flops(n_fft, signals * frames, real=True) + call.y.numel()
    )

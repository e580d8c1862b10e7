"""fxcost/rules/fft.py: 5·N·log2 N FLOPs per complex transform of N points, half for real data.
Counts are hand-derived."""

import pytest
import torch
from helpers import CAPTURES, cost

import fxcost


@pytest.mark.parametrize("capture", CAPTURES)
def test_complex_transforms(capture):
    x = torch.randn(3, 8, dtype=torch.complex64)
    # 3 transforms of 8 points: 3 * 5 * 8 * 3 = 360
    for f in (torch.fft.fft, torch.fft.ifft):
        assert cost(f, x, capture=capture).flops == 360
    # fft2 of (4, 8): N = 32, log2 32 = 5: 5 * 32 * 5 = 800, once
    assert cost(torch.fft.fft2, torch.randn(4, 8, dtype=torch.complex64), capture=capture).flops == 800
    # fftn over every dim of (2, 4, 8): N = 64: 5 * 64 * 6 = 1920
    assert cost(torch.fft.fftn, torch.randn(2, 4, 8, dtype=torch.complex64), capture=capture).flops == 1920
    # n=16 pads each of the 3 rows to 16 points: 3 * 5 * 16 * 4 = 960
    assert cost(lambda a: torch.fft.fft(a, n=16), x, capture=capture).flops == 960


def test_real_transforms_are_halved():
    x = torch.randn(3, 8)
    assert cost(torch.fft.rfft, x).flops == 180  # 360 / 2
    assert cost(lambda a: torch.fft.rfft(a, n=16), x).flops == 480
    assert cost(torch.fft.irfft, torch.randn(3, 5, dtype=torch.complex64)).flops == 180  # 8 real points out
    assert cost(torch.fft.rfft2, torch.randn(4, 8)).flops == 400
    assert cost(torch.fft.hfft, torch.randn(3, 5, dtype=torch.complex64)).flops == 180
    assert cost(torch.fft.ihfft, x).flops == 180
    # a real input to fft is still a complex transform of 8 points
    assert cost(torch.fft.fft, x).flops == 360


def test_shifts_move_data_only():
    c = cost(torch.fft.fftshift, torch.randn(8))
    assert c.flops == 0 and c.bytes_written == 32


def test_stft_frames_times_window_and_transform():
    # 64 samples, n_fft 16, hop 4, centred: 17 frames; each: 16 window multiplies and a real
    # 16-point transform (5*16*4/2 = 160)
    x = torch.randn(64)
    c = cost(lambda s: torch.stft(s, 16, hop_length=4, window=torch.ones(16), return_complex=True), x)
    assert c.flops == 17 * (16 + 160)


def test_training_step_kernels():
    """The aten kernels autograd runs (_fft_r2c, _fft_c2r, _fft_c2c) cost as their torch ops."""
    x = torch.randn(3, 8, requires_grad=True)
    r = fxcost.profile(helpers_fn(lambda a: torch.fft.rfft(a).abs()), (x,), backward=True)
    assert not r.unsupported
    ffts = [n for n in r.nodes if "fft" in n.target]
    # rfft (180), then its backward: the gradient zero-padded to 8 complex points and a complex
    # transform of 8 (_fft_c2c: 360), as autograd's rfft_backward runs it
    assert [(n.target.split("::")[-1], n.cost.flops) for n in ffts] == [("_fft_r2c", 180), ("_fft_c2c", 360)]


def helpers_fn(f):
    from helpers import Fn

    return Fn(f)

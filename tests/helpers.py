"""Shared test helpers: wrapping a function as a module, and an independent counter."""

from __future__ import annotations

import pathlib

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import fxcost

CAPTURES = ["symbolic_trace", "record"]
#: The repository's root (README.md, action.yml, pyproject.toml).
REPO = pathlib.Path(__file__).resolve().parents[1]


class Fn(nn.Module):
    """A module whose forward calls ``f``: puts functional / method / operator forms in a graph."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x, y=None, z=None):
        if z is not None:
            return self.f(x, y, z)
        return self.f(x) if y is None else self.f(x, y)


def cost(model_or_fn, *inputs, capture="record", **kw) -> fxcost.Cost:
    """fxcost's total for a module or a function applied to ``inputs``; fails on unsupported ops."""
    model = model_or_fn if isinstance(model_or_fn, nn.Module) else Fn(model_or_fn)
    report = fxcost.profile(model, inputs, capture=capture, strict=True, **kw)
    return report.total


def flop_counter_macs(model: nn.Module, args: tuple, kwargs: dict | None = None) -> int:
    """MACs by torch.utils.flop_counter.FlopCounterMode on meta tensors (it counts 2 per MAC)."""
    # grad mode stays on: FlopCounterMode's module tracker fails on some models under no_grad (cait)
    with FlopCounterMode(display=False) as fc:
        model(*args, **(kwargs or {}))
    return fc.get_total_flops() // 2


@torch.library.custom_op("fxcost_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    """An op no rule knows (every op PyTorch ships has one): what users' own custom ops are."""
    return x.clone()


@mystery.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def snapshot(model: nn.Module) -> dict:
    """What a call must leave as it was: parameters and buffers (the same objects, the same
    values), training flags, requires_grad, hooks, devices."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "ids": [id(p) for p in model.parameters()] + [id(b) for b in model.buffers()],
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()],
        "devices": [p.device for p in model.parameters()],
    }


def assert_same(model: nn.Module, snap: dict) -> None:
    """The model is as ``snapshot`` saw it."""
    now = snapshot(model)
    assert now["ids"] == snap["ids"]
    for k, v in snap["state"].items():
        if v.device.type != "meta":  # meta tensors have no data to compare
            assert torch.equal(now["state"][k], v), k
    for key in ("training", "requires_grad", "hooks", "devices"):
        assert now[key] == snap[key], key

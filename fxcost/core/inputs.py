"""Core: what every entry point checks first, the model and its inputs (the options: ``options.py``),
so that a bad call is a clear FxcostError before anything runs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import FxcostError


def check_call(model: Any, args: Any, kwargs: Any) -> tuple[tuple, dict]:
    """Validate the model and inputs of any fxcost entry point; return (args, kwargs)."""
    refuse_torchscript(model)
    if not isinstance(model, nn.Module):
        raise FxcostError(
            f"expected an nn.Module, got {type(model).__name__}. "
            "Fix: pass the model instance, e.g. fxcost.profile(model, (x,))."
        )
    if isinstance(args, list):
        args = tuple(args)
    if not isinstance(args, tuple):
        raise FxcostError(
            f"inputs must be a tuple of positional arguments, got {type(args).__name__}. "
            "Fix: wrap a single input as (x,), e.g. fxcost.profile(model, (x,))."
        )
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise FxcostError(
            f"kwargs must be a dict of keyword arguments, got {type(kwargs).__name__}. "
            "Fix: fxcost.profile(model, (), {'input_ids': ids})."
        )
    return args, kwargs


def refuse_torchscript(model: Any) -> None:
    """TorchScript modules are nn.Modules whose forward fxcost cannot run or read: say so."""
    if isinstance(model, torch.jit.ScriptModule):
        raise FxcostError(
            f"{type(model).__name__} is a TorchScript module, whose graph fxcost does not read. "
            "Fix: pass the original nn.Module (before torch.jit.script/trace), or torch.export it."
        )

"""Zoo: a model's inputs from plain values, shape specs (``1x3x224x224``, ``1x128:int64``), a
JSON object of keyword inputs, a dtype, and the target's default inputs; and the one cast of a
model and its inputs to a floating dtype."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from ..core.errors import FxcostError
from .targets import parse_dtype, parse_input


def json_kwargs(text: str) -> dict:
    """``--kwargs``: a JSON object of keyword inputs (shapes as strings, other values as given)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise FxcostError(f'--kwargs is not valid JSON ({e}). Fix: --kwargs \'{{"input_ids": "1x128:int64"}}\'.') from e
    if not isinstance(raw, dict):
        raise FxcostError('--kwargs must be a JSON object. Fix: --kwargs \'{"input_ids": "1x128:int64"}\'.')
    return raw


def model_inputs(
    specs: list[str], kwargs: dict | None, dtype: str, default_args: tuple | None, default_kwargs: dict
) -> tuple[tuple, dict]:
    """(args, kwargs) for a target: tensors from ``specs`` (positional; ``NAME=SPEC`` a keyword
    input, the target's other default inputs kept) and ``kwargs`` (a shape spec string becomes a
    tensor, another value is passed as given), else the target's defaults; for a transformers
    target a positional spec is its main input. Floating inputs in ``dtype``."""
    dt = parse_dtype(dtype)
    named_specs = dict(s.split("=", 1) for s in specs if "=" in s)  # --input NAME=SPEC
    pos = tuple(parse_input(s, dt) for s in specs if "=" not in s)
    named = {k: parse_input(v, dt) if isinstance(v, str) else v for k, v in {**named_specs, **(kwargs or {})}.items()}
    if named_specs and default_kwargs:  # the target's other inputs stay as they are
        named = {**default_kwargs, **named}
    if not pos and not named:
        if default_args is None and not default_kwargs:
            raise FxcostError("no input given. Fix: pass --input 1x3x224x224 (repeat for several inputs).")
        pos, named = default_args or (), dict(default_kwargs)
    elif not pos and default_kwargs and not named:
        named = dict(default_kwargs)
    elif pos and default_kwargs and not default_args:
        # hf targets: a positional --input is the model's main input
        named = {next(iter(default_kwargs)): pos[0]}
        pos = ()
    return cast(None, pos, named, dt)[1:]


def cast(model: nn.Module | None, args: tuple, kwargs: dict, dtype: torch.dtype) -> tuple[Any, tuple, dict]:
    """The model (if given) and the floating tensors among its inputs in ``dtype`` (float32 and
    non-floating dtypes leave the model as it is)."""
    if not dtype.is_floating_point:
        return model, args, kwargs

    def one(t: Any) -> Any:
        return t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t

    if model is not None and dtype != torch.float32:
        model = model.to(dtype)
    return model, tuple(one(t) for t in args), {k: one(v) for k, v in kwargs.items()}

"""Core: what every entry point checks first, the model and its inputs (the options: ``options.py``),
so that a bad call is a clear FxcostError before anything runs: the wrappers a model comes in
(``torch.compile``, DataParallel, DDP) are taken off, and what cannot be costed from outside
(FSDP1, an FSDP2 module's training step) is refused with the fix."""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

from .errors import FxcostError


def checked(model: Any, args: Any, kwargs: Any) -> tuple[nn.Module, tuple, dict]:
    """The module to cost (unwrapped) and its validated (args, kwargs)."""
    model = unwrap(model)
    return (model, *check_call(model, args, kwargs))


def check_call(model: Any, args: Any, kwargs: Any) -> tuple[tuple, dict]:
    """Validate the model and inputs of any fxcost entry point; return (args, kwargs)."""
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


def unwrap(model: Any) -> Any:
    """The module to cost: the one a ``torch.compile``, DataParallel or DDP wrapper holds (Dynamo
    never traces fxcost's own code); FSDP1 is refused with the fix."""
    # only a process that loaded Dynamo has compiled modules: never import it here
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")
    while True:
        if eval_frame is not None and isinstance(model, eval_frame.OptimizedModule):
            model = model._orig_mod
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            _refuse_fsdp1(model)
            return model


def _refuse_fsdp1(model: nn.Module) -> None:
    """FSDP1 flattens parameters into shards that exist whole only inside its own forward: its
    module cannot be costed from outside. Say what can."""
    if isinstance(model, nn.Module) and any(type(m).__name__ == "FullyShardedDataParallel" for m in model.modules()):
        raise FxcostError(
            "the model is wrapped in FullyShardedDataParallel (FSDP1), whose flattened, sharded parameters "
            "fxcost cannot read. Fix: profile the module before wrapping it, or cost one rank with "
            "fxcost.profile_parallel(build, args, mesh={'dp': N}, parallelize=fxcost.plans.fsdp) (FSDP2)."
        )


def refuse_sharded_step(model: nn.Module) -> None:
    """An FSDP2-sharded module's training step (and its memory) is one rank's: each rank holds
    a shard and gathers the rest. That is ``profile_parallel``'s job; say so."""
    if any(c.__name__ == "FSDPModule" for m in model.modules() for c in type(m).__mro__):
        raise FxcostError(
            "the model is sharded with FSDP2 (fully_shard): its training step and memory are one rank's. "
            "Fix: fxcost.profile_parallel(build, args, mesh={'dp': N}, parallelize=fxcost.plans.fsdp, "
            "backward=True), or profile the module before fully_shard; its forward alone profiles as it is."
        )


def is_program(model: Any) -> bool:
    return isinstance(model, torch.export.ExportedProgram)

"""Analyses: built-in parallel plans for transformers decoders, for ``profile_parallel`` and the
CLI (``--plan``). Each is ``plan(model, mesh)`` written with PyTorch's own APIs, the way a
training script applies them:

``tp``       Megatron tensor parallelism on mesh dim "tp": in each decoder layer q, k, v, gate
             and up projections colwise, o and down projections rowwise (one all_reduce after
             each rowwise projection);
``fsdp``     FSDP2 (``fully_shard``) on mesh dim "dp": each decoder layer, then the root;
``fsdp+tp``  both, on a 2-D mesh ("dp", "tp").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..core.errors import FxcostError

_COLWISE = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj")
_ROWWISE = ("self_attn.o_proj", "mlp.down_proj")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a transformers model (``model.model.layers`` and kin)."""
    for path in ("model.layers", "model.decoder.layers", "transformer.h", "layers"):
        mod: Any = model
        for part in path.split("."):
            mod = getattr(mod, part, None)
        if isinstance(mod, nn.ModuleList) and len(mod):
            return mod
    raise FxcostError(
        f"{type(model).__name__} has no decoder layers where transformers keeps them "
        "(model.layers, model.decoder.layers, transformer.h). Fix: pass parallelize=your_plan."
    )


def tensor_parallel(model: nn.Module, mesh: Any) -> None:
    """Megatron-style tensor parallelism on ``mesh["tp"]`` (see the module docstring)."""
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    for i, layer in enumerate(decoder_layers(model)):
        missing = [p for p in (*_COLWISE, *_ROWWISE) if not isinstance(_submodule(layer, p), nn.Linear)]
        if missing:
            raise FxcostError(
                f"decoder layer {i} has no nn.Linear {', '.join(missing)}: the built-in tensor-parallel "
                "plan knows Llama-style projections. Fix: pass parallelize=your_plan."
            )
        plan: dict[str, Any] = {p: ColwiseParallel() for p in _COLWISE} | {p: RowwiseParallel() for p in _ROWWISE}
        parallelize_module(layer, mesh["tp"], plan)


def fsdp(model: nn.Module, mesh: Any) -> None:
    """FSDP2 on ``mesh["dp"]``: each decoder layer, then the root."""
    from torch.distributed.fsdp import fully_shard

    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])


def fsdp_tp(model: nn.Module, mesh: Any) -> None:
    """Tensor parallelism on "tp", then FSDP2 on "dp" (the order torchtitan applies them)."""
    tensor_parallel(model, mesh)
    fsdp(model, mesh)


PLANS: dict[str, tuple[Callable[[nn.Module, Any], None], tuple[str, ...]]] = {
    "tp": (tensor_parallel, ("tp",)),
    "fsdp": (fsdp, ("dp",)),
    "fsdp+tp": (fsdp_tp, ("dp", "tp")),
}


def plan(name: str, mesh: dict[str, int]) -> Callable[[nn.Module, Any], None]:
    """The built-in plan ``name``, checked against the mesh dims it needs."""
    if name not in PLANS:
        raise FxcostError(f"plan {name!r} is not one of {', '.join(PLANS)}. Fix: --plan fsdp+tp (or tp, fsdp).")
    fn, dims = PLANS[name]
    if set(dims) - set(mesh):
        raise FxcostError(
            f"plan {name!r} needs mesh dims {', '.join(dims)}; the mesh has {', '.join(mesh)}. "
            f"Fix: --mesh {','.join(f'{d}=N' for d in dims)}."
        )
    return fn


def _submodule(module: nn.Module, path: str) -> nn.Module | None:
    try:
        return module.get_submodule(path)
    except AttributeError:
        return None

"""Will it fit, the models: weights per dtype (as accelerate's estimate-memory counts them), the
training setups (compute dtype, optimizer state per parameter, checkpointing, LoRA), and each
setup's model: a meta copy of the user's, never the model itself (``fit`` plans with them).

May import: what ``analyses`` may."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

#: weight widths, bytes per element, as accelerate's estimate-memory lists them (and float8)
WIDTHS = {"float32": 4.0, "bfloat16/float16": 2.0, "float8": 1.0, "int8": 1.0, "int4": 0.5}


@dataclass(frozen=True)
class Setup:
    """A training setup: the compute dtype of weights, gradients and activations, the optimizer
    state per trainable parameter (bytes), and whether it checkpoints or trains LoRA adapters."""

    name: str
    label: str
    dtype: torch.dtype
    state: Callable[[nn.Parameter], float]
    checkpoint: bool = False
    lora: bool = False


def _adam8bit(p: nn.Parameter) -> float:
    return 8.0 if p.numel() < 4096 else 2.0 + 2 * 4 / 256


SETUPS = {
    s.name: s
    for s in (
        Setup("fp32", "float32, AdamW", torch.float32, lambda p: 8.0),
        Setup("bf16", "pure bf16, AdamW", torch.bfloat16, lambda p: 4.0),
        Setup("mixed", "bf16 + fp32 master, AdamW", torch.bfloat16, lambda p: 12.0),
        Setup("adam8bit", "bf16, 8-bit AdamW", torch.bfloat16, _adam8bit),
        Setup("sgd", "bf16, SGD momentum", torch.bfloat16, lambda p: 2.0),
        Setup("checkpoint", "bf16 + fp32 master, AdamW, checkpointed", torch.bfloat16, lambda p: 12.0, checkpoint=True),
        Setup("lora", "LoRA r=16, bf16 base", torch.bfloat16, lambda p: 8.0, lora=True),
    )
}
LORA_RANK = 16


# -- weights -------------------------------------------------------------------------------------
def weights(model: nn.Module) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Bytes of the largest layer and of the whole model at each width; and the largest layer's
    names. Floating tensors take the width, integer buffers keep their own."""
    sizes: dict[str, dict[str, float]] = {w: {} for w in WIDTHS}
    seen: set[int] = set()  # a tied weight counts once, under its first module (as named_parameters)
    for prefix, module in model.named_modules():
        for t in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            if id(t) in seen:
                continue
            seen.add(id(t))
            for w, b in WIDTHS.items():
                nbytes = t.numel() * (b if t.is_floating_point() else t.element_size())
                for name in _ancestors(prefix):
                    sizes[w][name] = sizes[w].get(name, 0) + nbytes
    keep = set(getattr(model, "_no_split_modules", None) or [])
    layers = _layers(model, keep)
    out: dict[str, tuple[int, int]] = {}
    names: list[str] = []
    for w in WIDTHS:
        largest = max((sizes[w].get(n, 0) for n in layers), default=0)
        out[w] = (math.ceil(largest), math.ceil(sizes[w].get("", 0)))
        if w == "float32":
            names = [n for n in layers if sizes[w].get(n, 0) == largest]
    return out, names


def _ancestors(prefix: str) -> list[str]:
    parts = prefix.split(".") if prefix else []
    return [""] + [".".join(parts[: i + 1]) for i in range(len(parts))]


def _layers(model: nn.Module, keep: set[str]) -> list[str]:
    """The units a model is split into: a module kept whole, or one without children; the
    top level's own parameters and buffers each count as one (as accelerate lists them)."""
    out: list[str] = []
    todo = [(n, m) for n, m in model.named_children()]
    while todo:
        name, m = todo.pop(0)
        children = list(m.named_children())
        if not children or type(m).__name__ in keep:
            out.append(name)
        else:
            todo = [(f"{name}.{n}", c) for n, c in children] + todo
    return out


# -- the model in a setup ------------------------------------------------------------------------
def _standin(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of ``model`` on meta with floating parameters and buffers in ``dtype``: the user's
    model is never touched, and no weight is copied."""
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(_meta_like(p, dtype), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = _meta_like(b, dtype)
    return copy.deepcopy(model, memo)


def _meta_like(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(t.shape, dtype=dtype if t.is_floating_point() else t.dtype, device="meta")


class _LoRA(nn.Module):
    """A frozen linear plus a trained low-rank update, ``x Aᵀ Bᵀ`` (float32 adapters, as peft
    makes them)."""

    def __init__(self, base: nn.Linear, rank: int) -> None:
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False, device="meta", dtype=torch.float32)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False, device="meta", dtype=torch.float32)

    @property
    def weight(self) -> torch.Tensor:  # models read their linears' weights (T5: its dtype), as peft allows
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_B(self.lora_A(x.to(torch.float32))).to(x.dtype)


def _with_lora(model: nn.Module, rank: int) -> nn.Module:
    model.requires_grad_(False)
    head = getattr(model, "get_output_embeddings", lambda: None)()
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.Linear) and child is not head:
                setattr(m, child_name, _LoRA(child, rank))
    return model


def _setup_model(model: nn.Module, setup: Setup) -> nn.Module:
    m = _standin(model, setup.dtype)
    if setup.checkpoint:
        enable = getattr(m, "activation_checkpointing_enable", None) or getattr(
            m, "gradient_checkpointing_enable", None
        )
        if enable is None or not getattr(m, "supports_gradient_checkpointing", False):
            raise _NotApplicable("the model has no gradient_checkpointing_enable (a transformers model's switch)")
        enable()
    if setup.lora:
        _with_lora(m, LORA_RANK)
    return m.train()


class _NotApplicable(Exception):
    pass

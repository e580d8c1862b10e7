"""Normalisation layers, one convention for every norm, in training and in eval.

Per element: 2 FLOPs to normalise with statistics it is given (subtract the mean, multiply by
1/std: batch norm in eval, instance norm with running statistics); 3 more where it computes the
statistics itself (a sum for the mean; a square and a sum for the variance: batch norm in
training, layer, group and instance norm); 2 more with an affine scale and shift. RMS norm: 3 per
element (square, sum, scale by 1/rms) plus 1 with a weight. The per-channel work (a root, a
divide) is left out: it does not grow with the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..core.cost import Cost
from ._common import attrs, like_input
from .registry import OpCall, register_rule


def _batch_norm_shape(call: OpCall) -> torch.Tensor | None:
    """Like the input, once the checks the kernel would make pass: the module's own rank check
    and one statistic per channel."""
    x = call.x
    if x.dim() < 2:
        return None
    mod = call.module
    if mod is not None:
        try:
            mod._check_input_dim(x)
        except Exception:  # the kernel raises the user's error
            return None
        stats = [mod.weight, mod.bias, mod.running_mean, mod.running_var]
    else:
        stats = call.inputs[1:]
    if any(t is not None and tuple(t.shape) != (x.shape[1],) for t in stats):
        return None
    return like_input(call)


def norm_flops(call: OpCall, statistics: bool, affine: bool) -> Cost:
    """The one norm convention (module docstring): 2 per element, + 3 computing the statistics,
    + 2 with an affine scale and shift."""
    return Cost(flops=(2 + 3 * statistics + 2 * affine) * call.x.numel())


#: aten's batch-norm kernels that say in their name whether they compute the batch statistics
_TRAINING_BY_NAME = {
    "_native_batch_norm_legit_no_training": False,
    "_batch_norm_no_update": False,
    "_batch_norm_with_update": True,
    "batch_norm_with_update": True,
}


def _batch_statistics(call: OpCall) -> bool:
    """Whether batch norm computes the batch's statistics: the module in training (or keeping
    no running statistics, as ``_BatchNorm.forward`` decides), else the call's ``training``."""
    mod = call.module
    if isinstance(mod, _BatchNorm):
        return bool(mod.training or (mod.running_mean is None and mod.running_var is None))
    name = getattr(call.target, "__name__", "").split(".")[0]
    if name in _TRAINING_BY_NAME:
        return _TRAINING_BY_NAME[name]
    return bool(call.arg("training", False))


@register_rule(_BatchNorm, nn.SyncBatchNorm, F.batch_norm, torch.batch_norm, shape=_batch_norm_shape)
def batch_norm(call: OpCall) -> Cost:
    """Eval: 2 * numel (subtract the mean, multiply by 1/std); training: + 3 * numel for the
    batch statistics; + 2 * numel with an affine scale and shift."""
    return norm_flops(call, _batch_statistics(call), call.arg("weight") is not None)


def _layer_norm_shape(call: OpCall) -> torch.Tensor | None:
    """Like the input, once the normalized shape matches its trailing dims and the weight's."""
    x, shape = call.x, call.arg("normalized_shape")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not shape or len(shape) > x.dim() or tuple(x.shape[x.dim() - len(shape) :]) != shape:
        return None
    if any(
        t is not None and (not isinstance(t, torch.Tensor) or tuple(t.shape) != shape)
        for t in (call.arg("weight"), call.arg("bias"))
    ):
        return None
    return like_input(call)


@register_rule(nn.LayerNorm, F.layer_norm, torch.layer_norm, shape=_layer_norm_shape)
def layer_norm(call: OpCall) -> Cost:
    """5 * numel (statistics and normalisation), + 2 * numel with elementwise affine."""
    return norm_flops(call, True, call.arg("weight") is not None)


@register_rule(nn.GroupNorm, F.group_norm, torch.group_norm)
def group_norm(call: OpCall) -> Cost:
    """5 * numel (statistics and normalisation), + 2 * numel with affine."""
    return norm_flops(call, True, call.arg("weight") is not None)


@register_rule(_InstanceNorm, F.instance_norm, torch.instance_norm)
def instance_norm(call: OpCall) -> Cost:
    """5 * numel (statistics and normalisation; 2 with running statistics in eval), + 2 * numel
    with affine."""
    mod = call.module
    if isinstance(mod, _InstanceNorm):  # InstanceNorm.forward: input statistics unless eval with running ones
        statistics = mod.training or not mod.track_running_stats
    else:
        statistics = call.arg("use_input_stats", True)
    return norm_flops(call, bool(statistics), call.arg("weight") is not None)


@register_rule(*attrs(nn, "RMSNorm"), *attrs(F, "rms_norm"), *attrs(torch, "rms_norm"))
def rms_norm(call: OpCall) -> Cost:
    """3 * numel (square, sum, normalise), + numel with a weight."""
    return Cost(flops=(3 + (call.arg("weight") is not None)) * call.x.numel())


@register_rule(nn.LocalResponseNorm, F.local_response_norm)
def local_response_norm(call: OpCall) -> Cost:
    """Per element: size squares and adds over the window, then scale, add, pow, divide."""
    return Cost(flops=(2 * call.arg("size") + 4) * call.x.numel())


@register_rule(F.normalize)
def normalize(call: OpCall) -> Cost:
    """x divided by its p-norm along dim: 3 per element (a square, an add, a divide; the row's
    root folded in)."""
    return Cost(flops=3 * call.x.numel())


@register_rule(*attrs(torch, "_weight_norm"), *attrs(torch.ops.aten, "_weight_norm_interface"))
def weight_norm(call: OpCall) -> Cost:
    """w = g · v / ‖v‖ (``parametrizations.weight_norm``): the norm of each slice (square and add
    per element of v), a divide per slice, a multiply per element: 3·v.numel + g.numel."""
    v, g = call.inputs[:2]
    return Cost(flops=3 * v.numel() + g.numel())

"""Normalisation layers.

Batch norm is 4 FLOPs per element (subtract mean, divide by std, scale, shift), in eval and
training alike. Layer, group and instance norm compute their statistics: 5 per element (sum for
the mean, subtract, square, sum for the variance, normalise) plus 2 with an affine scale/shift.
RMS norm: 3 per element (square, sum, normalise) plus 1 with a weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..core.cost import Cost
from .registry import OpCall, register_rule
from ._common import attrs, like_input


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


@register_rule(_BatchNorm, nn.SyncBatchNorm, F.batch_norm, torch.batch_norm, shape=_batch_norm_shape)
def batch_norm(call: OpCall) -> Cost:
    """4 * numel (subtract the mean, divide by the std, scale, shift)."""
    return Cost(flops=4 * call.x.numel())


def _stat_norm(call: OpCall, affine: bool) -> Cost:
    return Cost(flops=(5 + (2 if affine else 0)) * call.x.numel())


def _layer_norm_shape(call: OpCall) -> torch.Tensor | None:
    """Like the input, once the normalized shape matches its trailing dims and the weight's."""
    x, shape = call.x, call.arg("normalized_shape")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not shape or len(shape) > x.dim() or tuple(x.shape[x.dim() - len(shape):]) != shape:
        return None
    if any(t is not None and (not isinstance(t, torch.Tensor) or tuple(t.shape) != shape)
           for t in (call.arg("weight"), call.arg("bias"))):
        return None
    return like_input(call)


@register_rule(nn.LayerNorm, F.layer_norm, torch.layer_norm, shape=_layer_norm_shape)
def layer_norm(call: OpCall) -> Cost:
    """5 * numel, + 2 * numel with elementwise affine."""
    return _stat_norm(call, call.arg("weight") is not None)


@register_rule(nn.GroupNorm, F.group_norm, torch.group_norm)
def group_norm(call: OpCall) -> Cost:
    """5 * numel, + 2 * numel with affine."""
    return _stat_norm(call, call.arg("weight") is not None)


@register_rule(_InstanceNorm, F.instance_norm, torch.instance_norm)
def instance_norm(call: OpCall) -> Cost:
    """5 * numel, + 2 * numel with affine."""
    return _stat_norm(call, call.arg("weight") is not None)


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

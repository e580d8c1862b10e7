"""Losses: what a training step adds after the model's last layer.

Classification losses take the class dim 1 (0 for a 1-D input): ``rows`` is the number of
predictions (input elements / classes). Cross entropy is log-softmax over the classes plus the
negative log-likelihood, so its aten form (``_log_softmax`` then ``nll_loss_forward``) costs
the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cost import Cost
from ..registry import OpCall, register_rule
from ._common import attrs

aten = torch.ops.aten


def _rows(call: OpCall) -> tuple[int, int]:
    """(elements, rows) of a classification input: classes along dim 1 (0 when 1-D)."""
    x = call.x
    classes = x.shape[1] if x.dim() > 1 else x.shape[0]
    return x.numel(), x.numel() // classes if classes else 0


@register_rule(nn.NLLLoss, F.nll_loss, *attrs(aten, "nll_loss2d_forward"))
def nll_loss(call: OpCall) -> Cost:
    """Per prediction: pick the target's log-probability and add it to the reduction
    (``reduction="none"``: negate it): ``rows``; a class ``weight`` multiplies: + ``rows``."""
    _, rows = _rows(call)
    return Cost(flops=rows * (2 if call.arg("weight") is not None else 1))


@register_rule(nn.CrossEntropyLoss, F.cross_entropy)
def cross_entropy(call: OpCall) -> Cost:
    """log_softmax (3 per element: exp, add, subtract; a log per row) + nll_loss (``rows``);
    with ``label_smoothing`` the smoothed term sums every log-probability and blends the two:
    + elements + 2 * rows. Class-probability targets (same shape as the input): a multiply and
    an add per element instead of the pick."""
    elements, rows = _rows(call)
    target = call.arg("target")
    if isinstance(target, torch.Tensor) and target.shape == call.x.shape and target.is_floating_point():
        return Cost(flops=3 * elements + 2 * elements)
    flops = 3 * elements + nll_loss(call).flops
    if call.arg("label_smoothing", 0.0):
        flops += elements + 2 * rows
    return Cost(flops=flops)


@register_rule(*attrs(aten, "nll_loss_backward", "nll_loss2d_backward"))
def nll_loss_backward(call: OpCall) -> Cost:
    """grad_input is zero but at each prediction's target: one value (times the grad, divided
    by the count for ``mean``) per prediction: 2 per row."""
    grad_input_like = call.arg("self")
    classes = grad_input_like.shape[1] if grad_input_like.dim() > 1 else grad_input_like.shape[0]
    return Cost(flops=2 * (grad_input_like.numel() // classes if classes else 0))


@register_rule(nn.MSELoss, F.mse_loss, nn.L1Loss, F.l1_loss)
def elementwise_loss(call: OpCall) -> Cost:
    """subtract, square (or abs), add to the reduction: 3 per element."""
    return Cost(flops=3 * call.x.numel())


@register_rule(nn.SmoothL1Loss, F.smooth_l1_loss, nn.HuberLoss, F.huber_loss)
def smooth_l1_loss(call: OpCall) -> Cost:
    """subtract, abs, compare, square-or-linear branch (2), add: 6 per element."""
    return Cost(flops=6 * call.x.numel())


@register_rule(nn.BCELoss, F.binary_cross_entropy, nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits)
def binary_cross_entropy(call: OpCall) -> Cost:
    """y·log p + (1−y)·log(1−p), summed: two logs, a subtract, two multiplies, an add and the
    reduction's add: 7 per element (with logits, the log-sigmoid's exp and add: + 2)."""
    logits = call.target in (F.binary_cross_entropy_with_logits,) or isinstance(call.module, nn.BCEWithLogitsLoss)
    return Cost(flops=(9 if logits else 7) * call.x.numel())


@register_rule(nn.KLDivLoss, F.kl_div)
def kl_div(call: OpCall) -> Cost:
    """target · (log target − input), summed: a log, a subtract, a multiply, an add: 4 per element."""
    return Cost(flops=4 * call.x.numel())

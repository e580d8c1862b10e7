"""fxcost/rules/loss.py: losses per element or per prediction (``rows``: elements / classes)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import cost

LOGITS = torch.randn(4, 5)  # 4 predictions of 5 classes: 20 elements
TARGET = torch.tensor([0, 3, 1, 4])


def test_nll_loss_and_class_weights():
    logp = F.log_softmax(LOGITS, -1)
    assert cost(nn.NLLLoss(), logp, TARGET).flops == 4
    assert cost(lambda a, t: F.nll_loss(a, t, weight=torch.ones(5)), logp, TARGET, real=True).flops == 8


def test_cross_entropy_forms():
    # log_softmax 3 per element + the pick per row
    assert cost(nn.CrossEntropyLoss(), LOGITS, TARGET).flops == 3 * 20 + 4
    assert cost(F.cross_entropy, LOGITS, TARGET).flops == 64
    # label smoothing: + a sum of every log-probability, + a blend per row (2)
    assert cost(nn.CrossEntropyLoss(label_smoothing=0.1), LOGITS, TARGET).flops == 64 + 20 + 8
    # class-probability targets: a multiply and an add per element instead of the pick
    assert cost(F.cross_entropy, LOGITS, torch.rand(4, 5)).flops == 5 * 20


@pytest.mark.parametrize("module,fn,k", [
    (nn.MSELoss(), F.mse_loss, 3), (nn.L1Loss(), F.l1_loss, 3), (nn.SmoothL1Loss(), F.smooth_l1_loss, 6),
    (nn.HuberLoss(), F.huber_loss, 6), (nn.BCELoss(), F.binary_cross_entropy, 7),
    (nn.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits, 9), (nn.KLDivLoss(reduction="batchmean"),
                                                                      F.kl_div, 4),
])
def test_elementwise_losses(module, fn, k):
    p, y = torch.rand(4, 5), torch.rand(4, 5)
    assert cost(module, p, y).flops == k * 20
    assert cost(fn, p, y).flops == k * 20


def test_nll_loss_backward():
    # the gradient is nonzero at each prediction's target only: 2 per row
    bwd = torch.ops.aten.nll_loss_backward.default
    f = lambda g, a, t: bwd(g, a, t, None, 1, -100, torch.tensor(4.0))  # noqa: E731
    assert cost(f, torch.tensor(1.0), LOGITS, TARGET, real=True).flops == 8

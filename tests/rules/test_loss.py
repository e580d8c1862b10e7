"""fxcost/rules/loss.py: losses per element or per prediction (``rows``: elements / classes)."""

import pytest
import torch
import torch.nn.functional as F
from helpers import cost
from torch import nn

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


@pytest.mark.parametrize(
    "module,fn,k",
    [
        (nn.MSELoss(), F.mse_loss, 3),
        (nn.L1Loss(), F.l1_loss, 3),
        (nn.SmoothL1Loss(), F.smooth_l1_loss, 6),
        (nn.HuberLoss(), F.huber_loss, 6),
        (nn.BCELoss(), F.binary_cross_entropy, 7),
        (nn.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits, 9),
        (nn.KLDivLoss(reduction="batchmean"), F.kl_div, 4),
    ],
)
def test_elementwise_losses(module, fn, k):
    p, y = torch.rand(4, 5), torch.rand(4, 5)
    assert cost(module, p, y).flops == k * 20
    assert cost(fn, p, y).flops == k * 20


def test_nll_loss_backward():
    # the gradient is nonzero at each prediction's target only: 2 per row
    bwd = torch.ops.aten.nll_loss_backward.default
    f = lambda g, a, t: bwd(g, a, t, None, 1, -100, torch.tensor(4.0))  # noqa: E731
    assert cost(f, torch.tensor(1.0), LOGITS, TARGET, real=True).flops == 8


# -- the remaining losses and distances -----------------------------------------------------------
def test_margin_and_soft_margin_losses():
    x, y = torch.randn(4, 5), torch.randn(4, 5).sign()
    assert cost(F.soft_margin_loss, x, y).flops == 5 * 20
    assert cost(F.multilabel_soft_margin_loss, x, (y > 0).float()).flops == 10 * 20
    assert cost(F.hinge_embedding_loss, x, y).flops == 5 * 20
    assert cost(F.margin_ranking_loss, torch.randn(6), torch.randn(6), torch.randn(6).sign()).flops == 30
    # multi_margin: 4 rows of 5 classes: 4 per element + a divide per row
    assert cost(F.multi_margin_loss, x, torch.tensor([0, 1, 2, 3])).flops == 4 * 20 + 4
    assert cost(F.poisson_nll_loss, x, x.abs()).flops == 4 * 20
    assert cost(F.gaussian_nll_loss, x, x, x.abs() + 1, real=True).flops == 8 * 20  # it checks var's values


def test_distances():
    # p=2 is a dot product of the difference with itself: per pair 8 subtracts, 8 MACs (15
    # FLOPs) and a root: 24. pairwise over 8 features, 5 rows
    c = cost(F.pairwise_distance, torch.randn(5, 8), torch.randn(5, 8))
    assert (c.flops, c.macs) == (5 * 24, 5 * 8)
    # cdist (3, 8) x (4, 8): 12 pairs, 96 MACs (torch runs it as a matmul above 25 rows: the
    # same dot products); p=1 (subtract, abs, add per feature) has no root and no MACs
    c = cost(torch.cdist, torch.randn(3, 8), torch.randn(4, 8))
    assert (c.flops, c.macs) == (12 * 24, 12 * 8)
    c = cost(torch.cdist, torch.randn(2, 30, 8), torch.randn(2, 40, 8))  # the mm path: 2400 pairs
    assert (c.flops, c.macs) == (2400 * 24, 2400 * 8)
    c = cost(lambda a, b: torch.cdist(a, b, p=1.0), torch.randn(3, 8), torch.randn(4, 8))
    assert (c.flops, c.macs) == (12 * 24, 0)
    assert cost(lambda a, b: torch.cdist(a, b, p=3.0), torch.randn(3, 8), torch.randn(4, 8)).flops == 12 * 25
    c = cost(F.pdist, torch.randn(4, 8))  # 4*3/2 pairs
    assert (c.flops, c.macs) == (6 * 24, 6 * 8)
    # cosine similarity of 5 rows of 8: three dot products of 8 per row (MACs 120, FLOPs 3*5*15)
    # and 5 more per row (two roots, a multiply, a max, a divide)
    c = cost(F.cosine_similarity, torch.randn(5, 8), torch.randn(5, 8))
    assert (c.flops, c.macs) == (225 + 25, 120)
    # triplet: two distances per row + 4
    t = torch.randn(5, 8)
    assert cost(F.triplet_margin_loss, t, t, t).flops == 2 * 5 * 24 + 20


def test_ctc_loss():
    # T=10, N=2, S=3: 9 * 10 * 7 * 2
    log_probs = torch.randn(10, 2, 6).log_softmax(2)
    targets = torch.randint(1, 6, (2, 3))
    c = cost(lambda lp, t: F.ctc_loss(lp, t, [10, 10], [3, 3]), log_probs, targets)
    assert c.flops == 9 * 10 * 7 * 2


def test_linear_cross_entropy_is_the_projection_and_the_loss():
    # 4 rows of 3 features into 5 classes: 20 dot products of 3 (MACs 60, FLOPs 100),
    # log-softmax 3 per logit (60) and the pick per row (4)
    c = cost(
        lambda x, w, t: F.linear_cross_entropy(x, w, t), torch.randn(4, 3), torch.randn(5, 3), torch.randint(0, 5, (4,))
    )
    assert (c.flops, c.macs) == (100 + 60 + 4, 60)

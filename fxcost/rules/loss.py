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

from ..core.cost import Cost
from ._common import attrs
from .registry import OpCall, register_rule

aten = torch.ops.aten


def _rows(call: OpCall) -> tuple[int, int]:
    """(elements, rows) of a classification input: classes along dim 1 (0 when 1-D)."""
    x = call.x
    if x.dim() == 0:
        return 1, 1
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


@register_rule(nn.SoftMarginLoss, F.soft_margin_loss)
def soft_margin_loss(call: OpCall) -> Cost:
    """log(1 + exp(−y·x)), summed: a multiply, an exp, an add, a log and the reduction's add:
    5 per element."""
    return Cost(flops=5 * call.x.numel())


@register_rule(nn.MultiLabelSoftMarginLoss, F.multilabel_soft_margin_loss)
def multilabel_soft_margin_loss(call: OpCall) -> Cost:
    """y·log σ(x) + (1−y)·log σ(−x), averaged over classes: two log-sigmoids (3 each), two
    multiplies, a subtract and an add: 10 per element."""
    return Cost(flops=10 * call.x.numel())


@register_rule(nn.PoissonNLLLoss, F.poisson_nll_loss)
def poisson_nll_loss(call: OpCall) -> Cost:
    """exp(x) − y·x (log input) or x − y·log(x + eps): 3 per element, plus the reduction's add
    (+ the Stirling term's 6 with ``full``)."""
    return Cost(flops=(4 + (6 if call.arg("full", False) else 0)) * call.x.numel())


@register_rule(nn.GaussianNLLLoss, F.gaussian_nll_loss)
def gaussian_nll_loss(call: OpCall) -> Cost:
    """½(log var + (x − y)²/var), summed: a clamp, a log, a subtract, a square, a divide, an add,
    a halving and the reduction's add: 8 per element (+ the constant's add with ``full``)."""
    return Cost(flops=(9 if call.arg("full", False) else 8) * call.x.numel())


@register_rule(nn.HingeEmbeddingLoss, F.hinge_embedding_loss, nn.MarginRankingLoss, F.margin_ranking_loss)
def margin_loss(call: OpCall) -> Cost:
    """max(0, margin − y·(x1 − x2)) or the hinge's select: a subtract, a multiply, a subtract,
    a max and the reduction's add: 5 per element."""
    return Cost(flops=5 * call.x.numel())


@register_rule(nn.MultiMarginLoss, F.multi_margin_loss, nn.MultiLabelMarginLoss, F.multilabel_margin_loss)
def multi_margin_loss(call: OpCall) -> Cost:
    """Σ_i max(0, margin − x[y] + x[i]) / C per prediction: a subtract, an add, a max and an add
    per element (a power with p = 2: + 1), and a divide per row."""
    elements, rows = _rows(call)
    per = 4 + (1 if call.arg("p", 1) == 2 else 0) + (1 if call.arg("weight") is not None else 0)
    return Cost(flops=per * elements + rows)


def distance(call: OpCall, pairs: int, features: int, p: float = 2.0) -> Cost:
    """``pairs`` p-norm distances over ``features``. p = 2 is a dot product of the difference with
    itself (torch computes cdist's with a matmul on large inputs): a subtract per feature, the
    dot product's ``pairs·features`` MACs and a root per pair, 3·features FLOPs. Other p: a
    subtract, a power (abs for p = 1) and an add per feature, a root per pair (none for p = 1)."""
    if p in (2, 2.0):
        return call.dots(pairs * features, pairs) + Cost(flops=pairs * features + pairs)
    return Cost(flops=pairs * (3 * features + (0 if p in (1, 1.0) else 1)))


@register_rule(nn.PairwiseDistance, F.pairwise_distance, torch.pairwise_distance)
def pairwise_distance(call: OpCall) -> Cost:
    """A p-norm distance per row (see ``distance``: p = 2 is a dot product, 3·features)."""
    x = call.x
    return distance(call, call.y.numel(), x.shape[-1] if x.dim() else 1, call.arg("p", 2.0))


@register_rule(torch.cdist, torch.functional.cdist, "cdist", F.pdist, torch.pdist)
def cdist(call: OpCall) -> Cost:
    """A p-norm distance for every output pair (pdist: every pair of rows; see ``distance``):
    p = 2 is features MACs per pair (torch computes it with a matmul on large inputs)."""
    x = call.x
    return distance(call, call.y.numel(), x.shape[-1], call.arg("p", 2.0))


@register_rule(nn.CosineSimilarity, F.cosine_similarity, torch.cosine_similarity)
def cosine_similarity(call: OpCall) -> Cost:
    """x·y, |x|² and |y|² (three dot products over the features), then two roots, a multiply,
    a max with eps and a divide per output."""
    x, out = call.x, call.y.numel()
    dim = call.arg("dim", 1)
    n = max(t.shape[dim] for t in call.inputs[:2]) if x.dim() else 1
    return call.dots(3 * out * n, 3 * out) + Cost(flops=5 * out)


@register_rule(nn.CosineEmbeddingLoss, F.cosine_embedding_loss)
def cosine_embedding_loss(call: OpCall) -> Cost:
    """A cosine similarity per row, then 1 − cos or max(0, cos − margin) and the reduction's
    add: 3 more per row."""
    x = call.x
    rows = x.numel() // x.shape[-1] if x.dim() > 1 else 1
    n = x.shape[-1]
    return call.dots(3 * rows * n, 3 * rows) + Cost(flops=8 * rows)


@register_rule(
    nn.TripletMarginLoss, F.triplet_margin_loss, nn.TripletMarginWithDistanceLoss, F.triplet_margin_with_distance_loss
)
def triplet_margin_loss(call: OpCall) -> Cost:
    """Two p-norm distances per row (anchor–positive, anchor–negative; a third with ``swap``),
    then a subtract, an add, a max and the reduction's add. ``triplet_margin_with_distance_loss``
    takes the default pairwise p = 2: a custom ``distance_function``'s own ops are not seen."""
    x = call.x
    rows = x.numel() // x.shape[-1] if x.dim() > 1 else 1
    distances = 3 if call.arg("swap", False) else 2
    return distance(call, distances * rows, x.shape[-1], call.arg("p", 2.0)) + Cost(flops=4 * rows)


@register_rule(nn.CTCLoss, F.ctc_loss)
def ctc_loss(call: OpCall) -> Cost:
    """The forward (alpha) recursion: for each of T steps and each of the 2S + 1 extended
    labels, a log-sum-exp of up to three terms (≈ 8 FLOPs) and the emission's add, per batch
    item: 9·T·(2S + 1)·N."""
    log_probs, targets = call.arg("log_probs"), call.arg("targets")
    T = log_probs.shape[0]
    N = log_probs.shape[1] if log_probs.dim() == 3 else 1
    S = targets.shape[-1] if targets.dim() == 2 else targets.numel() // max(N, 1)
    return Cost(flops=9 * T * (2 * S + 1) * N)


@register_rule(
    *attrs(F, "linear_cross_entropy"),
    "torch_nn::_linear_cross_entropy_batch_chunked",
    "torch_nn::_linear_cross_entropy_batch_chunked_no_reduction",
)
def linear_cross_entropy(call: OpCall) -> Cost:
    """The projection (``linear``: rows·V dot products of the hidden size, + a bias add) and the
    cross entropy over the V logits (log-softmax 3 per logit, the pick per row), chunked or not."""
    x, w = call.x, call.arg("linear_weight")
    rows = x.numel() // x.shape[-1] if x.dim() else 1
    logits = rows * (w.numel() // w.shape[-1])  # the classes: every dim of the weight but the last
    cost = call.dots(logits * w.shape[-1], logits)
    bias = Cost(flops=logits if call.arg("linear_bias") is not None else 0)
    return cost + bias + Cost(flops=3 * logits + rows * (2 if call.arg("weight") is not None else 1))

"""fxcost/rules/reduce.py: reductions (1 per input element), var/std 4, norm/logsumexp 2,
sorts n*ceil(log2 n) per row, histograms."""

import torch
from helpers import cost


def test_sum_like_reductions():
    x = torch.randn(4, 5)
    assert cost(lambda a: a.sum(-1), x).flops == 20
    assert cost(lambda a: a.mean(), x).flops == 20
    assert cost(lambda a: torch.cumsum(a, dim=1), x).flops == 20
    assert cost(lambda a: a.prod(0), x).flops == 20


def test_max_reductions_and_max_of_two():
    x = torch.randn(4, 8)
    assert cost(lambda a: a.amax(-1), x).flops == 32
    assert cost(lambda a: a.argmax(), x).flops == 32
    assert cost(lambda a: a.max(), x).flops == 32 and cost(lambda a, b: torch.max(a, b), x, x).flops == 32
    assert cost(lambda a: a.max(dim=1).values, x).flops == 32


def test_var_std_norm_logsumexp():
    x = torch.randn(4, 5)
    assert cost(lambda a: a.var(-1), x).flops == 80
    assert cost(lambda a: torch.std(a, dim=0), x).flops == 80
    assert cost(lambda a: a.norm(), x).flops == 40
    assert cost(lambda a: torch.logsumexp(a, dim=1), x).flops == 40
    assert cost(lambda a: torch.linalg.vector_norm(a), x).flops == 40


def test_sort_and_topk_along_their_dim():
    x = torch.randn(4, 8)  # 4 rows of 8: 8 * ceil(log2 8) = 24 compares per row
    assert cost(lambda a: a.sort(-1)[0], x).flops == 4 * 24
    assert cost(lambda a: torch.topk(a, 3)[0], x).flops == 4 * 24
    # along dim 0 (by keyword and by position): 8 columns of 4, 4 * 2 compares each
    assert cost(lambda a: torch.topk(a, 3, dim=0)[0], x).flops == 8 * 8
    assert cost(lambda a: torch.topk(a, 3, 0)[0], x).flops == 8 * 8
    assert cost(lambda a: a.argsort(0), x).flops == 8 * 8


def test_histc_bins_each_input():
    # bin index (subtract, scale, floor) and an increment: 4 per input element
    assert cost(lambda a: torch.histc(a, bins=4), torch.rand(10)).flops == 40


def test_scatter_and_index_reductions_count_a_combine_per_source_element():
    x, src = torch.zeros(5, 4), torch.randn(3, 4)
    idx = torch.tensor([[0, 1, 2, 3], [4, 0, 1, 2], [3, 4, 0, 1]])
    assert cost(lambda a, s, i: a.scatter_add(0, i, s), x, src, idx).flops == 12
    assert cost(lambda a, s, i: a.scatter_reduce(0, i, s, "amax"), x, src, idx).flops == 12
    # mean divides each of the 20 outputs once more
    assert cost(lambda a, s, i: a.scatter_reduce(0, i, s, "mean"), x, src, idx).flops == 12 + 20
    rows = torch.tensor([0, 2, 4])
    assert cost(lambda a, s, i: a.index_add(0, i, s), x, src, rows).flops == 12
    assert cost(lambda a, s, i: a.index_reduce(0, i, s, "prod"), x, src, rows).flops == 12
    assert cost(lambda a, s, i: a.index_put((i,), s, accumulate=True), x, src, rows).flops == 12
    assert cost(lambda a, s, i: a.index_put((i,), s), x, src, rows).flops == 0  # a copy


def test_quantile_sorts_then_interpolates():
    # 16 elements: 16 * 4 compares, 3 per quantile (2 quantiles)
    assert cost(lambda a: torch.quantile(a, torch.tensor([0.25, 0.75])), torch.randn(16)).flops == 64 + 6

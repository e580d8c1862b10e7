"""fxcost/rules/shape.py: ops that do no arithmetic (views, copies, indexing, creation, dropout,
checks) are known at zero FLOPs; views and inference dropout move no bytes, copies do."""

import pytest
import torch
import torch.nn.functional as F
from helpers import cost
from torch import nn

X = torch.randn(2, 3, 4)  # 24 elements


@pytest.mark.parametrize(
    "f",
    [
        lambda a: a.view(-1),
        lambda a: a.reshape(4, 6),
        lambda a: a.permute(2, 0, 1),
        lambda a: a.transpose(0, 1),
        lambda a: a[0],
        lambda a: torch.cat([a, a]),
        lambda a: a.flatten(1),
        nn.Dropout(0.5).eval(),
        lambda a: F.dropout(a, 0.1, training=False),
        nn.Identity(),
        lambda a: a.contiguous(),
        lambda a: a.unsqueeze(0).squeeze(0),
        lambda a: torch.zeros_like(a),
        lambda a: torch._assert(a.dim() == 3, "rank") or a,
    ],
)
def test_zero_cost_ops_are_known(f):
    c = cost(f, X)  # strict=True: raises if any op were unknown
    assert (c.flops, c.macs) == (0, 0)


def test_created_tensors_cost_nothing_but_their_use():
    assert cost(lambda a: a + torch.ones(4), X).flops == 24


def test_views_move_no_bytes_but_copies_do():
    assert cost(lambda a: a.view(-1), X).bytes == 0
    assert cost(lambda a: torch.cat([a, a]), X).bytes == 24 * 4 + 48 * 4
    assert cost(nn.Dropout(0.5).eval(), X).bytes == 0


def test_embedding_is_a_lookup():
    c = cost(nn.Embedding(10, 4), torch.tensor([[1, 2, 3]]))
    assert (c.flops, c.macs) == (0, 0)
    assert c.bytes_written == 12 * 4


def test_torchvision_stochastic_depth_is_inference_dropout():
    tv = pytest.importorskip("torchvision")
    assert cost(tv.ops.StochasticDepth(0.2, "row").eval(), X).flops == 0

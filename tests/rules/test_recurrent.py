"""fxcost/rules/recurrent.py: LSTM (4 gates), GRU (3), RNN (1): per step and direction,
gates x hidden x (input + hidden) MACs; also the aten forms a training step records."""

import torch
from helpers import cost
from torch import nn

import fxcost


def test_lstm_gru_rnn():
    # LSTM in 8, hidden 16, seq 5, batch 2: 10 steps x 4 gates x 16 x (8 + 16) MACs
    x = torch.randn(5, 2, 8)
    assert cost(nn.LSTM(8, 16), x).macs == 10 * 4 * 16 * 24
    assert cost(nn.GRU(8, 16, batch_first=True), x).macs == 10 * 3 * 16 * 24
    assert cost(nn.RNN(8, 16), x).macs == 10 * 16 * 24
    # two bidirectional layers: the second reads both directions' outputs (32)
    assert cost(nn.LSTM(8, 16, num_layers=2, bidirectional=True), x).macs == 2 * 10 * 4 * 16 * (24 + 48)
    # projections: h is 4 wide, plus a 16 -> 4 projection per step
    assert cost(nn.LSTM(8, 16, proj_size=4), x).macs == 10 * (4 * 16 * 12 + 16 * 4)


def test_aten_lstm_of_an_exported_program():
    """torch.export keeps aten.lstm: it costs what the module's rule gives."""
    x = torch.randn(5, 2, 8)
    r = fxcost.profile(torch.export.export(nn.LSTM(8, 16), (x,)), (x,), strict=True)
    assert [n.op for n in r.nodes if n.cost.macs] == ["recurrent_aten"]
    assert r.total.macs == 10 * 4 * 16 * 24


def test_lstm_training_step_on_cpu():
    """On the CPU autograd runs the LSTM cell by cell (addmm per gate block and step; the
    gates' split is a view): the forward has the same MACs, nothing unsupported."""
    r = fxcost.profile(nn.LSTM(8, 16), (torch.randn(5, 2, 8),), backward=True, strict=True)
    assert r.by_phase()["forward"].macs == 10 * 4 * 16 * 24


def test_cells_one_step_of_one_layer():
    # LSTMCell(4, 8), batch 3: 3 x 32 gate rows of (4 + 8): MACs 1152, FLOPs 96 x 23 + 2 x 96 bias
    # adds + 26 x 8 x 3 gate nonlinearities
    c = cost(nn.LSTMCell(4, 8), torch.randn(3, 4))
    assert (c.flops, c.macs) == (96 * 23 + 192 + 624, 1152)
    g = nn.GRUCell(4, 8, bias=False)
    c = cost(g, torch.randn(3, 4))
    assert (c.flops, c.macs) == (72 * 23 + 18 * 24, 72 * 12)
    c = cost(
        lambda x, h: torch.rnn_tanh_cell(x, h, torch.randn(8, 4), torch.randn(8, 8)),
        torch.randn(3, 4),
        torch.randn(3, 8),
        real=True,
    )
    assert (c.flops, c.macs) == (24 * 23 + 5 * 24, 24 * 12)

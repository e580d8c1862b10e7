"""Recurrent layers: RNN, LSTM, GRU (stacked, bidirectional, LSTM projections).

Per time step, layer and direction the gates are W_ih x + W_hh h: G * H * (in + h) MACs with
G = 4 (LSTM), 3 (GRU), 1 (RNN), plus H * P for an LSTM projection. Gate nonlinearities use the
activation table: LSTM 3 sigmoids + 2 tanh + 4 elementwise per unit (26 H), GRU 2 sigmoids + 1
tanh + 5 elementwise (18 H), RNN one tanh (5 H) or relu (1 H); bias adds 2 G H.
"""

from __future__ import annotations

from torch import nn

from ..cost import Cost
from ..registry import OpCall, register_rule

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_ELEMENTWISE = {"LSTM": 26, "GRU": 18, "RNN_TANH": 5, "RNN_RELU": 1}


@register_rule(nn.RNNBase)
def recurrent(call: OpCall) -> Cost:
    """Sum over layers and directions of steps x (gates MACs + elementwise)."""
    m = call.module
    x = call.x
    steps = x.shape[0] * x.shape[1] if x.dim() == 3 else x.shape[0]  # batch x seq, or seq
    G, H = _GATES[m.mode], m.hidden_size
    P = getattr(m, "proj_size", 0) or 0
    out_h = P or H
    dirs = 2 if m.bidirectional else 1
    cost = Cost()
    for layer in range(m.num_layers):
        inp = m.input_size if layer == 0 else out_h * dirs
        for _ in range(dirs):
            gates = call.dots(steps * G * H * (inp + out_h), steps * G * H)
            proj = call.dots(steps * P * H, steps * P) if P else Cost()
            bias = 2 * G * H * steps if m.bias else 0
            cost = cost + gates + proj + Cost(flops=_ELEMENTWISE[m.mode] * H * steps + bias)
    return cost

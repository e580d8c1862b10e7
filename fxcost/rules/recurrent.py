"""Recurrent layers: RNN, LSTM, GRU (stacked, bidirectional, LSTM projections).

Per time step, layer and direction the gates are W_ih x + W_hh h: G * H * (in + h) MACs with
G = 4 (LSTM), 3 (GRU), 1 (RNN), plus H * P for an LSTM projection. Gate nonlinearities use the
activation table: LSTM 3 sigmoids + 2 tanh + 4 elementwise per unit (26 H), GRU 2 sigmoids + 1
tanh + 5 elementwise (18 H), RNN one tanh (5 H) or relu (1 H); bias adds 2 G H.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.cost import Cost
from ._common import attrs
from .registry import OpCall, register_rule

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_ELEMENTWISE = {"LSTM": 26, "GRU": 18, "RNN_TANH": 5, "RNN_RELU": 1}


@register_rule(nn.RNNBase)
def recurrent(call: OpCall) -> Cost:
    """Per step, layer and direction: gates G·H·(in + h) MACs (G = 4 LSTM, 3 GRU, 1 RNN; + H·P
    for an LSTM projection), + 2·G·H bias adds, + the gates' nonlinearities: LSTM 26·H, GRU
    18·H, RNN tanh 5·H or relu H."""
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


_ATEN_MODES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}


@register_rule(*attrs(torch.ops.aten, *_ATEN_MODES))
def recurrent_aten(call: OpCall) -> Cost:
    """``aten.lstm``/``gru``/``rnn_*`` (export programs): as ``recurrent``, read from the flat
    weight list ``params``."""
    mode = _ATEN_MODES[call.target.overloadpacket.__name__]
    x, params = call.arg("input"), call.arg("params")
    steps = x.shape[0] * x.shape[1] if x.dim() == 3 else x.shape[0]
    weights = [w for w in params if w.dim() == 2]
    units = call.arg("num_layers") * (2 if call.arg("bidirectional") else 1)
    per_unit = len(weights) // units  # 2, or 3 with an LSTM projection
    hidden = weights[1].shape[0] // _GATES[mode]
    cost = Cost(flops=steps * sum(b.numel() for b in params if b.dim() == 1))  # bias adds
    for u in range(units):
        w_ih, w_hh, *proj = weights[u * per_unit : (u + 1) * per_unit]
        cost = cost + call.dots(steps * (w_ih.numel() + w_hh.numel()), steps * w_ih.shape[0])
        cost = cost + Cost(flops=_ELEMENTWISE[mode] * hidden * steps)
        for w in proj:
            cost = cost + call.dots(steps * w.numel(), steps * w.shape[0])
    return cost


_CELL_MODES = {"lstm_cell": "LSTM", "gru_cell": "GRU", "rnn_tanh_cell": "RNN_TANH", "rnn_relu_cell": "RNN_RELU"}


def _cell(call: OpCall, mode: str, w_ih: torch.Tensor, w_hh: torch.Tensor, biased: bool) -> Cost:
    x = call.x
    batch = x.shape[0] if x.dim() == 2 else 1
    H = w_hh.shape[-1]
    rows = batch * w_ih.shape[0]  # G·H gate pre-activations per batch item
    gates = call.dots(rows * (w_ih.shape[1] + H), rows)
    return gates + Cost(flops=(2 * rows if biased else 0) + _ELEMENTWISE[mode] * H * batch)


@register_rule(nn.RNNCellBase, *attrs(torch, *_CELL_MODES), *attrs(torch.ops.aten, *_CELL_MODES))
def recurrent_cell(call: OpCall) -> Cost:
    """One step of an LSTM/GRU/RNN cell (``nn.LSTMCell``, ``torch.lstm_cell``): as
    ``recurrent`` for one step of one layer: G·H·(in + H) MACs per batch item, the bias adds and
    the gates' nonlinearities."""
    m = call.module
    if m is not None:
        mode = {"LSTMCell": "LSTM", "GRUCell": "GRU"}.get(type(m).__name__) or (
            "RNN_RELU" if getattr(m, "nonlinearity", "tanh") == "relu" else "RNN_TANH"
        )
        return _cell(call, mode, m.weight_ih, m.weight_hh, m.bias)
    name = getattr(call.target, "__name__", str(call.target)).split(".")[0]
    return _cell(call, _CELL_MODES[name], call.arg("w_ih"), call.arg("w_hh"), call.arg("b_ih") is not None)

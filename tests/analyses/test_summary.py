"""fxcost/analyses/summary.py: torchinfo's summary call and layout, row by row against torchinfo
itself where torchinfo is right (layers, shapes, parameters), and fxcost's mult-adds where it is
not (functional work: a ViT's attention)."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import fxcost
from fxcost import summary
from fxcost.zoo.targets import import_torchvision

tv = import_torchvision()
torchinfo = pytest.importorskip("torchinfo")

COLUMNS = ("input_size", "output_size", "num_params", "kernel_size", "trainable")


def _cells(text: str) -> list[list[str]]:
    """The table's rows, cells split where two spaces or more part them."""
    lines = text.splitlines()
    rules = [i for i, ln in enumerate(lines) if ln and set(ln) == {"="}]
    return [re.split(r"\s{2,}", ln.strip()) for ln in lines[rules[1] + 1 : rules[2]]]


def _totals(text: str) -> dict[str, str]:
    return dict(ln.split(": ", 1) for ln in text.splitlines() if ": " in ln and not ln.startswith(("│", "├")))


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8 * 15 * 15, 10)
        self.stem.requires_grad_(False)
        self.stem[1].weight.requires_grad_(True)  # a partly trainable block

    def forward(self, x):
        return self.head(self.pool(self.stem(x)).flatten(1))


@pytest.mark.parametrize(
    "name, make, size",
    [
        ("resnet18", lambda: tv.models.resnet18(), (1, 3, 224, 224)),
        ("mobilenet_v3_small", lambda: tv.models.mobilenet_v3_small(), (2, 3, 96, 96)),
        ("frozen", Frozen, (1, 3, 32, 32)),
    ],
)
@pytest.mark.parametrize("depth", [1, 3])
def test_rows_and_parameters_are_torchinfo_s(name, make, size, depth):
    model = make().eval()
    ours = summary(model, input_size=size, depth=depth, col_names=COLUMNS, verbose=0)
    theirs = torchinfo.summary(model, input_size=size, depth=depth, col_names=COLUMNS, verbose=0)
    assert _cells(str(ours)) == _cells(str(theirs))
    t_ours, t_theirs = _totals(str(ours)), _totals(str(theirs))
    for key in ("Total params", "Trainable params", "Non-trainable params", "Input size (MB)"):
        assert t_ours[key] == t_theirs[key]
    assert ours.total_params == theirs.total_params and ours.trainable_params == theirs.trainable_params


def test_mult_adds_are_fxcost_s_and_sum_to_the_total():
    # torchinfo hooks modules: a ViT's attention (scaled_dot_product_attention inside
    # nn.MultiheadAttention's functional path) and the class token's work are missing from its count
    model = tv.models.vit_b_16().eval()
    x = torch.randn(1, 3, 224, 224)
    ours = summary(model, input_data=x, depth=2, col_names=("num_params", "mult_adds"), verbose=0)
    assert ours.total_mult_adds == fxcost.profile(model, (x,)).total.macs
    published = tv.models.ViT_B_16_Weights.IMAGENET1K_V1.meta["_ops"]  # torchvision's GFLOPS (in MACs)
    assert round(ours.total_mult_adds / 1e9, 3) == published
    theirs = torchinfo.summary(model, input_data=x, depth=2, verbose=0)
    assert theirs.total_mult_adds < 0.02 * ours.total_mult_adds  # 173 M
    column = [row[-1] for row in ours.rows]
    assert sum(int(c.replace(",", "")) for c in column if c != "--") == ours.total_mult_adds


def test_totals_block_and_its_memory():
    model = tv.models.resnet18()
    x = torch.zeros(4, 3, 64, 64)
    stats = summary(model, input_data=[x], verbose=0)
    step = fxcost.profile(model, (x,), backward=True, memory=True).memory
    params = sum(p.numel() * 4 for p in model.parameters())
    assert stats.params_bytes == params and stats.input_bytes == x.numel() * 4
    assert stats.forward_backward_bytes == step.peak_bytes - step.breakdown["params"] - step.breakdown["buffers"]
    text = str(stats)
    assert f"Total mult-adds (M): {fxcost.profile(model, (x,)).total.macs / 1e6:.2f}" in text  # 594.23
    assert f"Estimated Total Size (MB): {(stats.input_bytes + stats.forward_backward_bytes + params) / 1e6:.2f}" in text
    assert stats._repr_html_().startswith("<pre")


def test_a_drop_in_for_torchinfo_s_call(capsys):
    model = nn.Sequential(nn.Embedding(100, 16), nn.Linear(16, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = summary(model, input_size=(2, 7), dtypes=[torch.long], row_settings=("var_names",), device="cpu")
    printed = capsys.readouterr().out
    assert printed.strip() == str(stats).strip() and "├─Linear (1): 1-2" in printed
    assert stats.total_mult_adds == 2 * 7 * 16 * 4
    assert summary(model, input_size=(7,), batch_dim=0, dtypes=[torch.long], verbose=0).rows[-1][1] == "[1, 7, 4]"
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(fxcost.FxcostError, match="col_names from"):
        summary(model, input_size=(2, 7), dtypes=[torch.long], col_names=("flops",), verbose=0)
    with pytest.raises(fxcost.FxcostError, match="input_size or input_data"):
        summary(model)

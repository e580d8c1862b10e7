"""profile() end to end: published figures, analytic transformer counts, an independent counter,
unsupported ops, custom rules, reports, and the model left untouched."""

import pytest
import torch
from helpers import Fn, assert_same, flop_counter_macs, mystery, snapshot
from torch import nn

import fxcost

tvm = pytest.importorskip("torchvision.models")


def _published(name):
    w = list(tvm.get_model_weights(name))[0]
    return w.meta["_ops"], w.meta["num_params"]


@pytest.mark.parametrize("name,gmacs", [("resnet50", 4.089), ("vit_b_16", 17.564)])
def test_published_figures(name, gmacs):
    model = tvm.get_model(name).eval()
    report = fxcost.profile(model, (torch.randn(1, 3, 224, 224),))
    ops, params = _published(name)
    assert ops == gmacs
    assert round(report.total.macs / 1e9, 3) == gmacs
    assert report.params == params
    assert report.unsupported == []


def test_meta_model_and_counter_cross_check():
    """A model built on the meta device profiles; MACs equal FlopCounterMode's on meta tensors."""
    with torch.device("meta"):
        model = tvm.convnext_tiny().eval()
        x = torch.empty(1, 3, 224, 224)
    report = fxcost.profile(model, (x,))
    assert report.total.macs == flop_counter_macs(model, (x,))


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "swin_t", "efficientnet_b0"])
def test_flop_counter_agrees(name):
    with torch.device("meta"):
        model = tvm.get_model(name).eval()
        x = torch.empty(1, 3, 224, 224)
    assert fxcost.profile(model, (x,)).total.macs == flop_counter_macs(model, (x,))


# -- transformers 5.x: symbolic_trace fails, the recording capture counts ------------------
transformers = pytest.importorskip("transformers")
L = 128


def _analytic_block(d, L, ffn, kv=None):
    """MACs of one transformer block: q,o projections d*d; k,v d*kv; MLP; attention 2*L^2*d."""
    kv = d if kv is None else kv
    return L * (2 * d * d + 2 * d * kv + ffn) + 2 * L * L * d


def test_bert_base_analytic():
    model = transformers.BertModel(transformers.BertConfig()).eval()
    r = fxcost.profile(model, (), {"input_ids": torch.zeros(1, L, dtype=torch.long)})
    d = 768
    expected = 12 * _analytic_block(d, L, 2 * d * 4 * d) + d * d  # + pooler on one token
    assert r.total.macs == expected
    assert r.capture["method"] == "record" and r.capture["fallback_reason"] is None
    assert r.unsupported == []


def test_gpt2_analytic():
    model = transformers.GPT2Model(transformers.GPT2Config()).eval()
    r = fxcost.profile(model, (), {"input_ids": torch.zeros(1, L, dtype=torch.long)})
    d = 768
    assert r.total.macs == 12 * _analytic_block(d, L, 2 * d * 4 * d)
    assert r.unsupported == []


def test_small_llama_analytic_gqa():
    cfg = transformers.LlamaConfig(
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=2,
        vocab_size=1000,
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    r = fxcost.profile(model, (), {"input_ids": torch.zeros(1, L, dtype=torch.long)})
    d, kv = 256, 2 * (256 // 8)
    block = _analytic_block(d, L, 3 * d * 512, kv=kv)  # gate, up, down
    assert r.total.macs == 2 * block + L * d * 1000  # + lm_head
    # costs are attributed to modules although the graph was recorded
    rows = {m.path: m for m in r.by_module()}
    assert rows["model.layers.1.self_attn"].cost.macs == L * (2 * d * d + 2 * d * kv) + 2 * L * L * d


# -- unsupported ops, strict, custom rules ------------------------------------------------
def _mystery(x):
    return mystery(x)


def test_unsupported_is_listed_never_silent():
    r = fxcost.profile(Fn(_mystery), (torch.randn(3),))
    assert [u.target for u in r.unsupported] == ["fxcost_test::mystery"]
    with pytest.raises(fxcost.UnsupportedOpError, match="fxcost_test::mystery"):
        fxcost.profile(Fn(_mystery), (torch.randn(3),), strict=True)


# -- reports ----------------------------------------------------------------------------------
def test_by_module_nests_and_sums():
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    r = fxcost.profile(model, (torch.randn(1, 4),))
    rows = {m.path: m for m in r.by_module()}
    assert rows[""].cost == r.total
    assert rows["0"].cost.macs == 16 and rows["0.0"].cost.macs == 16 and rows["1"].cost.macs == 8
    assert rows["0"].params == 20 and rows[""].params == r.params == 30
    assert [m.path for m in r.by_module(depth=1)] == ["", "0", "1"]
    ops = {o.op: o for o in r.by_operator()}
    assert ops["linear"].count == 2 and ops["relu"].cost.flops == 4


def test_shared_parameters_counted_once():
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, lin)
    assert fxcost.profile(model, (torch.randn(1, 4),)).params == 20


# -- the model is left as it was ---------------------------------------------------------------
@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize("capture", ["symbolic_trace", "record"])
def test_model_unchanged(real, capture):
    model = tvm.resnet18().train()  # training mode: batch norm would update running stats
    model.layer1[0].conv1.weight.requires_grad_(False)
    model.fc.register_forward_hook(lambda *a: None)
    snap = snapshot(model)
    fxcost.profile(model, (torch.randn(2, 3, 32, 32),), real=real, capture=capture)
    assert_same(model, snap)
    assert torch.is_grad_enabled()


def test_model_unchanged_when_profile_fails():
    model = tvm.resnet18().eval()
    snap = snapshot(model)
    with pytest.raises(fxcost.FxcostError):
        fxcost.profile(model, (torch.randn(1, 5, 32, 32),))
    assert_same(model, snap)


# -- bad input -------------------------------------------------------------------------------
def test_not_a_module():
    with pytest.raises(fxcost.FxcostError, match="expected an nn.Module.*Fix"):
        fxcost.profile(lambda x: x, (torch.randn(1),))


def test_inputs_not_a_tuple():
    with pytest.raises(fxcost.FxcostError, match=r"tuple.*\(x,\)"):
        fxcost.profile(nn.ReLU(), torch.randn(1))


def test_wrong_input_shape_names_node_and_module():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 2))
    with pytest.raises(fxcost.FxcostError, match=r"module '1'.*Fix"):
        fxcost.profile(model, (torch.randn(1, 4),))


def test_data_dependent_control_flow_suggests_real_mode():
    class DataDependent(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(fxcost.FxcostError, match="real=True"):
        fxcost.profile(DataDependent(), (torch.randn(3),))
    assert fxcost.profile(DataDependent(), (torch.ones(3),), real=True).total.flops == 3 + 1 + 3  # sum, compare, mul


def test_bad_options():
    with pytest.raises(fxcost.FxcostError, match="flops"):
        fxcost.profile(nn.ReLU(), (torch.randn(1),), flops="3mac")


class _TensorAttributes(nn.Module):
    """Work on tensors that are plain attributes (not parameters or buffers) alone."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.randn(8, 8), torch.randn(8, 8)

    def forward(self, x):
        return x * 2, self.a @ self.b


def test_work_on_attributes_alone_is_counted_not_folded():
    """symbolic_trace would compute a @ b at trace time and keep a constant: the recording counts
    the 8x8 @ 8x8 (512 MACs), and symbolic_trace asked for by name refuses."""
    m = _TensorAttributes()
    r = fxcost.profile(m, (torch.randn(4, 8),))
    assert r.total.macs == 512 and r.capture["method"] == "record"
    assert not any(k.startswith("_tensor_constant") for k in vars(m))
    with pytest.raises(fxcost.CaptureError, match="fold"):
        fxcost.profile(m, (torch.randn(4, 8),), capture="symbolic_trace")

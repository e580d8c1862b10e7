"""Training steps (``backward=True``): checked against FlopCounterMode's own test suite, against
FlopCounterMode run for real on transformers families, and against analytic counts."""

import time

import pytest
import torch
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import fxcost
from small_gpt import SmallGPT


def _macs2(model, args, kwargs=None):
    """fxcost's training-step FLOPs at 2 per MAC (FlopCounterMode counts only dot products)."""
    return 2 * fxcost.profile(model, args, kwargs, backward=True).total.macs


# -- torch/test/test_flop_counter.py, inputs requiring grad --------------------------------------
class MmExpandBmm(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(5, 6), requires_grad=False)
        self.w2 = nn.Parameter(torch.randn(7, 6, 7), requires_grad=False)

    def forward(self, a):
        return torch.bmm(torch.mm(a, self.w1).unsqueeze(0).expand(7, 4, 6), self.w2)


def test_flop_counter_suite_backward():
    assert _macs2(MmExpandBmm(), (torch.randn(4, 5, requires_grad=True),)) == 5184


class _CustomOp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.mm(x, x)

    @staticmethod
    def backward(ctx, g):
        return torch.mm(g, g) + torch.mm(g, g)


class Custom(nn.Module):
    def forward(self, x):
        return _CustomOp.apply(x)


def test_flop_counter_suite_autograd_function():
    assert _macs2(Custom(), (torch.randn(5, 5, requires_grad=True),)) == 750


class Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


@pytest.mark.parametrize("s, forward, step", [(128, 134_217_728, 402_653_184), (256, 268_435_456, 805_306_368)])
def test_flop_counter_suite_sdpa_math(s, forward, step):
    q = torch.randn(4, 8, 128, 64, requires_grad=True)
    k, v = (torch.randn(4, 8, s, 64, requires_grad=True) for _ in range(2))
    r = fxcost.profile(Attention(), (q, k, v), backward=True)
    assert 2 * r.by_phase()["forward"].macs == forward
    assert 2 * r.total.macs == step  # the backward is 2x the forward: dQ, dK, dV, dP


def test_flop_counter_suite_resnet18_input_grad():
    tvm = pytest.importorskip("torchvision.models")
    model = tvm.resnet18()
    x = torch.randn(1, 3, 224, 224)
    assert _macs2(model, (x.requires_grad_(),)) == 10_884_440_064
    # without the input's gradient the first convolution's grad_input is not computed
    assert _macs2(model, (x.detach(),)) == 10_648_412_160


# -- gradients exactly as autograd computes them --------------------------------------------------
class TwoLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


def test_frozen_weights_and_input_grads():
    x = torch.randn(3, 8)
    fwd = 3 * 8 * 16 + 3 * 16 * 4
    model = TwoLinear()
    # full: each linear's dW; b's dX (a's output needs its grad); no dX for x
    assert fxcost.profile(model, (x,), backward=True).total.macs == fwd + fwd + 3 * 16 * 4
    model.a.requires_grad_(False)  # frozen first layer: its dW is gone, and nothing needs b's dX
    assert fxcost.profile(model, (x,), backward=True).total.macs == fwd + 3 * 16 * 4
    # the input requires grad: the whole chain of input gradients comes back
    assert fxcost.profile(model, (x.requires_grad_(),), backward=True).total.macs == fwd + 3 * 16 * 4 + fwd
    assert model.a.weight.requires_grad is False  # the flags the user set stay


def test_nothing_to_differentiate_is_a_clear_error():
    model = TwoLinear().requires_grad_(False)
    with pytest.raises(fxcost.FxcostError, match="nothing to differentiate"):
        fxcost.profile(model, (torch.randn(3, 8),), backward=True)


@pytest.mark.parametrize("reentrant", [True, False])
def test_activation_checkpointing_is_its_own_phase(reentrant):
    class Checkpointed(TwoLinear):
        def forward(self, x):
            return self.b(checkpoint.checkpoint(lambda t: torch.relu(self.a(t)), x, use_reentrant=reentrant))

    x = torch.randn(3, 8, requires_grad=True)
    r = fxcost.profile(Checkpointed(), (x,), backward=True)
    phases = r.by_phase()
    fwd = 3 * 8 * 16 + 3 * 16 * 4
    assert phases["forward"].macs == fwd and phases["backward"].macs == 2 * fwd
    assert phases["recompute"].macs == 3 * 8 * 16  # a runs again in the backward
    assert r.model_flops == phases["forward"] + phases["backward"]
    assert r.hardware_flops == r.model_flops + phases["recompute"]
    assert {n.module for n in r.nodes if n.phase == "recompute" and n.cost.macs} == {"a"}


def test_backward_ops_belong_to_the_forward_module():
    r = fxcost.profile(TwoLinear(), (torch.randn(3, 8),), backward=True)
    macs = {}
    for n in r.nodes:
        macs[(n.phase, n.module)] = macs.get((n.phase, n.module), 0) + n.cost.macs
    assert macs[("backward", "a")] == 3 * 8 * 16 and macs[("backward", "b")] == 2 * 3 * 16 * 4


def test_model_left_as_it_was():
    model = TwoLinear().train()
    model.b.weight.requires_grad_(False)
    model.a.weight.grad = g = torch.ones_like(model.a.weight)
    hooks = dict(model._forward_hooks)
    before = [p.detach().clone() for p in model.parameters()]
    fxcost.profile(model, (torch.randn(3, 8),), backward=True)
    assert model.a.weight.grad is g and model.a.bias.grad is None and model.b.weight.grad is None
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, True]
    assert model.training and dict(model._forward_hooks) == hooks
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_backward_with_real_is_refused():
    with pytest.raises(fxcost.FxcostError, match="real=True"):
        fxcost.profile(TwoLinear(), (torch.randn(3, 8),), backward=True, real=True)


@pytest.mark.parametrize("which", ["resnet18", "small_gpt"])
def test_matches_flop_counter_on_meta(which):
    if which == "resnet18":
        tvm = pytest.importorskip("torchvision.models")
        with torch.device("meta"):
            model = tvm.resnet18()
        x = torch.empty(2, 3, 64, 64, device="meta")
    else:
        with torch.device("meta"):
            model = SmallGPT()
        x = torch.zeros(2, 64, dtype=torch.long, device="meta")
    r = fxcost.profile(model, (x,), backward=True)
    assert all(p.grad is None for p in model.parameters())
    with FlopCounterMode(display=False) as fc:
        model(x).sum().backward()
    assert r.by_phase()["forward"].macs == fxcost.profile(model, (x,)).total.macs
    assert r.total.macs == fc.get_total_flops() // 2
    assert r.unsupported == [] and r.capture["method"] == "autograd"


def test_llama_7b_shaped_training_step_on_meta():
    # 32 layers of d=4096 at seq 2048 (tied embeddings here): nothing is allocated
    with torch.device("meta"):
        model = SmallGPT(vocab=32000, d=4096, heads=32, layers=32, ctx=2048)
    t = time.perf_counter()
    r = fxcost.profile(model, (torch.zeros(1, 2048, dtype=torch.long, device="meta"),), backward=True)
    fwd = r.by_phase()["forward"].macs
    d, L = 4096, 2048
    assert fwd == 32 * (12 * L * d * d + 2 * L * L * d) + L * d * 32000
    assert r.by_phase()["backward"].macs == 2 * fwd  # every weight and activation gradient
    assert time.perf_counter() - t < 60


# -- MFU -----------------------------------------------------------------------------------------
def test_mfu_and_hfu():
    r = fxcost.profile(TwoLinear(), (torch.randn(3, 8),), backward=True, flops="2mac")
    out = r.mfu(step_time_s=1e-3, peak=1e9)
    assert out["mfu"] == pytest.approx(r.model_flops.flops / 1e-3 / 1e9)
    assert out["hfu"] == out["mfu"]  # nothing recomputed
    peak = fxcost.Peak("toy", {"float32": 2e9}, 1e9)
    assert r.mfu(step_time_s=1e-3, peak=peak)["mfu"] == pytest.approx(out["mfu"] / 2)
    with pytest.raises(fxcost.FxcostError, match="step time"):
        r.mfu()


def test_measured_training_step_fills_mfu():
    model = TwoLinear().train()
    model.a.weight.grad = g = torch.zeros_like(model.a.weight)
    r = fxcost.profile(model, (torch.randn(32, 8),), backward=True, measure=True, iters=5, warmup=1,
                       peak=fxcost.Peak("cpu", {"float32": 1e11}, 1e10))
    assert r.timing["options"]["train"] is True and r.timing["median_ms"] > 0
    assert 0 < r.mfu()["mfu"] < 1
    assert model.a.weight.grad is g and torch.count_nonzero(g) == 0 and model.b.weight.grad is None
    cpu = fxcost.profile(model, (torch.randn(32, 8),), backward=True, measure=True, iters=2, warmup=0)
    with pytest.raises(fxcost.FxcostError, match="knows no peak for .*Fix: pass peak=") as e:
        cpu.mfu()  # a CPU timing: no GPU's peak is offered in its place
    assert "H100" not in str(e.value)


def test_bad_profile_keyword_names_the_closest():
    with pytest.raises(TypeError, match="'stirct'.*'strict'"):
        fxcost.profile(TwoLinear(), (torch.randn(3, 8),), stirct=True)
    with pytest.raises(TypeError, match="'mesure'.*'measure'"):
        fxcost.profile(TwoLinear(), (torch.randn(3, 8),), mesure=True)


def test_fused_attention_backward_recompute_is_hardware_flops():
    """FlopCounterMode's flash-attention case: forward 268,435,456 and forward + backward
    939,524,096 (3.5x: the kernel recomputes QKᵀ); model FLOPs stay at the math backend's 3x."""
    aten = torch.ops.aten
    B, H, L, S, E = 4, 8, 128, 256, 64
    q, out = torch.empty(B, H, L, E, device="meta"), torch.empty(B, H, L, E, device="meta")
    k, v = torch.empty(B, H, S, E, device="meta"), torch.empty(B, H, S, E, device="meta")
    lse, seed = torch.empty(B, H, L, device="meta"), torch.empty(2, dtype=torch.int64, device="meta")
    g = torch.fx.Graph()
    ph = {}
    for name, t in (("go", out), ("q", q), ("k", k), ("v", v), ("out", out), ("lse", lse), ("seed", seed)):
        ph[name] = g.placeholder(name)
        ph[name].meta["val"] = t
    fwd = g.call_function(aten._scaled_dot_product_flash_attention.default, (ph["q"], ph["k"], ph["v"], 0.0, True))
    fwd.meta["val"] = (out, lse, None, None, L, S, seed, seed, None)
    bwd = g.call_function(aten._scaled_dot_product_flash_attention_backward.default,
                          (ph["go"], ph["q"], ph["k"], ph["v"], ph["out"], ph["lse"], None, None, L, S, 0.0, True,
                           ph["seed"], ph["seed"]))
    bwd.meta["val"] = (q, k, v)
    g.output((fwd, bwd))
    r = fxcost.annotate(torch.fx.GraphModule(nn.Module(), g), flops="2mac")
    assert 2 * r.total.macs == 939_524_096
    assert 2 * r.model_flops.macs == 3 * 268_435_456  # forward + dQ, dK, dV, dP
    assert 2 * r.by_phase()["recompute"].macs == 268_435_456 // 2  # QKᵀ again


def test_cli_backward_and_diff(tmp_path, capsys):
    from fxcost.cli.main import main

    base, head = tmp_path / "base.json", tmp_path / "head.json"
    assert main(["profile", "torchvision:resnet18", "--input", "1x3x64x64", "--backward", "--format", "json",
                 "--out", str(base)]) == 0
    report = fxcost.Report.from_json(base.read_text())
    assert set(report.by_phase()) == {"forward", "backward"} and all(n.phase for n in report.nodes)
    assert report.options["backward"] is True
    assert main(["profile", "torchvision:resnet18", "--input", "1x3x64x64", "--backward"]) == 0
    assert "training step MACs: forward" in capsys.readouterr().out
    assert main(["profile", "torchvision:resnet18", "--input", "2x3x64x64", "--backward", "--format", "json",
                 "--out", str(head)]) == 0
    assert main(["diff", str(base), str(head), "--fail-above", "50"]) == 1  # twice the batch: +100 %


@pytest.mark.parametrize("which", ["bert", "timm_resnet18"])
def test_encoder_and_timm_steps_equal_flop_counter_for_real(which):
    if which == "bert":
        T = pytest.importorskip("transformers")
        cfg = T.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                           vocab_size=128)
        cfg._attn_implementation = "eager"  # plain matmuls, which FlopCounterMode counts on CPU
        model = T.BertForMaskedLM(cfg).train()
        ids = torch.randint(0, 128, (2, 16))
        args, kwargs = (), {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    else:
        timm = pytest.importorskip("timm")
        model = timm.create_model("resnet18").train()
        args, kwargs = (torch.randn(2, 3, 64, 64),), {}
    r = fxcost.profile(model, args, kwargs, backward=True)
    with FlopCounterMode(display=False) as fc:
        out = model(*args, **kwargs)
        (out.loss if which == "bert" else out.sum()).backward()
    assert r.total.macs == fc.get_total_flops() // 2 and r.unsupported == []
    assert r.by_phase()["backward"].macs > r.by_phase()["forward"].macs


def test_grouped_convolution_backward_is_twice_the_forward():
    """dX and dW of a depthwise convolution each cost its forward MACs. (FlopCounterMode counts
    this convolution_backward 33x the forward here: it drops the groups, so grouped and
    depthwise models are not compared with it.)"""
    conv = nn.Conv2d(32, 32, 3, groups=32, padding=1)
    x = torch.randn(2, 32, 16, 16, requires_grad=True)
    fwd = 2 * 32 * 16 * 16 * 9
    phases = fxcost.profile(conv, (x,), backward=True).by_phase()
    assert phases["forward"].macs == fwd and phases["backward"].macs == 2 * fwd


def test_timing_options_without_measure_are_refused():
    with pytest.raises(fxcost.FxcostError, match="measure=True"):
        fxcost.profile(TwoLinear(), (torch.randn(3, 8),), iters=5)

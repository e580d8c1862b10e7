"""Training steps (``backward=True``): checked against FlopCounterMode run for real on
transformers families and against analytic counts (FlopCounterMode's own test suite:
tests/peers/test_torch_flop_counter.py)."""

import time

import pytest
import torch
import torch.utils.checkpoint as checkpoint
from small_gpt import SmallGPT
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import fxcost


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


class _Holder(nn.Module):
    def __init__(self, child):
        super().__init__()
        self.child = child

    def forward(self, x):
        return self.child(x)


class _CallsOneChildTwice(nn.Module):
    """One linear, held by two submodules and called through both, then directly."""

    def __init__(self):
        super().__init__()
        shared = nn.Linear(8, 8)
        self.left, self.right = _Holder(shared), _Holder(shared)

    def forward(self, x):
        return self.left(x) * self.right(torch.relu(x))


@pytest.mark.parametrize(
    "capture, backward",
    [("symbolic_trace", False), ("record", False), ("record", True)],
    ids=["symbolic", "record", "step"],
)
def test_shared_module_is_charged_to_each_calling_path(capture, backward):
    x = torch.randn(3, 8, requires_grad=backward)
    kw = {"backward": True} if backward else {"capture": capture}
    r = fxcost.profile(_CallsOneChildTwice(), (x,), **kw)
    rows = {row.path: row.cost.macs for row in r.by_module()}
    forward = {}
    for n in r.nodes:
        if n.phase == "forward" and n.cost.macs:
            forward[n.module] = forward.get(n.module, 0) + n.cost.macs
    # each call's 3 x 8 x 8 MACs under the path it was called through, in the forward and (its
    # weight and input gradients) in the backward
    assert forward == {"left.child": 192, "right.child": 192}
    assert rows["left.child"] == rows["right.child"] == rows["left"] == rows["right"] == (3 * 192 if backward else 192)
    assert rows["left"] + rows["right"] == r.total.macs


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
    r = fxcost.profile(
        model,
        (torch.randn(32, 8),),
        backward=True,
        measure=True,
        iters=5,
        warmup=1,
        peak=fxcost.Peak("cpu", {"float32": 1e11}, 1e10),
    )
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


def test_cli_backward_and_diff(tmp_path, capsys):
    from fxcost.cli.main import main

    base, head = tmp_path / "base.json", tmp_path / "head.json"
    assert (
        main(
            [
                "profile",
                "torchvision:resnet18",
                "--input",
                "1x3x64x64",
                "--backward",
                "--format",
                "json",
                "--out",
                str(base),
            ]
        )
        == 0
    )
    report = fxcost.Report.from_json(base.read_text())
    assert set(report.by_phase()) == {"forward", "backward"} and all(n.phase for n in report.nodes)
    assert report.options["backward"] is True
    assert main(["profile", "torchvision:resnet18", "--input", "1x3x64x64", "--backward"]) == 0
    assert "training step MACs: forward" in capsys.readouterr().out
    assert (
        main(
            [
                "profile",
                "torchvision:resnet18",
                "--input",
                "2x3x64x64",
                "--backward",
                "--format",
                "json",
                "--out",
                str(head),
            ]
        )
        == 0
    )
    assert main(["diff", str(base), str(head), "--fail-above", "50"]) == 1  # twice the batch: +100 %


@pytest.mark.parametrize("which", ["bert", "timm_resnet18"])
def test_encoder_and_timm_steps_equal_flop_counter_for_real(which):
    if which == "bert":
        T = pytest.importorskip("transformers")
        cfg = T.BertConfig(
            hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=128
        )
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

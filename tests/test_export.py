"""Compile pipelines as they are today (issue 19): torch.export programs at every IR level,
torch.compile'd modules and other wrappers, each equal to the eager model's count (which the
zoo tests tie to published figures), with nothing unsupported."""

import json

import pytest
import torch
from torch import nn

import fxcost

tvm = pytest.importorskip("torchvision.models")


def _levels(ep):
    """The program at the export default IR and after run_decompositions() (core ATen)."""
    return {"default": ep, "core aten": ep.run_decompositions()}


def _check_program(ep, eager: fxcost.Report, args=(), kwargs=None):
    for level, prog in _levels(ep).items():
        for how, r in (("ExportedProgram", fxcost.profile(prog)),
                       ("ep.module()", fxcost.profile(prog.module(), args, kwargs)),
                       ("annotate(ep.graph_module)", fxcost.annotate(prog.graph_module))):
            assert (level, how, r.total.macs) == (level, how, eager.total.macs)
            assert r.unsupported == [], (level, how, r.unsupported)
        assert all("fxcost" in n.meta for n in prog.graph_module.graph.nodes)  # annotate's pass


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v3_large", "vit_b_16", "convnext_tiny",
                                  "efficientnet_b0", "swin_t"])
def test_torchvision_exported_at_every_ir_level(name):
    model = tvm.get_model(name).eval()
    x = torch.randn(1, 3, 224, 224)
    eager = fxcost.profile(model, (x,))
    ep = torch.export.export(model, (x,))
    _check_program(ep, eager, (x,))
    # lifted parameters map back to their modules: the module table reads as the eager model's
    program = fxcost.profile(ep)
    assert program.params == eager.params
    assert [(r.path, r.params, r.cost.macs) for r in program.by_module(2)[1:]] == \
        [(r.path, r.params, r.cost.macs) for r in eager.by_module(2)[1:]]


@pytest.mark.parametrize("name", ["resnet18", "deit_tiny_patch16_224", "efficientnet_b0"])
def test_timm_exported(name):
    timm = pytest.importorskip("timm")
    model = timm.create_model(name).eval()
    x = torch.randn(1, 3, 224, 224)
    _check_program(torch.export.export(model, (x,)), fxcost.profile(model, (x,)), (x,))


def test_transformers_exported():
    T = pytest.importorskip("transformers")
    from hf import causal_lm

    llama = causal_lm("llama", device="cpu").eval()
    kw = {"input_ids": torch.zeros(2, 16, dtype=torch.long), "use_cache": False}
    _check_program(torch.export.export(llama, (), kw), fxcost.profile(llama, (), kw), (), kw)
    bert = T.BertModel(T.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=128, vocab_size=128)).eval()
    kw = {"input_ids": torch.zeros(2, 16, dtype=torch.long), "attention_mask": torch.ones(2, 16, dtype=torch.long)}
    _check_program(torch.export.export(bert, (), kw), fxcost.profile(bert, (), kw), (), kw)


def test_program_at_other_shapes_is_refused():
    model = nn.Linear(4, 3)
    ep = torch.export.export(model, (torch.randn(2, 4),))
    assert fxcost.profile(ep, (torch.randn(2, 4),)).total.macs == 24
    with pytest.raises(fxcost.FxcostError, match="exported with"):
        fxcost.profile(ep, (torch.randn(5, 4),))


def test_compiled_module_costed_as_the_module_it_wraps():
    torch._dynamo.reset()
    model = tvm.resnet18().eval()
    x = torch.randn(1, 3, 64, 64)
    compiled = torch.compile(model)
    frames = dict(torch._dynamo.utils.counters["frames"])
    r = fxcost.profile(compiled, (x,))
    assert r.total == fxcost.profile(model, (x,)).total and r.unsupported == []
    assert dict(torch._dynamo.utils.counters["frames"]) == frames  # Dynamo compiled nothing
    assert fxcost.profile(compiled, (x,), backward=True).total.macs == \
        fxcost.profile(model, (x,), backward=True).total.macs


def test_data_parallel_wrapper():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    x = torch.randn(2, 8)
    assert fxcost.profile(nn.DataParallel(model), (x,)).total == fxcost.profile(model, (x,)).total


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_is_refused_clearly(how):
    model = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    scripted = torch.jit.script(model) if how == "script" else torch.jit.trace(model, (x,))
    with pytest.raises(fxcost.FxcostError, match="TorchScript.*original nn.Module"):
        fxcost.profile(scripted, (x,))


def test_incomplete_counts_say_so_where_they_are_read():
    class Opaque(nn.Module):
        def forward(self, x):
            return torch.special.bessel_j0(x) + 1

    r = fxcost.profile(Opaque(), (torch.randn(3),))
    assert "INCOMPLETE: 1 call without a rule (special_bessel_j0)" in r.table().splitlines()[0]
    assert "INCOMPLETE" in r.table(fmt="github").splitlines()[0]
    assert json.loads(r.to_json())["complete"] is False
    assert json.loads(fxcost.profile(nn.Linear(2, 2), (torch.randn(1, 2),)).to_json())["complete"] is True

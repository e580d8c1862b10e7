"""Compile pipelines as they are today (issue 19): torch.export programs at every IR level,
torch.compile'd modules and other wrappers, each equal to the eager model's count (which the
zoo tests tie to published figures), with nothing unsupported."""

import json

import pytest
import torch
from helpers import mystery
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from zoo import TIMM, build_torchvision

import fxcost

tvm = pytest.importorskip("torchvision.models")


def _levels(ep):
    """The program at the export default IR (training), the inference IR
    (run_decompositions with no table) and core ATen (run_decompositions())."""
    return {"default": ep, "inference": ep.run_decompositions({}), "core aten": ep.run_decompositions()}


def _check_program(ep, eager: fxcost.Report, args=(), kwargs=None):
    for level, prog in _levels(ep).items():
        for how, r in (
            ("ExportedProgram", fxcost.profile(prog)),
            ("ep.module()", fxcost.profile(prog.module(), args, kwargs)),
            ("annotate(ep.graph_module)", fxcost.annotate(prog.graph_module)),
        ):
            assert (level, how, r.total.macs) == (level, how, eager.total.macs)
            assert r.unsupported == [], (level, how, r.unsupported)
        assert all("fxcost" in n.meta for n in prog.graph_module.graph.nodes)  # annotate's pass


@pytest.mark.parametrize(
    "name",
    [
        "resnet50",
        *[
            pytest.param(n, marks=pytest.mark.slow)
            for n in ("mobilenet_v3_large", "vit_b_16", "convnext_tiny", "efficientnet_b0", "swin_t")
        ],
    ],
)
def test_torchvision_exported_at_every_ir_level(name):
    model = tvm.get_model(name).eval()
    x = torch.randn(1, 3, 224, 224)
    eager = fxcost.profile(model, (x,))
    ep = torch.export.export(model, (x,))
    _check_program(ep, eager, (x,))
    # lifted parameters map back to their modules: the module table reads as the eager model's
    program = fxcost.profile(ep)
    assert program.params == eager.params
    assert [(r.path, r.params, r.cost.macs) for r in program.by_module(2)[1:]] == [
        (r.path, r.params, r.cost.macs) for r in eager.by_module(2)[1:]
    ]


@pytest.mark.parametrize(
    "name",
    ["resnet18", *[pytest.param(n, marks=pytest.mark.slow) for n in ("deit_tiny_patch16_224", "efficientnet_b0")]],
)
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
    bert = T.BertModel(
        T.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=128)
    ).eval()
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
    assert (
        fxcost.profile(compiled, (x,), backward=True).total.macs
        == fxcost.profile(model, (x,), backward=True).total.macs
    )


def test_data_parallel_wrapper():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    x = torch.randn(2, 8)
    assert fxcost.profile(nn.DataParallel(model), (x,)).total == fxcost.profile(model, (x,)).total


class _ScriptedInside(nn.Module):
    """A scripted submodule and a script function called in a plain forward."""

    def __init__(self):
        super().__init__()
        self.block = torch.jit.script(nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8)))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(_scripted_gram(self.block(x)) @ x)


@torch.jit.script
def _scripted_gram(y: torch.Tensor) -> torch.Tensor:
    return torch.softmax(y @ y.t(), dim=-1)


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "step"])
@pytest.mark.parametrize("how", ["script", "trace", "inside"])
def test_torchscript_costs_what_it_runs(how, backward):
    # FlopCounterMode sees the aten ops TorchScript's interpreter runs (torch's own
    # test_torchscript: a scripted function counts as the same function unscripted)
    torch.manual_seed(0)
    x = torch.randn(5, 8)
    plain = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
    model = {
        "script": lambda: torch.jit.script(plain),
        "trace": lambda: torch.jit.trace(plain, (x,)),
        "inside": _ScriptedInside,
    }[how]()
    with FlopCounterMode(display=False) as fc:
        out = model(x.requires_grad_(False))
        if backward:
            out.sum().backward()
    report = fxcost.profile(model, (x,), flops="2mac", backward=backward, strict=True)
    assert report.total.flops >= report.total.macs * 2 == fc.get_total_flops() > 0
    if how != "inside":
        assert report.total.macs == fxcost.profile(plain, (x,), backward=backward).total.macs
    else:
        assert {r.name for r in report.by_module() if r.cost.macs} >= {"block", "head"}


def test_incomplete_counts_say_so_where_they_are_read():
    class Opaque(nn.Module):
        def forward(self, x):
            return mystery(x) + 1

    r = fxcost.profile(Opaque(), (torch.randn(3),))
    assert "INCOMPLETE: 1 call without a rule (fxcost_test::mystery)" in r.table().splitlines()[0]
    assert "INCOMPLETE" in r.table(fmt="github").splitlines()[0]
    assert json.loads(r.to_json())["complete"] is False
    assert json.loads(fxcost.profile(nn.Linear(2, 2), (torch.randn(1, 2),)).to_json())["complete"] is True


def test_inductor_post_grad_pass_costs_what_inductor_compiles():
    torch._dynamo.reset()
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    seen = []
    p = fxcost.inductor_pass(on_graph=seen.append)
    with torch._inductor.config.patch(post_grad_custom_post_pass=p):
        out = torch.compile(model)(x)
        out.sum().backward()
    step = fxcost.profile(model, (x,), backward=True).by_phase()
    # Inductor compiles the partitioned forward and backward: the same MACs as the eager step
    assert [g.total.macs for g in p.graphs] == [step["forward"].macs, step["backward"].macs]
    assert p.report.unsupported == [] and len(seen) == 2
    assert p.report.capture["method"] == "inductor_post_grad"


def test_distributed_data_parallel_wrapper(tmp_path):
    import torch.distributed as dist

    assert not dist.is_initialized()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        ddp = nn.parallel.DistributedDataParallel(model)
        x = torch.randn(2, 8)
        assert fxcost.profile(ddp, (x,)).total == fxcost.profile(model, (x,)).total
        assert fxcost.profile(ddp, (x,), backward=True).total == fxcost.profile(model, (x,), backward=True).total
        assert dist.is_initialized() and dist.get_world_size() == 1  # the default group as it was
    finally:
        dist.destroy_process_group()


def test_fsdp2_wrapped_module_forward_and_a_clear_refusal_of_its_step():
    """Where a process group exists: the forward of an FSDP2 module is the whole module's; its
    training step is one rank's, which profile_parallel costs: refused, with the way to it."""
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", rank=0, world_size=2, store=FakeStore())
    try:
        plain = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
        x = torch.randn(2, 8)
        expected = fxcost.profile(plain, (x,)).total
        sharded = fully_shard(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)))
        assert fxcost.profile(sharded, (x,)).total == expected
        for kw in ({"backward": True}, {"memory": True}):
            with pytest.raises(fxcost.FxcostError, match="profile_parallel"):
                fxcost.profile(sharded, (x,), **kw)
        assert all(type(p).__name__ == "DTensor" and p.grad is None for p in sharded.parameters())
        from torch.distributed.fsdp import FullyShardedDataParallel

        fsdp1 = FullyShardedDataParallel(nn.Sequential(nn.Linear(8, 8)), device_id=torch.device("cpu"))
        with pytest.raises(fxcost.FxcostError, match="FSDP1.*profile the module before wrapping"):
            fxcost.profile(fsdp1, (x,))
    finally:
        dist.destroy_process_group()


# -- aten coverage, systematically: whole zoos exported, at both IR levels ----------------------
def _both_levels_equal_eager(model, args, kwargs=None):
    eager = fxcost.profile(model, args, kwargs).total.macs
    ep = torch.export.export(model, args, kwargs)
    for prog in (ep, ep.run_decompositions()):
        r = fxcost.profile(prog)
        assert r.unsupported == [] and r.total.macs == eager


@pytest.mark.slow
@pytest.mark.parametrize("name", tvm.list_models(module=tvm))
def test_torchvision_zoo_exported(name):
    model, device = build_torchvision(name)
    size = 299 if name == "inception_v3" else 518 if name == "vit_h_14" else 224
    _both_levels_equal_eager(model, (torch.empty(1, 3, size, size, device=device),))


@pytest.mark.slow
@pytest.mark.parametrize(
    "family",
    [
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma",
        "gemma2",
        "gemma3_text",
        "phi3",
        "olmo2",
        "granite",
        "cohere",
        "starcoder2",
        "gpt_neox",
        "gptj",
        "falcon",
        "bloom",
        "opt",
        "smollm3",
        "stablelm",
        "phi",
        "mixtral",
        "qwen3_moe",
    ],
)
def test_transformers_families_exported(family):
    from hf import causal_lm

    moe = family in ("mixtral", "qwen3_moe")
    model = causal_lm(family, device="cpu", dtype=torch.bfloat16 if moe else None).eval()
    _both_levels_equal_eager(model, (), {"input_ids": torch.zeros(2, 16, dtype=torch.long), "use_cache": False})


def test_peft_lora_wrapper():
    peft = pytest.importorskip("peft")
    from hf import causal_lm, decoder_macs
    from torch.utils.flop_counter import FlopCounterMode

    model = causal_lm("llama", device="cpu").train()
    base = decoder_macs(model, 2, 16)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    ids = torch.randint(3, 128, (2, 16))
    kwargs = {"input_ids": ids, "use_cache": False}
    # every token through each layer's q (64 -> 64) and v (64 -> 32) adapters: in*r + r*out
    lora = 2 * 16 * 2 * (64 * 4 + 4 * 64 + 64 * 4 + 4 * 32)
    assert fxcost.profile(wrapped, (), kwargs).total.macs == base + lora
    step = fxcost.profile(wrapped, (), {**kwargs, "labels": ids}, backward=True)
    with FlopCounterMode(display=False) as fc:
        wrapped(**kwargs, labels=ids).loss.backward()
    assert step.total.macs == fc.get_total_flops() // 2 and step.unsupported == []


def test_program_options_that_need_the_module_are_refused():
    ep = torch.export.export(nn.Linear(4, 3), (torch.randn(2, 4),))
    for option in ("backward", "memory", "measure"):
        with pytest.raises(fxcost.FxcostError, match="needs the nn.Module|need the nn.Module"):
            fxcost.profile(ep, **{option: True})


@pytest.mark.parametrize(
    "module, x",
    [
        (nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True), torch.randn(3, 7, 16)),
        (nn.LSTM(16, 32, proj_size=8), torch.randn(7, 3, 16)),
        (nn.GRU(16, 32, bias=False), torch.randn(7, 3, 16)),
        (nn.RNN(16, 32, nonlinearity="relu"), torch.randn(7, 3, 16)),
    ],
)
def test_recurrent_layers_exported(module, x):
    eager = fxcost.profile(module, (x,)).total
    ep = torch.export.export(module, (x,))
    program = fxcost.profile(ep).total  # aten.lstm / gru / rnn_*: the module's own count
    assert (program.macs, program.flops) == (eager.macs, eager.flops)
    core = fxcost.profile(ep.run_decompositions())
    assert core.total.macs == eager.macs and core.unsupported == []


@pytest.mark.slow
@pytest.mark.parametrize("name", TIMM)
def test_timm_zoo_exported(name):
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model(name).eval()
    _both_levels_equal_eager(
        model, (torch.empty(1, *model.pretrained_cfg.get("input_size", (3, 224, 224)), device="meta"),)
    )


def test_a_program_whose_nodes_lost_their_values_is_propagated_again():
    """A pass that drops node.meta['val'] leaves the placeholders' fake values: fxcost propagates
    them through the graph again (FakeTensorProp) and costs the program as exported."""
    x = torch.randn(5, 2, 8)
    ep = torch.export.export(nn.LSTM(8, 16), (x,))
    whole = fxcost.profile(ep, (x,), strict=True).total
    for n in ep.graph_module.graph.nodes:
        if n.op == "call_function":
            n.meta.pop("val", None)
            n.meta.pop("tensor_meta", None)
    assert fxcost.profile(ep, (x,), strict=True).total == whole
    assert whole.macs == 10 * 4 * 16 * 24

"""fxcost.profile_parallel: one rank's compute and collectives under a tensor-parallel plan,
on PyTorch's fake process group, checked against the analytic per-rank count and against
CommDebugMode on a real CPU run of the same plan."""

import pytest
import torch
import torch.distributed as dist

import fxcost

T = pytest.importorskip("transformers")
import hf  # noqa: E402
from torch.distributed.tensor.debug import CommDebugMode  # noqa: E402
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module  # noqa: E402

MEGATRON = {
    "self_attn.q_proj": ColwiseParallel(),
    "self_attn.k_proj": ColwiseParallel(),
    "self_attn.v_proj": ColwiseParallel(),
    "self_attn.o_proj": RowwiseParallel(),
    "mlp.gate_proj": ColwiseParallel(),
    "mlp.up_proj": ColwiseParallel(),
    "mlp.down_proj": RowwiseParallel(),
}


def megatron(model, mesh):
    for layer in model.model.layers:
        parallelize_module(layer, mesh["tp"], MEGATRON)


def build():
    return hf.causal_lm("llama", num_key_value_heads=4)  # 4 heads: 1 per rank at tp=4


def inputs(labels=False, b=2, seq=16):
    ids = torch.zeros(b, seq, dtype=torch.long)
    return {"input_ids": ids, "use_cache": False, **({"labels": ids} if labels else {})}


def _comm_debug_counts(labels: bool) -> int:
    """all_reduce calls CommDebugMode sees on a real CPU run of the same plan (fake group)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", rank=0, world_size=4, store=FakeStore())
    try:
        model = hf.causal_lm("llama", device="cpu", num_key_value_heads=4)
        megatron(model, init_device_mesh("cpu", (4,), mesh_dim_names=("tp",)))
        with CommDebugMode() as comm:
            out = model(**inputs(labels))
            if labels:
                out.loss.backward()
        return comm.get_comm_counts()[torch.ops.c10d_functional.all_reduce]
    finally:
        dist.destroy_process_group()


def test_megatron_tensor_parallel_forward_per_rank():
    r = fxcost.profile_parallel(build, (), inputs(), mesh={"tp": 4}, parallelize=megatron, strict=True)
    m, tokens = build(), 2 * 16
    cfg = m.config
    sharded = hf.linear_weights(m, skip=("lm_head",))  # every projection of every layer
    attention = cfg.num_hidden_layers * 2 * 2 * 16 * 16 * cfg.num_attention_heads * 16
    assert r.report.total.macs == tokens * sharded // 4 + tokens * 64 * 128 + attention // 4
    ar = r.totals()["all_reduce"]
    # one after each row-parallel projection: T x d fp32 each
    assert ar["count"] == 4 == _comm_debug_counts(labels=False)
    assert ar["bytes"] == 4 * tokens * 64 * 4 and ar["bus_bytes"] == ar["bytes"] * 2 * 3 // 4
    assert {c.mesh_dim for c in r.collectives} == {"tp"}
    assert {c.module for c in r.collectives} == {f"model.layers.{i}.{p}" for i in (0, 1) for p in ("self_attn", "mlp")}
    assert not dist.is_initialized()


def test_megatron_training_step_matches_comm_debug_mode():
    fwd = fxcost.profile_parallel(build, (), inputs(True), mesh={"tp": 4}, parallelize=megatron)
    step = fxcost.profile_parallel(build, (), inputs(True), mesh={"tp": 4}, parallelize=megatron, backward=True)
    assert step.report.total.macs == 3 * fwd.report.total.macs
    assert step.totals()["all_reduce"]["count"] == 14 == _comm_debug_counts(labels=True)
    assert set(step.report.by_phase()) == {"forward", "backward"}


def test_two_dimensional_mesh_and_rank():
    r = fxcost.profile_parallel(build, (), inputs(), mesh={"dp": 2, "tp": 4}, parallelize=megatron, rank=5)
    assert r.rank == 5 and r.mesh == {"dp": 2, "tp": 4}
    assert {c.mesh_dim for c in r.collectives} == {"tp"} and r.totals()["all_reduce"]["count"] == 4
    assert "all_reduce" in r.table() and r.to_dict()["collectives"][0]["op"] == "all_reduce"


def test_bad_mesh_rank_and_an_existing_group_are_refused():
    with pytest.raises(fxcost.FxcostError, match="mesh="):
        fxcost.profile_parallel(build, (), inputs(), mesh={"tp": 0})
    with pytest.raises(fxcost.FxcostError, match="rank=8"):
        fxcost.profile_parallel(build, (), inputs(), mesh={"tp": 4, "dp": 2}, rank=8)
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", rank=0, world_size=2, store=FakeStore())
    try:
        with pytest.raises(fxcost.FxcostError, match="default process group exists"):
            fxcost.profile_parallel(build, (), inputs(), mesh={"tp": 2}, parallelize=megatron)
        assert dist.is_initialized()  # the user's group is left alone
    finally:
        dist.destroy_process_group()


def _fsdp(model, mesh):
    from torch.distributed.fsdp import fully_shard

    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])


def test_fsdp2_training_step_over_eight_ranks():
    """Per-rank compute is the local batch's step; ZeRO-3 traffic: the forward all_gathers every
    parameter (Psi), the backward again but the root's, which FSDP2 keeps unsharded after the
    forward, and the gradients are reduce_scattered once (Psi)."""
    r = fxcost.profile_parallel(build, (), inputs(True), mesh={"dp": 8}, parallelize=_fsdp, backward=True, strict=True)
    local = fxcost.profile(build(), (), inputs(True), backward=True)
    assert r.report.total.macs == local.total.macs
    m = build()
    psi = sum(p.numel() * p.element_size() for p in m.parameters())
    root = psi - sum(p.numel() * p.element_size() for p in m.model.layers.parameters())
    totals = r.totals()
    assert totals["reduce_scatter"]["bytes"] == psi
    assert totals["all_gather"]["count"] >= 3  # one per FSDP unit: two layers and the root
    assert psi <= totals["all_gather"]["bytes"] <= 2 * psi
    assert totals["all_gather"]["bytes"] == 2 * psi - root
    assert totals["all_gather"]["bytes"] + totals["reduce_scatter"]["bytes"] == 3 * psi - root
    assert totals["reduce_scatter"]["bus_bytes"] == round(psi * 7 / 8)
    assert r.report.params * 8 == sum(p.numel() for p in m.parameters())
    assert {c.mesh_dim for c in r.collectives} == {"dp"}


def test_built_in_plans_and_the_estimate():
    from fxcost.analyses.plans import plan

    mesh = {"dp": 2, "tp": 2}
    r = fxcost.profile_parallel(build, (), inputs(True), mesh=mesh, parallelize=plan("fsdp+tp", mesh), backward=True)
    tp = fxcost.profile_parallel(
        build, (), inputs(True), mesh={"tp": 2}, parallelize=plan("tp", {"tp": 2}), backward=True
    )
    assert r.report.total.macs == tp.report.total.macs  # FSDP shards memory, not compute
    assert {c.mesh_dim for c in r.collectives} == {"dp", "tp"}
    e = r.estimate("H100", {"tp": "nvlink4", "dp": 50e9})
    by_dim = {d: sum(c.bus_bytes for c in r.collectives if c.mesh_dim == d) for d in ("dp", "tp")}
    assert e["communication_by_dim_s"] == pytest.approx({"dp": by_dim["dp"] / 50e9, "tp": by_dim["tp"] / 450e9})
    assert e["step_s_overlapped"] == max(e["compute_s"], e["communication_s"]) > 0
    assert e["step_s_serial"] == pytest.approx(e["compute_s"] + e["communication_s"])
    with pytest.raises(fxcost.FxcostError, match="no link bandwidth for mesh dim 'dp'"):
        r.estimate("H100", {"tp": "nvlink4"})
    with pytest.raises(fxcost.FxcostError, match="needs mesh dims dp, tp"):
        plan("fsdp+tp", {"tp": 4})
    with pytest.raises(fxcost.FxcostError, match="Llama-style"):
        fxcost.profile_parallel(
            lambda: hf.causal_lm("gpt2", n_embd=64, n_layer=2, n_head=4),
            (),
            inputs(),
            mesh={"tp": 2},
            parallelize=plan("tp", {"tp": 2}),
        )
    assert not dist.is_initialized()


def test_memory_per_rank_holds_its_own_shards():
    """FSDP2 over 8 ranks: each keeps 1/8 of the parameters and of AdamW's two states; tensor
    parallelism at 4 keeps its shards of the projections and the replicated rest, exactly."""
    m = build()
    psi = sum(p.numel() * p.element_size() for p in m.parameters())
    r = fxcost.profile_parallel(
        build, (), inputs(True), mesh={"dp": 8}, parallelize=_fsdp, backward=True, memory=True, optimizer="adamw"
    )
    mem = r.report.memory["breakdown"]
    assert mem["params"] == psi // 8 and mem["optimizer"] == 2 * psi // 8
    assert r.report.memory["peak_bytes"] == sum(mem.values()) and mem["activations"] + mem["temporary"] > 0
    tp = fxcost.profile_parallel(
        build, (), inputs(True), mesh={"tp": 4}, parallelize=megatron, backward=True, memory=True
    )
    sharded = sum(
        p.numel() * 4
        for n, p in m.named_parameters()
        if any(k in n for k in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    )
    assert tp.report.memory["breakdown"]["params"] == (psi - sharded) + sharded // 4


def _by_module(report, depth):
    return {r.path: r.cost for r in report.by_module(depth)}


@pytest.mark.parametrize("plan_name, mesh", [("tp", {"tp": 2}), ("fsdp+tp", {"dp": 2, "tp": 2}), ("fsdp", {"dp": 4})])
def test_module_tables_add_up_forward_and_backward(plan_name, mesh):
    """Each module's row holds its own forward and backward: the root keeps no MACs of its
    children's, the layers hold 3x their forward (a dense decoder's step), and under FSDP alone
    every module's step equals the unsharded model's (FSDP shards memory, not compute)."""
    from fxcost.analyses.plans import plan

    step = fxcost.profile_parallel(build, (), inputs(True), mesh=mesh, parallelize=plan(plan_name, mesh), backward=True)
    fwd = fxcost.profile_parallel(build, (), inputs(True), mesh=mesh, parallelize=plan(plan_name, mesh))
    rows, fwd_rows = _by_module(step.report, 2), _by_module(fwd.report, 2)
    total = step.report.total
    assert rows["model"].macs + rows["lm_head"].macs == total.macs
    assert rows["model.layers"].macs == 3 * fwd_rows["model.layers"].macs > 0
    assert rows["lm_head"].macs == 3 * fwd_rows["lm_head"].macs > 0
    for phase, cost in step.report.by_phase().items():
        root_own = sum(n.cost.macs for n in step.report.nodes if n.phase == phase and not n.module)
        assert root_own == 0, (phase, root_own, cost)
    if plan_name == "fsdp":
        plain = _by_module(fxcost.profile(build(), (), inputs(True), backward=True), 3)
        assert {p: c.macs for p, c in _by_module(step.report, 3).items()} == {p: c.macs for p, c in plain.items()}
    table = step.table(by="operator").splitlines()
    assert table[3].split()[:2] == ["op", "count"] and table[5].split()[0] == "matmul"  # rows by operator


def _fsdp_with(reshard, tp=False):
    """FSDP2 on "dp" with ``reshard_after_forward=reshard`` (after tensor parallelism on "tp")."""
    from torch.distributed.fsdp import fully_shard

    def plan(model, mesh):
        if tp:
            megatron(model, mesh)
        for layer in model.model.layers:
            fully_shard(layer, mesh=mesh["dp"], reshard_after_forward=reshard)
        fully_shard(model, mesh=mesh["dp"], reshard_after_forward=reshard)

    return plan


def _tracker_peak(mesh: dict, plan, batch: dict) -> int:
    """FSDPMemTracker's peak for one training step of the same plan, on real CPU tensors and
    the fake process group."""
    from torch.distributed._tools.fsdp2_mem_tracker import FSDPMemTracker
    from torch.distributed.device_mesh import init_device_mesh
    from torch.testing._internal.distributed.fake_pg import FakeStore

    world = 1
    for n in mesh.values():
        world *= n
    dist.init_process_group("fake", rank=0, world_size=world, store=FakeStore())
    try:
        model = _sharded_lm(device="cpu")
        plan(model, init_device_mesh("cpu", tuple(mesh.values()), mesh_dim_names=tuple(mesh)))
        tracker = FSDPMemTracker(model)
        tracker.track_inputs((batch["input_ids"],))
        with tracker:
            model(**batch).loss.backward()
        snapshot = tracker.get_tracker_snapshot("peak")
        return next(iter(snapshot.values()))["Total"]
    finally:
        dist.destroy_process_group()


def _sharded_lm(device="meta"):
    # four layers of a Llama shape, wide enough that the gathered weights of a layer outweigh
    # its activations, as in real models
    torch.manual_seed(0)
    return hf.causal_lm(
        "llama",
        device=device,
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=8,
        head_dim=32,
        vocab_size=1000,
    )


FSDP_CASES = [({"dp": dp}, reshard, False) for dp in (2, 4, 8) for reshard in (True, False)] + [
    ({"dp": 4}, 2, False),
    ({"dp": 8}, 4, False),
    ({"dp": 2, "tp": 2}, True, True),
    ({"dp": 2, "tp": 2}, False, True),
]


@pytest.mark.parametrize("mesh, reshard, tp", FSDP_CASES, ids=str)
def test_fsdp2_peak_per_rank_matches_fsdp_mem_tracker(mesh, reshard, tp):
    """Within 10 % of FSDPMemTracker (PyTorch's own per-rank memory tracker for FSDP2), for each
    reshard_after_forward setting (True frees each layer's gathered weights after its forward
    and gathers them again for the backward; False keeps them; an int keeps them sharded over
    that many ranks), and under FSDP + TP."""
    ids = torch.randint(0, 1000, (2, 64))
    batch = {"input_ids": ids, "labels": ids, "use_cache": False}
    plan = _fsdp_with(reshard, tp)
    reference = _tracker_peak(mesh, plan, batch)
    r = fxcost.profile_parallel(_sharded_lm, (), batch, mesh=mesh, parallelize=plan, backward=True, memory=True)
    assert abs(r.report.memory.peak_bytes / reference - 1) < 0.10, (r.report.memory.breakdown, reference)


def test_fsdp2_seven_b_activations_are_not_gathered_weights():
    """A Llama-7B shape at dp=8 in bf16: at the peak the gathered (unsharded) weights are at
    most the root's and two layers' (the one computing and the one prefetched), not every
    layer's, and the activations are what the step keeps: at most what the same step keeps
    without FSDP."""
    cfg = dict(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        head_dim=128,
        vocab_size=32000,
    )

    def seven_b():
        return hf.causal_lm("llama", dtype=torch.bfloat16, **cfg)

    ids = torch.zeros(1, 256, dtype=torch.long)
    batch = {"input_ids": ids, "labels": ids, "use_cache": False}
    r = fxcost.profile_parallel(seven_b, (), batch, mesh={"dp": 8}, parallelize=_fsdp, backward=True, memory=True)
    mem = r.report.memory.breakdown
    m = seven_b()
    layer = sum(p.numel() * 2 for p in m.model.layers[0].parameters())
    assert layer == 404_766_720  # 404.8 MB
    root = sum(p.numel() * 2 for p in m.parameters()) - 32 * layer
    assert layer <= mem["gathered"] <= root + 2 * layer
    hidden_state = 256 * 4096 * 2
    assert 32 * hidden_state < mem["activations"] < 32 * 40 * hidden_state
    assert mem["activations"] < 32 * layer // 2  # not every layer's gathered weights, as it once held

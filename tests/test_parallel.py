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

MEGATRON = {"self_attn.q_proj": ColwiseParallel(), "self_attn.k_proj": ColwiseParallel(),
            "self_attn.v_proj": ColwiseParallel(), "self_attn.o_proj": RowwiseParallel(),
            "mlp.gate_proj": ColwiseParallel(), "mlp.up_proj": ColwiseParallel(), "mlp.down_proj": RowwiseParallel()}


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

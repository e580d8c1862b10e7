"""fxcost/analyses/fit.py: will it fit. Weights per dtype against accelerate's estimate-memory,
a mixed-precision AdamW step against MemTracker on a real CPU run, the optimizer state of every
setup by hand, ZeRO's per-rank sharding, and the largest batch that fits (profiled at the answer
and the next size)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import fxcost
from fxcost.analyses.fit import memory_plan
from fxcost.analyses.setups import LORA_RANK, SETUPS, weights
from fxcost.reports.peaks import Peak
from fxcost.zoo.targets import import_torchvision

import_torchvision()  # accelerate imports timm, which imports torchvision
T = pytest.importorskip("transformers")
from hf import causal_lm  # noqa: E402

SMALL = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=8,
             num_key_value_heads=4, head_dim=32, vocab_size=1000, max_position_embeddings=512)  # fmt: skip


@pytest.mark.parametrize("target", ["hf:llama", "hf:t5", "hf:bert", "hf:gpt2", "hf:vit", "torchvision:resnet50"])
def test_weights_equal_accelerate_estimate_memory(target):
    accelerate = pytest.importorskip("accelerate.utils.modeling")
    model = fxcost.load(target).model.float()  # accelerate's figures are the model's own dtype
    total, (largest, names) = accelerate.calculate_maximum_sizes(model)
    w, ours = weights(model)
    assert w["float32"] == (largest, total) and ours == names
    # its float16, int8 and int4 rows divide by 2, 4 and 8, integer buffers too (BERT's
    # position ids), which a cast leaves as they are; its bfloat16 row is the float32 size, a
    # slip of accelerate's. fxcost: floating tensors at the width, integer ones as they are.
    layer = model.get_submodule(names[0])

    def ints(m):
        return sum(b.numel() * b.element_size() for b in m.buffers() if not b.is_floating_point())

    for width, k in (("bfloat16/float16", 2), ("int8", 4), ("int4", 8)):
        assert w[width] == ((largest - ints(layer)) // k + ints(layer), (total - ints(model)) // k + ints(model))


def test_mixed_precision_adamw_is_16_bytes_a_parameter_plus_the_step_and_agrees_with_mem_tracker():
    from torch.distributed._tools.mem_tracker import MemTracker

    model = causal_lm("llama", device="cpu", **SMALL)
    ids = torch.randint(3, 1000, (1, 256))
    plan = memory_plan(model, (), {"input_ids": ids}, batch=4, seq=256, setups=["mixed"])
    (mixed,) = plan.training
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * 2 for b in model.buffers())  # rotary frequencies, in bf16 too
    assert mixed.weights == 2 * params + buffers and mixed.optimizer == 12 * params  # bf16; master, m, v
    bf16_step = fxcost.profile(
        model.to(torch.bfloat16).train(),
        (),
        {"input_ids": ids.repeat(4, 1), "labels": ids.repeat(4, 1), "use_cache": False},
        backward=True,
        memory=True,
    )
    assert mixed.peak == bf16_step.memory.peak_bytes + 12 * params
    # the same step run for real: bf16 model, float32 master copies, AdamW states on them (after
    # a first step made them); MemTracker sees the states (not the master copies: added by hand)
    master = [p.detach().float() for p in model.parameters()]
    opt = torch.optim.AdamW(master, foreach=False)
    batch = {"input_ids": ids.repeat(4, 1), "labels": ids.repeat(4, 1), "use_cache": False}

    def forward_backward():
        loss = model(**batch).loss
        loss.backward()

    forward_backward()
    for m, p in zip(master, model.parameters()):
        m.grad = p.grad.float()
    model.zero_grad(set_to_none=True)
    opt.step()
    for m in master:
        m.grad = None
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        forward_backward()
    measured = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"] + 4 * params
    assert abs(mixed.peak / measured - 1) <= 0.10, (mixed, measured)


def test_every_setup_s_optimizer_state_by_hand():
    model = causal_lm("llama", **SMALL)
    ids = torch.zeros(1, 256, dtype=torch.long)
    plan = memory_plan(model, (), {"input_ids": ids}, batch=4, seq=256)
    by = {t.setup: t for t in plan.training}
    params = [p for p in model.parameters()]
    n = sum(p.numel() for p in params)
    assert set(by) == set(SETUPS)
    buffers = sum(b.numel() for b in model.buffers())
    assert by["fp32"].optimizer == 8 * n and by["fp32"].weights == 4 * (n + buffers)
    assert by["bf16"].optimizer == 4 * n and by["bf16"].weights == 2 * (n + buffers)
    assert by["mixed"].optimizer == by["checkpoint"].optimizer == 12 * n
    assert by["sgd"].optimizer == 2 * n
    small = sum(p.numel() for p in params if p.numel() < 4096)  # norms keep float32 states
    assert by["adam8bit"].optimizer == int(8 * small + (2 + 8 / 256) * (n - small))
    # LoRA: rank-16 adapters on every linear of the blocks (not the LM head), float32, AdamW
    linears = [m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name != "lm_head"]
    adapters = sum(LORA_RANK * (m.in_features + m.out_features) for m in linears)
    assert by["lora"].trainable == adapters and by["lora"].optimizer == 8 * adapters
    peft = pytest.importorskip("peft")  # what peft trains with target_modules="all-linear"
    tuned = peft.get_peft_model(
        causal_lm("llama", device="cpu", **SMALL), peft.LoraConfig(r=16, target_modules="all-linear")
    )
    assert sum(p.numel() for p in tuned.parameters() if p.requires_grad) == adapters
    assert by["checkpoint"].activations < 0.5 * by["mixed"].activations
    assert by["lora"].peak < by["mixed"].peak


def test_zero_stages_shard_states_then_gradients_then_weights():
    model = causal_lm("llama", **SMALL)
    ids = torch.zeros(1, 64, dtype=torch.long)
    plan = memory_plan(model, (), {"input_ids": ids}, seq=64, setups=["checkpoint"], dp=8)
    (t,) = plan.training
    layer = max(sum(p.numel() * 2 for p in block.parameters()) for block in model.model.layers)
    assert t.zero["zero1"] == t.weights + t.gradients + t.optimizer // 8 + t.activations
    assert t.zero["zero2"] == t.weights + t.gradients // 8 + t.optimizer // 8 + t.activations
    assert t.zero["zero3"] == t.weights // 8 + 2 * layer + t.gradients // 8 + t.optimizer // 8 + t.activations
    assert t.zero["zero3"] < t.zero["zero2"] < t.zero["zero1"] < t.peak
    # fitting a device at dp=8: per rank, under ZeRO-3 unless told
    device = Peak("toy", {"bfloat16": 1e12}, 1e11, memory=t.zero["zero2"] * 3)
    for stage in (None, 2):
        fit = memory_plan(
            model, (), {"input_ids": ids}, seq=64, setups=["checkpoint"], dp=8, gpu=device, zero=stage
        ).fits[1]
        assert f"ZeRO-{stage or 3}, dp=8" in fit.what and fit.value >= 2
        per_rank = memory_plan(model, (), {"input_ids": ids}, batch=fit.value, seq=64, setups=["checkpoint"], dp=8)
        assert per_rank.training[0].zero[f"zero{stage or 3}"] == fit.peak <= device.memory < fit.next_peak
    with pytest.raises(fxcost.FxcostError, match="with dp > 1"):
        memory_plan(model, (), {"input_ids": ids}, seq=64, zero=3)


@pytest.mark.parametrize("solve", ["batch", "seq"])
def test_the_largest_size_that_fits_fits_and_the_next_does_not(solve):
    model = causal_lm("llama", **SMALL)
    ids = torch.zeros(1, 64, dtype=torch.long)
    device = Peak("toy", {"bfloat16": 1e12}, 1e11, memory=80e6)  # 80 MB
    plan = memory_plan(model, (), {"input_ids": ids}, seq=64, setups=["mixed"], gpu=device, solve=solve)
    assert [f.what for f in plan.fits] == ["inference", SETUPS["mixed"].label]
    bf16 = model.to(torch.bfloat16)
    for fit in plan.fits:
        assert fit.value >= 2 and fit.peak <= 80e6 < fit.next_peak

        def peak(n, fit=fit):  # profiled here, independently of the search
            b, s = (n, 64) if solve == "batch" else (1, n)
            x = torch.zeros(b, s, dtype=torch.long)
            if fit.what == "inference":
                return fxcost.profile(bf16.eval(), (), {"input_ids": x}, memory=True).memory.peak_bytes
            kw = {"input_ids": x, "labels": x, "use_cache": False}
            r = fxcost.profile(bf16.train(), (), kw, backward=True, memory=True)
            return r.memory.peak_bytes + 12 * sum(p.numel() for p in model.parameters())

        assert peak(fit.value) == fit.peak <= 80e6 < peak(fit.value + 1) == fit.next_peak


def test_the_user_s_model_is_left_as_it_was():
    model = causal_lm("llama", device="cpu", **SMALL).train()
    before = {k: (v.dtype, v.device, v.requires_grad) for k, v in model.named_parameters()}
    memory_plan(model, (), {"input_ids": torch.zeros(1, 32, dtype=torch.long)}, seq=32)
    assert {k: (v.dtype, v.device, v.requires_grad) for k, v in model.named_parameters()} == before
    assert model.training and not model.is_gradient_checkpointing
    assert all(p.grad is None for p in model.parameters())
    assert not any(type(m).__name__ == "_LoRA" for m in model.modules())


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "fxcost", *argv], capture_output=True, text=True)


def test_the_command_line(tmp_path):
    p = _cli("memory", "hf:llama", "--setup", "mixed,lora", "--seq", "512", "--gpu", "H100", "--format", "json")
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert plan["device"] == "NVIDIA H100 SXM" and plan["capacity"] == 80e9
    assert [t["setup"] for t in plan["training"]] == ["mixed", "lora"]
    assert plan["kv_per_token"] == 2 * 32 * 4096 * 2  # hf:llama: 32 layers, 32 heads x 128, bf16 keys and values
    p = _cli("memory", "hf:llama", "--gpu", "H1OO")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "H100" in p.stderr
    p = _cli("memory", "hf:llama", "--setup", "adagrad")
    assert p.returncode == 2 and "no training setup 'adagrad'" in p.stderr
    p = _cli("devices")
    assert p.returncode == 0 and "MI300X" in p.stdout and "TPU v5e" in p.stdout and "B200" in p.stdout

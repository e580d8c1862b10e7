"""Peak memory (issue 14) against PyTorch's own MemTracker on real CPU runs, and exact counts."""

import json

import pytest
import torch
from torch import nn
from torch.distributed._tools.mem_tracker import MemTracker

import fxcost

tvm = pytest.importorskip("torchvision.models")
T = pytest.importorskip("transformers")
from hf import causal_lm  # noqa: E402


def _tracked_peak(model, args, kwargs, train, hold_outputs=False):
    """MemTracker's peak on a real run: parameters + buffers + gradients + activations + temporaries.
    A training step is a loop's: only the loss outlives the forward, unless ``hold_outputs``."""
    tracker = MemTracker()
    tracker.track_external(model)
    with tracker, torch.set_grad_enabled(train):
        out = model(*args, **kwargs)
        if train:
            loss = out.loss if hasattr(out, "loss") else out.sum()
            if not hold_outputs:
                del out
            loss.backward()
    model.zero_grad(set_to_none=True)
    return tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"]


def _models():
    resnet = tvm.resnet18()
    llama = causal_lm(
        "llama",
        device="cpu",
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=32,
        vocab_size=1000,
        max_position_embeddings=512,
    )
    ids = torch.randint(3, 1000, (4, 256))
    cfg = T.BertConfig()  # BERT-base
    cfg._attn_implementation = "eager"
    bert = T.BertForMaskedLM(cfg)
    bert_ids = torch.randint(3, 1000, (4, 128))
    return {
        "resnet18": (resnet, (torch.randn(8, 3, 224, 224),), {}),
        "llama": (llama, (), {"input_ids": ids, "labels": ids, "use_cache": False}),
        "bert-base": (bert, (), {"input_ids": bert_ids, "labels": bert_ids}),
    }


@pytest.mark.parametrize("name", ["resnet18", "llama", "bert-base"])
def test_peak_agrees_with_mem_tracker(name):
    model, args, kwargs = _models()[name]
    model.train()
    for train, tolerance in ((False, 0.05), (True, 0.10)):
        r = fxcost.profile(model, args, kwargs, backward=train, memory=True)
        ref = _tracked_peak(model, args, kwargs, train)
        assert abs(r.memory["peak_bytes"] / ref - 1) <= tolerance, (train, r.memory, ref)
        b = r.memory["breakdown"]
        assert b["params"] == sum(p.numel() * 4 for p in model.parameters())
        assert train or b["gradients"] == b["temporary"] == 0
    assert all(p.grad is None for p in model.parameters())


def test_activation_checkpointing_agrees_with_mem_tracker():
    # each layer's recomputed activations die with that layer's backward (they lived to the end
    # of the step, 2.5x MemTracker's peak, while fxcost held the recompute's autograd nodes)
    model, _, kwargs = _models()["llama"]
    model.gradient_checkpointing_enable()
    model.train()
    r = fxcost.profile(model, (), kwargs, backward=True, memory=True)
    ref = _tracked_peak(model, (), kwargs, True)
    assert abs(r.memory["peak_bytes"] / ref - 1) <= 0.05, (r.memory, ref)
    full = _tracked_peak(_models()["llama"][0].train(), (), kwargs, True)
    assert r.memory["peak_bytes"] < 0.6 * full


@pytest.mark.parametrize("keep", [False, True])
def test_training_step_frees_the_logits_as_a_loop_does(keep):
    """A 32k vocabulary (batch 4 x 256): the logits are 131 MB in float32. A loop
    (``model(**batch).loss.backward()``, the Trainer) frees them before the backward;
    ``keep_outputs=True`` is the loop that holds them. MemTracker agrees either way."""
    V = 32000
    llama = causal_lm(
        "llama",
        device="cpu",
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=32,
        vocab_size=V,
        max_position_embeddings=512,
    )
    llama.train()
    ids = torch.randint(3, V, (4, 256))
    kw = {"input_ids": ids, "labels": ids, "use_cache": False}
    r = fxcost.profile(llama, (), kw, backward=True, memory=True, keep_outputs=keep)
    ref = _tracked_peak(llama, (), kw, True, hold_outputs=keep)
    assert abs(r.memory["peak_bytes"] / ref - 1) <= 0.02, (r.memory["peak_bytes"], ref)
    logits = 4 * 256 * V * 4
    other = fxcost.profile(llama, (), kw, backward=True, memory=True, keep_outputs=not keep).memory["peak_bytes"]
    assert (r.memory["peak_bytes"] - other) * (1 if keep else -1) >= logits  # one logits tensor, at least


def test_keep_outputs_needs_a_training_step_memory():
    with pytest.raises(fxcost.FxcostError, match="keep_outputs"):
        fxcost.profile(nn.Linear(2, 2), (torch.randn(1, 2),), keep_outputs=True)


def test_optimizer_state_and_frozen_weights():
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    model[0].requires_grad_(False)
    x = torch.randn(16, 64)
    trainable = sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)
    for optimizer, states in (("adamw", 2), ("adam", 2), ("sgd", 1), (None, 0)):
        r = fxcost.profile(model, (x,), backward=True, memory=True, optimizer=optimizer)
        assert r.memory["breakdown"]["optimizer"] == states * trainable
    with pytest.raises(fxcost.FxcostError, match="optimizer='adagrad'"):
        fxcost.profile(model, (x,), backward=True, memory=True, optimizer="adagrad")
    with pytest.raises(fxcost.FxcostError, match="memory=True and backward=True"):
        fxcost.profile(model, (x,), optimizer="adamw")


def test_inference_liveness_by_hand():
    class Chain(nn.Module):
        def forward(self, x):
            a = x * 2  # 4 KB, dies after b
            b = a + 1  # 4 KB
            c = b.view(-1)  # a view: nothing new
            return c.relu_()  # in place: nothing new

    r = fxcost.profile(Chain(), (torch.randn(32, 32),), memory=True)
    assert r.memory["peak_bytes"] == 2 * 32 * 32 * 4  # a and b together, once
    assert r.memory["breakdown"]["activations"] == 2 * 32 * 32 * 4


def test_dtype_and_checkpointing_shrink_it():
    model = causal_lm("llama", hidden_size=128, intermediate_size=256, num_hidden_layers=4, head_dim=32)
    ids = torch.zeros(2, 128, dtype=torch.long, device="meta")
    kwargs = {"input_ids": ids, "labels": ids, "use_cache": False}
    full = fxcost.profile(model.train(), (), kwargs, backward=True, memory=True).memory["breakdown"]
    half = fxcost.profile(model.to(torch.bfloat16), (), kwargs, backward=True, memory=True).memory["breakdown"]
    # the loss upcasts the logits to float32: the rest halves
    assert half["params"] * 2 == full["params"] and half["activations"] < 0.75 * full["activations"]
    model.to(torch.float32).gradient_checkpointing_enable()
    ckpt = fxcost.profile(model, (), kwargs, backward=True, memory=True).memory["breakdown"]
    assert ckpt["activations"] < 0.5 * full["activations"]  # only each layer's input is kept


def test_memory_in_json_table_and_cli(tmp_path, capsys):
    from fxcost.cli.main import main

    r = fxcost.profile(tvm.resnet18(), (torch.randn(1, 3, 64, 64),), memory=True)
    back = fxcost.Report.from_json(r.to_json())
    assert back.memory == r.memory and back.memory.to_dict() == json.loads(json.dumps(r.memory.to_dict()))
    assert "peak memory" in r.table().splitlines()[0]
    assert "at peak" in r.table(depth=1).splitlines()[2]  # each module's live bytes at the peak
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "profile",
                "torchvision:resnet18",
                "--input",
                "1x3x64x64",
                "--backward",
                "--memory",
                "--optimizer",
                "adamw",
                "--format",
                "json",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    mem = json.loads(out.read_text())["memory"]
    assert mem["optimizer"] == "adamw" and mem["breakdown"]["optimizer"] == 2 * mem["breakdown"]["params"]


def test_llama_7b_training_memory_on_meta():
    with torch.device("meta"):
        model = T.LlamaForCausalLM(T.LlamaConfig(num_hidden_layers=32))
    ids = torch.zeros(1, 2048, dtype=torch.long, device="meta")
    r = fxcost.profile(
        model, (), {"input_ids": ids, "labels": ids, "use_cache": False}, backward=True, memory=True, optimizer="adamw"
    )
    b = r.memory["breakdown"]
    params = sum(p.numel() for p in model.parameters()) * 4
    assert b["params"] == params and b["optimizer"] == 2 * params
    assert b["activations"] > 32 * 2048 * 4096 * 4  # at least one hidden state per layer is kept

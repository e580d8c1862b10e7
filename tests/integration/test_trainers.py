"""fxcost where people train: the transformers Trainer with FxcostCallback, Lightning with
fxcost.integrations.lightning.measure_flops, each run for real on the CPU for a few steps."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import fxcost

T = pytest.importorskip("transformers")
import hf  # noqa: E402

LENGTHS = [8, 24, 16]


class Batches(torch.utils.data.Dataset):
    """Three batches of 2 sequences, of lengths 8, 24 and 16 (the Trainer's shuffle reorders them)."""

    def __len__(self) -> int:
        return len(LENGTHS)

    def __getitem__(self, i: int) -> dict:
        ids = torch.randint(3, 100, (2, LENGTHS[i]), generator=torch.Generator().manual_seed(i))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def _train(callback, **args) -> tuple:
    from fxcost.integrations.hf import FxcostCallback  # noqa: F401 - imported as users do

    torch.manual_seed(0)
    model = hf.causal_lm("llama", device="cpu")
    seen: list[dict] = []

    def collate(items):
        seen.append(items[0])
        return items[0]

    training = T.TrainingArguments(
        output_dir="out",
        per_device_train_batch_size=1,
        max_steps=3,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        **args,
    )
    trainer = T.Trainer(
        model=model, args=training, train_dataset=Batches(), data_collator=collate, callbacks=[callback]
    )
    trainer.train()
    return trainer, model, seen


def test_trainer_total_flos_is_exact_and_logs_carry_mfu(tmp_path, monkeypatch):
    from fxcost.integrations.hf import FxcostCallback

    monkeypatch.chdir(tmp_path)
    trainer, model, seen = _train(FxcostCallback(peak=1e12))
    assert sorted(b["input_ids"].shape[1] for b in seen) == sorted(LENGTHS)
    expected = sum(2 * fxcost.profile(model, (), b, backward=True).total.macs for b in seen)
    assert trainer.state.total_flos == expected
    estimate = sum(6 * b["input_ids"].numel() * model.num_parameters(exclude_embeddings=True) for b in seen)
    assert expected != estimate  # the Trainer's own figure misses attention's L² term
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3 and all(h["mfu"] > 0 and h["tflops_per_s"] * 1e12 / 1e12 == h["mfu"] for h in logs)
    assert "hfu" not in logs[0]
    assert trainer.state.log_history[-1]["total_flos"] == expected  # the final metrics
    assert not model._forward_pre_hooks  # the callback's hook is gone


def test_trainer_on_cpu_without_a_peak_and_with_checkpointing(tmp_path, monkeypatch, caplog):
    from fxcost.integrations.hf import FxcostCallback

    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="fxcost"):
        trainer, model, seen = _train(FxcostCallback(), gradient_checkpointing=True)
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert all("tflops_per_s" in h and "mfu" not in h for h in logs)
    assert [r.message for r in caplog.records if "without mfu" in r.message] == [
        "fxcost: logging tflops_per_s without mfu: no peak FLOP/s for a cpu device: pass peak= (a device name, a "
        "fxcost.Peak or FLOP/s)"
    ]
    model.gradient_checkpointing_enable()
    step = [fxcost.profile(model, (), b, backward=True) for b in seen]
    assert trainer.state.total_flos == sum(2 * r.model_flops.macs for r in step)  # MFU's numerator: no recompute
    assert all(r.hardware_flops.macs > r.model_flops.macs for r in step)
    with_peak, _, _ = _train(FxcostCallback(peak="H100"), gradient_checkpointing=True)
    logs = [h for h in with_peak.state.log_history if "loss" in h]
    assert all(h["hfu"] > h["mfu"] > 0 for h in logs)


L = pytest.importorskip("lightning")
from lightning.fabric.utilities.throughput import measure_flops as lightning_measure_flops  # noqa: E402

from fxcost.integrations.lightning import measure_flops  # noqa: E402


def test_measure_flops_equals_lightnings_where_it_is_right():
    with torch.device("meta"):
        mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    x = torch.randn(4, 32, device="meta")
    fwd = lambda: mlp(x)  # noqa: E731
    assert measure_flops(mlp, fwd) == lightning_measure_flops(mlp, fwd) == 2 * 4 * (32 * 64 + 64 * 10)
    assert measure_flops(mlp, fwd, torch.Tensor.sum) == lightning_measure_flops(mlp, fwd, torch.Tensor.sum)


class Attention(nn.Module):
    def __init__(self, d: int = 64, heads: int = 4):
        super().__init__()
        self.qkv, self.out, self.heads = nn.Linear(d, 3 * d), nn.Linear(d, d), heads

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))


def _math_attention_flops(model: nn.Module, x: torch.Tensor, backward: bool = False) -> int:
    """FlopCounterMode on real tensors with math attention: every matmul counted."""
    with FlopCounterMode(display=False) as fc, torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
        y = model(x)
        if backward:
            y.sum().backward()
    return fc.get_total_flops()


LINEARS, ATTENTION = 2 * 32 * 64 * (192 + 64), 2 * 2 * 32 * 32 * 64  # MACs at batch 2, 32 tokens, d 64


def test_measure_flops_counts_attention_that_lightnings_misses():
    model, x = Attention(), torch.randn(2, 32, 64)
    assert measure_flops(model, lambda: model(x)) == _math_attention_flops(model, x) == 2 * (LINEARS + ATTENTION)
    # on the CPU, SDPA's fused kernel has no FLOP formula: Lightning's misses the attention matmuls
    assert lightning_measure_flops(model, lambda: model(x)) == 2 * LINEARS
    with torch.device("meta"):
        meta = Attention()
    xm = x.to("meta")
    assert (
        measure_flops(meta, lambda: meta(xm))
        == lightning_measure_flops(meta, lambda: meta(xm))
        == 2 * (LINEARS + ATTENTION)
    )  # equal where Lightning's is right
    step = measure_flops(meta, lambda: meta(xm), torch.Tensor.sum)
    assert (
        step
        == _math_attention_flops(model, x, backward=True)
        > lightning_measure_flops(model, lambda: model(x), torch.Tensor.sum)
    )


def test_lightning_fit_with_throughput_monitor(tmp_path):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ThroughputMonitor

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = Attention()

        def setup(self, stage):
            with torch.device("meta"):
                meta = Attention()
            x = torch.randn(8, 32, 64, device="meta")
            self.flops_per_batch = measure_flops(meta, lambda: meta(x), torch.Tensor.sum)

        def training_step(self, batch, i):
            return self.net(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(48, 32, 64)), batch_size=8)
    logged = {}

    class Keep(pl.loggers.logger.DummyLogger):
        def log_metrics(self, metrics, step=None):
            logged.update(metrics)

    monitor = ThroughputMonitor(batch_size_fn=lambda b: b[0].shape[0], window_size=2)
    trainer = pl.Trainer(
        max_steps=6,
        accelerator="cpu",
        logger=Keep(),
        callbacks=[monitor],
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    module = Module()
    trainer.fit(module, data)
    assert module.flops_per_batch == _math_attention_flops(Attention(), torch.randn(8, 32, 64), backward=True)
    assert logged["train/device/flops_per_sec"] > 0


_PL_ALONE = """
import sys
sys.modules["lightning"] = None  # only pytorch_lightning is installed, as in many environments
from fxcost.zoo.targets import import_torchvision
import_torchvision()
import torch
import pytorch_lightning as pl
from pytorch_lightning.callbacks import ThroughputMonitor
from fxcost.integrations.lightning import measure_flops

class Module(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(32, 16)

    def setup(self, stage):
        self.flops_per_batch = measure_flops(self.net, lambda: self.net(torch.randn(8, 32)), torch.Tensor.sum)

    def training_step(self, batch, i):
        return self.net(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(32, 32)), batch_size=8)
trainer = pl.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     callbacks=[ThroughputMonitor(batch_size_fn=lambda b: b[0].shape[0])])
module = Module()
trainer.fit(module, data)
print(module.flops_per_batch)
"""


def test_measure_flops_with_pytorch_lightning_alone(tmp_path):
    """``pytorch_lightning`` without ``lightning``: the integration imports and counts a fit's
    batch (forward 8·32·16 MACs, backward: the weight's gradient, the input needs none)."""
    pytest.importorskip("pytorch_lightning")
    done = subprocess.run([sys.executable, "-c", _PL_ALONE], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == 2 * (8 * 32 * 16) * 2


def test_integrations_are_optional():
    from fxcost.integrations._common import require

    with pytest.raises(
        ImportError, match=r"needs no_such_trainer, which is not installed. Fix: pip install 'fxcost\[hf\]'"
    ):
        require("no_such_trainer", "hf")
    with pytest.raises(ImportError, match=r"needs no_such or also_not, which is not installed"):
        require("no_such", "lightning", "also_not")
    probe = "import sys, fxcost; print(sorted(m for m in ('transformers', 'lightning') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


def test_measure_flops_counts_mixture_of_experts():
    model = hf.causal_lm("mixtral", device="cpu")  # 4 experts, 2 per token
    ids = torch.zeros(2, 16, dtype=torch.long)
    fwd = lambda: model(input_ids=ids, use_cache=False)  # noqa: E731
    ours = measure_flops(model, fwd)
    cfg, tokens = model.config, 2 * 16
    experts = tokens * cfg.num_experts_per_tok * 3 * cfg.hidden_size * cfg.intermediate_size * cfg.num_hidden_layers
    assert ours == 2 * fxcost.profile(model, (), {"input_ids": ids, "use_cache": False}).total.macs
    assert ours - lightning_measure_flops(model, fwd) == 2 * experts  # Lightning's misses the expert matmuls
    with torch.device("meta"):
        meta = hf.causal_lm("mixtral")
    assert measure_flops(meta, lambda: meta(input_ids=ids, use_cache=False)) == ours  # nothing computed

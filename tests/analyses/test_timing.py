"""Timer statistics, the adaptive loop, FPS, per-node timing and roofline arithmetic (CPU)."""

import pytest
import torch
from torch import nn

import fxcost
from fxcost.analyses.timing import Timing, percentile
from fxcost.reports.peaks import Peak


def test_statistics_are_robust():
    t = Timing([1.0, 2.0, 3.0, 4.0, 100.0], "cpu", batch=8, warmup=0)
    assert t.median_ms == 3.0 and t.mean_ms == 22.0 and t.min_ms == 1.0
    assert t.p90_ms == pytest.approx(4.0 + 0.6 * 96.0)  # numpy's linear interpolation
    assert t.fps == pytest.approx(8 / 0.003)
    assert percentile([5.0], 99) == 5.0
    assert t.to_dict(flops=6_000_000)["achieved_flops_per_s"] == pytest.approx(2e9)


def test_fixed_iterations_and_batch():
    model = nn.Linear(4, 4)
    t = fxcost.measure(model, (torch.randn(16, 4),), warmup=2, iters=7)
    assert t.iters == 7 and t.batch == 16 and t.device
    assert all(v > 0 for v in t.times_ms)
    one = fxcost.measure(model, (torch.randn(16, 4),), iters=3, batch=1)
    assert one.fps == pytest.approx(1e3 / one.median_ms) and t.fps == pytest.approx(16e3 / t.median_ms)


def test_adaptive_loop_runs_until_min_time():
    calls = []

    class Slow(nn.Module):
        def forward(self, x):
            calls.append(1)
            import time

            time.sleep(0.01)
            return x

    t = fxcost.measure(Slow(), (torch.randn(1),), warmup=1, min_time_s=0.1)
    assert 5 <= t.iters <= 12 and len(calls) == t.iters + 1
    assert t.median_ms >= 10.0


def test_measure_restores_training_and_grad_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout()).train()
    model[1].eval()  # mixed flags must come back as they were
    fxcost.measure(model, (torch.randn(1, 2),), iters=2)
    assert model.training and model[0].training and not model[1].training
    assert torch.is_grad_enabled()

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    m = Boom().train()
    with pytest.raises(RuntimeError):
        fxcost.measure(m, (torch.randn(1),), iters=1)
    assert m.training


def test_measure_rejects_meta_and_mixed_devices():
    with torch.device("meta"):
        m = nn.Linear(2, 2)
    with pytest.raises(fxcost.FxcostError, match="meta"):
        fxcost.measure(m, (torch.randn(1, 2, device="meta"),))


def test_profile_with_measure_and_node_times():
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    x = torch.randn(32, 64)
    r = fxcost.profile(model, (x,), measure=True, iters=5, warmup=1)
    assert r.total_time_ms == r.timing["median_ms"] > 0
    assert r.achieved_flops_per_s == pytest.approx(r.total.flops / (r.total_time_ms / 1e3))
    assert r.utilization is None  # no peak known for this CPU
    r2 = fxcost.profile(model, (x,), measure=True, iters=3, peak=Peak("cpu", {"float32": 1e12}, 1e11))
    assert r2.utilization == pytest.approx(r2.achieved_flops_per_s / 1e12)
    times = fxcost.time_nodes(r, model, (x,), repeats=3)
    assert set(times) == {n.name for n in r.nodes}
    assert all(n.time_ms > 0 for n in r.nodes)
    rows = {m.path: m for m in r.by_module()}
    assert rows["0"].time_ms == pytest.approx(times[r.nodes[0].name])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (checked on an H100: benchmarks/results)")
@pytest.mark.gpu
def test_cuda_timer_runs():
    model = nn.Linear(256, 256).cuda()
    t = fxcost.measure(model, (torch.randn(64, 256, device="cuda"),), iters=10)
    assert t.iters == 10 and t.median_ms > 0

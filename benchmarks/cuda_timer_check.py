"""Check fxcost's CUDA timer against torch.utils.benchmark.Timer on the same model (issue 4).

    python benchmarks/cuda_timer_check.py [MODEL ...]

Prints both medians and their ratio per model; exits 1 if any disagree by more than 3 %.
"""

from __future__ import annotations

import sys

import torch
import torch.utils.benchmark as tb

sys.path.insert(0, ".")
import fxcost  # noqa: E402
from fxcost.zoo.targets import import_torchvision  # noqa: E402

ROUNDS = 5


def main(names: list[str]) -> int:
    tv = import_torchvision()
    torch.backends.cudnn.benchmark = False
    worst = 0.0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for name in names:
        for batch in (1, 32):
            model = tv.models.get_model(name).cuda().eval()
            x = torch.randn(batch, 3, 224, 224, device="cuda")
            # alternate the two timers over rounds so that drift (clocks, host jitter) hits both
            ours_r, theirs_r = [], []
            for _ in range(ROUNDS):
                ours = fxcost.measure(model, (x,), warmup=20, min_time_s=0.5)
                ours_r.append(ours.median_ms)
                with torch.inference_mode():
                    t = tb.Timer("model(x)", globals={"model": model, "x": x}).blocked_autorange(min_run_time=0.5)
                theirs_r.append(t.median * 1e3)
            import statistics

            mine, ref = statistics.median(ours_r), statistics.median(theirs_r)
            ratio = mine / ref
            worst = max(worst, abs(ratio - 1))
            print(
                f"{name} batch {batch}: fxcost median {mine:.4f} ms (last round: p90 {ours.p90_ms:.4f}, "
                f"{ours.iters} iters, {ours.fps:.1f} FPS) | benchmark.Timer median {ref:.4f} ms "
                f"| ratio {ratio:.4f} | rounds: {[round(v, 3) for v in ours_r]} vs {[round(v, 3) for v in theirs_r]}"
            )
    model = tv.models.resnet50().cuda().eval()
    x = torch.randn(1, 3, 224, 224, device="cuda")
    g = fxcost.measure(model, (x,), cuda_graph=True, min_time_s=1.0)
    f = fxcost.measure(model, (x,), flush_l2=True, min_time_s=1.0)
    print(f"resnet50 b1: CUDA graph replay median {g.median_ms:.4f} ms; with L2 flush {f.median_ms:.4f} ms")
    r = fxcost.profile(model, (x,), measure=True, min_time_s=1.0)
    print(
        f"resnet50 b1 fp32: {r.total_time_ms:.4f} ms, achieved {r.achieved_flops_per_s / 1e12:.2f} TFLOP/s, "
        f"utilization {r.utilization:.3%} of {r.timing['peak_flops_per_s'] / 1e12:.1f} TFLOP/s"
    )
    times = fxcost.time_nodes(r, model, (x,))
    print(
        f"per-node timing: {len(times)} nodes, sum {sum(times.values()):.3f} ms vs end-to-end {r.total_time_ms:.3f} ms"
    )
    print(r.table(depth=1, top=None))
    print(f"worst disagreement: {worst:.2%}")
    return 0 if worst <= 0.03 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["resnet50", "vit_b_16", "mobilenet_v3_large"]))

"""Latency, FPS and achieved FLOP/s, measured as a performance engineer would.

GPU: a pair of ``torch.cuda.Event(enable_timing=True)`` around each iteration, one synchronize
after the loop (no host sync inside it), warm-up excluded, ``torch.inference_mode()``; optional
L2 flush between iterations and CUDA-graph replay. CPU: ``time.perf_counter_ns`` per iteration.
Robust statistics: the median and percentiles, not the mean alone.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
from torch import nn

from ..core.concurrency import per_model
from ..core.errors import FxcostError
from ..core.guards import evaluated, grads_and_buffers_kept
from ..core.inputs import check_call
from ..core.options import CaptureMethod, TimingOptions, keywords_checked
from ..core.walk import backward_roots, tensors
from ..pipeline.run import capture
from ..reports.report import Report


@dataclass
class Timing:
    """Per-iteration latencies (ms) and their statistics."""

    times_ms: list[float]
    device: str
    batch: int
    warmup: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def iters(self) -> int:
        return len(self.times_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.times_ms)

    @property
    def std_ms(self) -> float:
        return statistics.stdev(self.times_ms) if len(self.times_ms) > 1 else 0.0

    @property
    def min_ms(self) -> float:
        return min(self.times_ms)

    @property
    def p90_ms(self) -> float:
        return percentile(self.times_ms, 90)

    @property
    def p99_ms(self) -> float:
        return percentile(self.times_ms, 99)

    @property
    def fps(self) -> float:
        """Samples per second: batch / median latency (at batch 1: 1 / the inference time)."""
        return self.batch / (self.median_ms / 1e3)

    def to_dict(self, flops: int | None = None, peak_flops_per_s: float | None = None) -> dict[str, Any]:
        d = {
            "device": self.device,
            "batch": self.batch,
            "iters": self.iters,
            "warmup": self.warmup,
            "median_ms": self.median_ms,
            "mean_ms": self.mean_ms,
            "std_ms": self.std_ms,
            "min_ms": self.min_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "fps": self.fps,
            "options": self.options,
        }
        if flops is not None:
            d["achieved_flops_per_s"] = flops / (self.median_ms / 1e3)
        if peak_flops_per_s is not None:
            d["peak_flops_per_s"] = peak_flops_per_s
        return d


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _device_of(model: nn.Module, args: tuple, kwargs: dict) -> torch.device:
    params = list(model.parameters()) + list(model.buffers())
    devices = {t.device for t in tensors((args, kwargs)) + params}
    if any(d.type == "meta" for d in devices):
        raise FxcostError(
            "cannot time a model or inputs on the meta device: there is nothing to run. "
            "Fix: build the model on a real device (counting works on meta, timing does not)."
        )
    if len(devices) > 1:
        raise FxcostError(
            f"model and inputs are on different devices ({', '.join(sorted(map(str, devices)))}). "
            "Fix: move them to one device, e.g. model.to('cuda') and x.to('cuda')."
        )
    return devices.pop() if devices else torch.device("cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return platform.processor() or platform.machine() or "cpu"


class _Progress:
    """A one-line counter on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, enabled: bool | None) -> None:
        self.on = sys.stderr.isatty() if enabled is None else enabled
        self.label = label
        self.last = 0.0

    def __call__(self, i: int, n: int | None) -> None:
        now = time.monotonic()
        if self.on and now - self.last > 0.2:
            self.last = now
            sys.stderr.write(f"\r{self.label}: {i}" + (f"/{n}" if n else "") + " iterations")
            sys.stderr.flush()

    def done(self) -> None:
        if self.on:
            sys.stderr.write("\r" + " " * 60 + "\r")


@per_model
@keywords_checked
def measure(
    model: nn.Module,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    warmup: int = 10,
    iters: int | None = None,
    min_time_s: float = 1.0,
    max_iters: int = 100_000,
    batch: int | None = None,
    flush_l2: bool = False,
    cuda_graph: bool = False,
    progress: bool | None = None,
    train: bool = False,
) -> Timing:
    """Time ``model(*args, **kwargs)`` in eval mode under ``torch.inference_mode()``; with
    ``train=True``, a training step in the model's own mode: forward, the backward of its loss
    (or of every floating output, seeded with ones), and ``zero_grad`` (no optimizer step).

    Runs ``warmup`` untimed iterations, then ``iters`` timed ones, or (when ``iters`` is None) as
    many as fill ``min_time_s``. ``batch`` (for FPS) defaults to the leading dim of the first
    input. On CUDA, ``flush_l2`` clears the L2 cache before each iteration (outside the timed
    span) and ``cuda_graph`` replays a captured CUDA graph. The model is left as it was: its
    ``.grad``, buffers (batch-norm statistics) and training flags are put back.
    """
    TimingOptions(warmup, iters, min_time_s, max_iters, batch, flush_l2, cuda_graph, progress)  # checks values
    args, kwargs = check_call(model, args, kwargs)
    device = _device_of(model, args, kwargs)
    if batch is None:
        first = next(iter(tensors((args, kwargs))), None)
        batch = int(first.shape[0]) if first is not None and first.dim() else 1
    if cuda_graph and device.type != "cuda":
        raise FxcostError("cuda_graph=True needs a CUDA model. Fix: drop cuda_graph or move the model to CUDA.")
    if cuda_graph and train:
        raise FxcostError("cuda_graph=True times inference only. Fix: drop cuda_graph for a training step.")
    options = {"flush_l2": flush_l2, "cuda_graph": cuda_graph, "min_time_s": min_time_s, "train": train}
    bar = _Progress("fxcost measure", progress)
    guard = grads_and_buffers_kept(model) if train else evaluated(model)
    with guard, torch.enable_grad() if train else torch.inference_mode():
        step: Callable[[], Any] = (
            (lambda: _train_step(model, args, kwargs)) if train else (lambda: model(*args, **kwargs))
        )
        for _ in range(warmup):
            step()
        if device.type == "cuda":
            times = _time_cuda(step, device, iters, min_time_s, max_iters, flush_l2, cuda_graph, bar)
        else:
            times = _time_cpu(step, iters, min_time_s, max_iters, bar)
    bar.done()
    return Timing(times, device_name(device), batch, warmup, options)


def _train_step(model: nn.Module, args: tuple, kwargs: dict) -> None:
    roots = backward_roots(model(*args, **kwargs))
    if not roots:
        raise FxcostError(
            "the training step has nothing to differentiate: no output requires grad. "
            "Fix: leave some parameters trainable, or time the forward alone (train=False)."
        )
    torch.autograd.backward(roots, [torch.ones_like(t) for t in roots])
    model.zero_grad(set_to_none=True)


def _time_cpu(step, iters, min_time_s, max_iters, bar) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter_ns() + int(min_time_s * 1e9)
    while True:
        t0 = time.perf_counter_ns()
        step()
        times.append((time.perf_counter_ns() - t0) / 1e6)
        bar(len(times), iters)
        if iters is not None:
            if len(times) >= iters:
                return times
        elif (time.perf_counter_ns() >= deadline and len(times) >= 5) or len(times) >= max_iters:
            return times


def _time_cuda(step, device, iters, min_time_s, max_iters, flush_l2, cuda_graph, bar) -> list[float]:
    with torch.cuda.device(device):
        if cuda_graph:
            graph = torch.cuda.CUDAGraph()
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                step()  # warm the side stream before capture
            torch.cuda.current_stream().wait_stream(stream)
            with torch.cuda.graph(graph):
                step()
            step = graph.replay
        flush = None
        if flush_l2:
            size = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 64 << 20)
            flush = torch.empty(2 * size, dtype=torch.uint8, device=device)
        if iters is None:
            # size the loop from one synchronized iteration, so the timed loop needs no host sync
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            est = max(time.perf_counter() - t0, 1e-6)
            iters = int(min(max(5, math.ceil(min_time_s / est)), max_iters))
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
        for i in range(iters):
            if flush is not None:
                flush.zero_()
            starts[i].record()
            step()
            ends[i].record()
            bar(i + 1, iters)
        torch.cuda.synchronize()
        return [s.elapsed_time(e) for s, e in zip(starts, ends)]


# --------------------------------------------------------------------------------------------
# Per-node timing
# --------------------------------------------------------------------------------------------
class NodeTimer(torch.fx.Interpreter):
    """Runs a graph on real tensors and times every call node (CUDA events on a GPU, the
    monotonic clock on a CPU). Per-node times include the interpreter's dispatch overhead
    (some microseconds a node) and exclude the overlap a real run has, so their sum is not the
    end-to-end latency."""

    def __init__(self, root: nn.Module, graph: torch.fx.Graph, cuda: bool) -> None:
        super().__init__(root, garbage_collect_values=True, graph=graph)
        self.cuda = cuda
        self.samples: dict[str, list[Any]] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        if not n.op.startswith("call_"):
            return super().run_node(n)
        if self.cuda:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            out = super().run_node(n)
            e.record()
            self.samples.setdefault(n.name, []).append((s, e))
        else:
            t0 = time.perf_counter_ns()
            out = super().run_node(n)
            self.samples.setdefault(n.name, []).append((time.perf_counter_ns() - t0) / 1e6)
        return out

    def medians(self) -> dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
            return {k: statistics.median(s.elapsed_time(e) for s, e in v) for k, v in self.samples.items()}
        return {k: statistics.median(v) for k, v in self.samples.items()}


@per_model
@keywords_checked
def time_nodes(
    report: Report, model: nn.Module, args: tuple = (), kwargs: dict | None = None, repeats: int = 5, warmup: int = 2
) -> dict[str, float]:
    """Fill ``node.time_ms`` of ``report`` with the median time of each node over ``repeats``
    runs of the graph on real tensors; returns name -> ms. The graph is captured again on real
    tensors with the report's capture path and registry, so node names match."""
    args, kwargs = check_call(model, args, kwargs)
    device = _device_of(model, args, kwargs)
    method = CaptureMethod(report.capture["method"])
    if method not in (CaptureMethod.SYMBOLIC_TRACE, CaptureMethod.RECORD):
        raise FxcostError(
            f"time_nodes times the nodes of a forward captured by symbolic_trace or record; this "
            f"report's graph came from {method.value}. Fix: profile the nn.Module's forward "
            "(backward=False) and time that report."
        )
    opts = report.settings.but(
        real=True, capture=method, memory=False, backward=False, optimizer=None, keep_outputs=False, timing=None
    )
    cap = capture(model, args, kwargs, opts)
    gm = cap.graph_module()
    timer = NodeTimer(gm, gm.graph, device.type == "cuda")
    with evaluated(model), torch.inference_mode():
        for i in range(warmup + repeats):
            if i == warmup:
                timer.samples.clear()
            timer.run(*cap.inputs)
    times = timer.medians()
    for n in report.nodes:
        n.time_ms = times.get(n.name)
    return times

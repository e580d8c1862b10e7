"""Will it fit: a model's memory by dtype, for inference and for the training setups people run,
per rank under ZeRO, and the largest batch (or longest sequence) a device holds.

``memory_plan(target)`` answers on one screen:

- **weights** per dtype (float32, bfloat16/float16, float8, int8, int4): every floating
  parameter and buffer at that width (integer buffers as they are), the total and the largest
  layer (a block the model keeps whole, ``_no_split_modules``, else a leaf module), as
  ``accelerate estimate-memory`` defines them;
- **inference**: the exact peak of a forward at a batch and sequence length (``profile(...,
  memory=True)``: weights, and the activations live at the worst op), and the KV cache per token
  (the model's own cache after a forward, on meta);
- **training**: the exact peak of one step (``profile(..., backward=True, memory=True)``: weights,
  the gradients and activations live then) in the setup's compute dtype, plus its optimizer
  state, which the step does not make:

  ===============  =====================================================  ================
  setup            what is stored                                         per parameter
  ===============  =====================================================  ================
  ``fp32``         float32 weights and gradients, AdamW m and v           4 + 4 + 8
  ``bf16``         pure bf16: weights, gradients, AdamW m and v           2 + 2 + 4
  ``mixed``        bf16 weights and gradients, float32 master copy, m, v  2 + 2 + 12 = 16
  ``adam8bit``     bf16 weights and gradients, 8-bit m and v (blocks of   2 + 2 + 2.03
                   256 with a float32 scale; tensors under 4096 elements
                   keep float32 states, as bitsandbytes does)
  ``sgd``          bf16 weights and gradients, momentum                   2 + 2 + 2
  ``checkpoint``   ``mixed`` with activation checkpointing (each layer's
                   input kept, the rest recomputed in the backward)
  ``lora``         bf16 frozen base; rank-16 adapters on every linear     adapters: 16
                   but the LM head, in float32, trained with AdamW
  ===============  =====================================================  ================

- **per rank** at ``dp=N``: ZeRO-1 shards the optimizer state, ZeRO-2 also the gradients,
  ZeRO-3 / FSDP also the weights, and gathers a layer at a time (two: the one computing and the
  one prefetched); activations are each rank's own batch. (An estimate from the exact
  single-device step; ``profile_parallel`` costs FSDP2 exactly on a fake process group.)
- **fits**: with ``gpu=`` (a name in fxcost's device table), the largest batch, or with
  ``solve="seq"`` the longest sequence, whose peak (per rank under ZeRO at ``dp`` > 1) fits the
  device's memory: solved from peaks
  profiled at a few sizes, then confirmed by profiling the answer (it fits) and the next size
  (it does not).

Not counted: the CUDA context and library workspaces (about 0.5-1 GB on a GPU), allocator
rounding and fragmentation, the optimizer step's own temporaries.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.errors import FxcostError
from ..core.walk import map_tensors
from ..reports.format import Displayed, grid, si
from ..reports.peaks import Peak, named_peak
from .generation import kv_cache_bytes
from .profile import profile
from .setups import SETUPS, Setup, _NotApplicable, _setup_model, _standin, weights


@dataclass
class Training:
    """One setup's training step: its peak and what makes it up (bytes), and per rank under ZeRO."""

    setup: str
    label: str
    params: int
    trainable: int  # trainable parameters (elements)
    weights: int
    gradients: int
    optimizer: int
    activations: int  # activations and temporaries live at the peak
    peak: int
    zero: dict[str, int] = field(default_factory=dict)  # "zero1".."zero3" -> per-rank peak


@dataclass
class Fit:
    """The largest size that fits a device: ``value`` fits (``peak`` bytes), ``value + 1`` does
    not (``next_peak``), both profiled."""

    what: str  # "inference" or a training setup's name
    dim: str  # "batch" or "seq"
    value: int
    peak: int
    next_peak: int


@dataclass
class MemoryPlan(Displayed):
    """``fxcost.memory_plan``: weights per dtype, the inference peak and KV cache, each training
    setup's peak (and per rank under ZeRO), and what fits a device. ``table()`` renders it."""

    model: str
    params: int
    batch: int
    seq: int | None
    dtype: str
    weights: dict[str, tuple[int, int]]  # width -> (largest layer, total) bytes
    largest_layer: list[str]
    inference_peak: int
    kv_per_token: int | None
    training: list[Training]
    dp: int = 1
    device: str | None = None
    capacity: int | None = None
    fits: list[Fit] = field(default_factory=list)

    def table(self, fmt: str = "plain") -> str:
        """The plan as text tables (``fmt="github"``: markdown)."""
        size = f"batch {self.batch}" + (f" x {self.seq} tokens" if self.seq else "")
        lines = [f"{self.model}: {si(self.params)} params; {size}", ""]
        rows = [[w, si(a, "B"), si(t, "B")] for w, (a, t) in self.weights.items()]
        lines += [grid(rows, ["weights", "largest layer", "total"], fmt), ""]
        kv = ""
        if self.kv_per_token is not None:
            tokens = self.batch * (self.seq or 1)
            kv = f"; KV cache {si(self.kv_per_token, 'B')} per token ({si(self.kv_per_token * tokens, 'B')} at {size})"
        lines += [f"inference ({self.dtype}): peak {si(self.inference_peak, 'B')}{kv}", ""]
        if self.training:
            head = ["training", "weights", "gradients", "optimizer", "activations", "peak"]
            zeros = list(self.training[0].zero)
            head += [f"{z} dp={self.dp}" for z in zeros]
            rows = [
                [t.label, *(si(v, "B") for v in (t.weights, t.gradients, t.optimizer, t.activations, t.peak))]
                + [si(t.zero[z], "B") for z in zeros]
                for t in self.training
            ]
            lines += [grid(rows, head, fmt), ""]
        if self.fits:
            cap = f"{self.device} ({si(self.capacity, 'B')})"
            for f in self.fits:
                lines.append(
                    f"{cap}, {f.what}: largest {f.dim} {f.value} (peak {si(f.peak, 'B')}; "
                    f"{f.dim} {f.value + 1} needs {si(f.next_peak, 'B')})"
                    if f.value
                    else f"{cap}, {f.what}: does not fit at {f.dim} 1 (peak {si(f.peak, 'B')})"
                )
        return "\n".join(lines).rstrip() + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        from dataclasses import asdict

        return asdict(self)


# -- inputs at a size ----------------------------------------------------------------------------
Inputs = Callable[[int, int | None], tuple[tuple, dict]]


def _scaled(args: tuple, kwargs: dict) -> Inputs:
    """Inputs at batch B (and length L): every tensor's first axis is B times the given one's
    (the given inputs are batch 1); tensors shaped like the main [1, L] input (ids, masks,
    labels) take length L."""
    first = next((t for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor)), None)
    shape = tuple(first.shape) if first is not None else ()

    def at(batch: int, seq: int | None) -> tuple[tuple, dict]:
        def one(t: Any) -> Any:
            if not isinstance(t, torch.Tensor) or t.dim() == 0:
                return t
            size = list(t.shape)
            if seq is not None and t.dim() == 2 and tuple(t.shape) == shape:
                size[1] = seq
            size[0] = size[0] * batch
            return torch.zeros(size, dtype=t.dtype, device="meta")

        return tuple(one(a) for a in args), {k: one(v) for k, v in kwargs.items()}

    return at


def _in(dtype: torch.dtype, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Floating inputs in the compute dtype (an image in bf16 for a bf16 model)."""

    def one(t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype) if t.is_floating_point() else t

    return map_tensors(one, args), map_tensors(one, kwargs)


def _train_inputs(model: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """A causal LM's step computes its loss: labels are its input ids."""
    params = inspect.signature(model.forward).parameters
    if "use_cache" in params:  # a training step keeps no cache
        kwargs = {**kwargs, "use_cache": False}
    if type(model).__name__.endswith("ForCausalLM") and "labels" in params and "input_ids" in kwargs:
        kwargs = {"labels": kwargs["input_ids"], **kwargs}
    return args, kwargs


# -- the plan ------------------------------------------------------------------------------------
def memory_plan(
    model: nn.Module,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    inputs: Inputs | None = None,
    batch: int = 1,
    seq: int | None = None,
    dtype: torch.dtype = torch.bfloat16,
    setups: list[str] | None = None,
    dp: int = 1,
    gpu: str | Peak | None = None,
    solve: str = "batch",
    zero: int | None = None,
) -> MemoryPlan:
    """Will ``model`` fit: weights per dtype, the inference peak in ``dtype`` and the KV cache
    per token, each training setup's peak (``setups``: names in ``SETUPS``, default all) and per
    rank under ZeRO-1/2/3 at ``dp`` > 1, and with ``gpu`` the largest batch (``solve="batch"``)
    or longest sequence (``solve="seq"``) that fits its memory, for inference and each setup;
    at ``dp`` > 1 the training fits are per rank under ZeRO stage ``zero`` (default 3: FSDP).

    The inputs are ``args``/``kwargs`` at batch 1 (scaled to ``batch`` along every tensor's first
    axis, and ids-shaped [1, L] tensors to ``seq`` tokens), or ``inputs(batch, seq)`` returning
    (args, kwargs). ``model`` is never changed: each setup runs on a meta copy in its dtype."""
    kwargs = kwargs or {}
    make = inputs or _scaled(args, kwargs)
    chosen = list(SETUPS) if setups is None else setups
    for name in chosen:
        if name not in SETUPS:
            raise FxcostError(f"no training setup '{name}'. Fix: one of {', '.join(SETUPS)}.")
    if solve not in ("batch", "seq"):
        raise FxcostError(f"solve={solve!r}: solve 'batch' or 'seq'.")
    if zero not in (None, 1, 2, 3) or (zero is not None and dp < 2):
        raise FxcostError(f"zero={zero!r}: a ZeRO stage 1, 2 or 3, with dp > 1. Fix: dp=8, zero=3.")
    stage = f"zero{zero or 3}" if dp > 1 else None
    if solve == "seq" and seq is None:
        raise FxcostError("solve='seq' needs a sequence length to start from. Fix: pass seq=, e.g. seq=2048.")
    peak = named_peak(gpu, "--gpu ") if isinstance(gpu, str) else gpu
    if peak is not None and not peak.memory:
        raise FxcostError(f"{peak.name} has no memory capacity in the table. Fix: Peak(..., memory=BYTES).")
    widths, largest = weights(model)
    infer_model = _standin(model, dtype).eval()

    def inference(b: int, s: int | None) -> int:
        a, k = _in(dtype, *make(b, s))
        mem = profile(infer_model, a, k, memory=True).memory
        assert mem is not None
        return mem.peak_bytes

    infer_peak = inference(batch, seq)
    kv = _kv_per_token(infer_model, make, batch, seq)
    training: list[Training] = []
    runs: dict[str, Callable[[int, int | None], int]] = {}
    for name in chosen:
        setup = SETUPS[name]
        try:
            m = _setup_model(model, setup)
        except _NotApplicable:
            continue
        step = _step(m, setup, make, dp)
        training.append(step(batch, seq))
        runs[name] = functools.partial(_peak_of, step, stage)
    plan = MemoryPlan(
        type(model).__name__,
        sum(p.numel() for p in model.parameters()),
        batch,
        seq,
        str(dtype).replace("torch.", ""),
        widths,
        largest,
        infer_peak,
        kv,
        training,
        dp,
    )
    if peak is not None and peak.memory:
        capacity = int(peak.memory)
        plan.device, plan.capacity = peak.name, capacity
        start = seq if solve == "seq" else batch
        rank = f", per rank ({stage.replace('zero', 'ZeRO-')}, dp={dp})" if stage else ""
        labels = {t.setup: t.label + rank for t in training}
        for what, f in [("inference", inference), *runs.items()]:
            sized = functools.partial(_at_seq, f, batch) if solve == "seq" else functools.partial(_at_batch, f, seq)
            plan.fits.append(_largest(labels.get(what, what), solve, sized, capacity, start or 1))
    return plan


def _at_seq(f: Callable[[int, int | None], int], batch: int, seq: int) -> int:
    return f(batch, seq)


def _at_batch(f: Callable[[int, int | None], int], seq: int | None, batch: int) -> int:
    return f(batch, seq)


def _peak_of(step: Callable[[int, int | None], Training], stage: str | None, batch: int, seq: int | None) -> int:
    t = step(batch, seq)
    return t.zero[stage] if stage else t.peak


def _kv_per_token(model: nn.Module, make: Inputs, batch: int, seq: int | None) -> int | None:
    """Bytes of the model's own KV cache per token, or None for a model without one."""
    if "use_cache" not in inspect.signature(model.forward).parameters or seq is None:
        return None
    a, k = make(batch, seq)
    try:
        total = kv_cache_bytes(model, a, {**k, "use_cache": True})
    except FxcostError:
        return None
    return total // (batch * seq) if total else None


def _step(model: nn.Module, setup: Setup, make: Inputs, dp: int) -> Callable[[int, int | None], Training]:
    trainable = [p for p in model.parameters() if p.requires_grad]
    state = int(sum(setup.state(p) * p.numel() for p in trainable))
    if setup.lora:  # the adapters are float32 with AdamW: their master copy is themselves
        state = 8 * sum(p.numel() for p in trainable)
    layer = max(
        (sum(p.numel() * p.element_size() for p in m.parameters()) for m in _blocks(model)),
        default=0,
    )

    def run(batch: int, seq: int | None) -> Training:
        a, k = _train_inputs(model, *_in(setup.dtype, *make(batch, seq)))
        mem = profile(model, a, k, backward=True, memory=True).memory
        assert mem is not None
        b = mem.breakdown
        w = b["params"] + b["buffers"]
        acts = b["activations"] + b["temporary"] + b["gathered"]
        zero = {}
        if dp > 1:
            zero = {
                "zero1": w + b["gradients"] + state // dp + acts,
                "zero2": w + b["gradients"] // dp + state // dp + acts,
                "zero3": w // dp + 2 * layer + b["gradients"] // dp + state // dp + acts,
            }
        return Training(
            setup.name,
            setup.label,
            sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in trainable),
            w,
            b["gradients"],
            state,
            acts,
            mem.peak_bytes + state,
            zero,
        )

    return run


def _blocks(model: nn.Module) -> list[nn.Module]:
    keep = set(getattr(model, "_no_split_modules", None) or [])
    blocks = [m for m in model.modules() if type(m).__name__ in keep]
    return blocks or [m for m in model.modules() if not list(m.children())]


def _largest(what: str, dim: str, peak_at: Callable[[int], int], capacity: int, start: int) -> Fit:
    """The largest n with peak_at(n) <= capacity (peaks grow with n): a guess from the peaks at
    ``start`` and twice it (affine in the batch; for a sequence, a bound the search then
    corrects), then a search confirmed by profiles at n and n + 1."""
    cache: dict[int, int] = {}

    def at(n: int) -> int:
        if n not in cache:
            cache[n] = peak_at(n)
        return cache[n]

    if at(1) > capacity:
        return Fit(what, dim, 0, at(1), at(1))
    a, b = at(start), at(2 * start)
    slope = max((b - a) / start, 1.0)
    guess = max(1, int(start + (capacity - a) / slope))
    lo, hi = 1, None  # lo fits; hi does not
    n = guess
    while hi is None or hi - lo > 1:
        if at(n) <= capacity:
            lo = max(lo, n)
            n = n * 2 if hi is None else (lo + hi) // 2
        else:
            hi = n if hi is None else min(hi, n)
            n = (lo + hi) // 2
        if hi is not None and hi - lo <= 1:
            break
    assert hi is not None
    return Fit(what, dim, lo, at(lo), at(lo + 1))

"""The cost of generating text: a prefill that fills the KV cache, then one decode step per token.

``profile_generation(model, prompt_tokens=P, new_tokens=G)`` counts as transformers' ``generate``
runs: the prefill (P tokens) yields the first new token, then G-1 decode steps each feed one
token at positions P .. P+G-2, attending to the cache and itself. A step's cost is affine in its
position between the points where the model changes what it attends to (a sliding window
filling up), so fxcost profiles a few positions and finds the affine pieces by bisection,
checking each piece at interior points: never 4,095 profiles for 4,096 tokens, and exact.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ..core.concurrency import per_model
from ..core.cost import Cost, NodeRecord
from ..core.errors import FxcostError
from ..core.options import Options
from ..core.walk import tensors
from ..pipeline.run import forward_outputs
from ..reports.format import Displayed
from ..reports.report import Report
from .profile import profile


@dataclass
class Generation(Displayed):
    """What generating ``new_tokens`` after a ``prompt_tokens`` prompt costs."""

    prefill: Report  # the prompt's forward, filling the KV cache
    decode: Report  # the new_tokens - 1 decode steps, summed node by node
    positions: list[dict[str, int]]  # per decode step: position, macs, flops, bytes
    kv_cache_bytes: int  # the cache after the last step
    prompt_tokens: int
    new_tokens: int
    batch: int
    profiled_positions: list[int] = field(default_factory=list)  # where a step was counted
    memory: dict[str, int] | None = None  # with memory=True: the peak, KV cache included

    @property
    def total(self) -> Cost:
        return self.prefill.total + self.decode.total

    def table(self, fmt: str = "plain", units: str = "si") -> str:
        """Prefill, decode, the first and last decode steps and the total (``fmt``: "plain" or
        "github"; ``units``: "si" or "raw")."""
        from ..reports.format import grid, number

        n = lambda v, u="": number(v, units, u)  # noqa: E731
        rows = [
            [
                "prefill",
                f"{self.prompt_tokens} tokens",
                n(self.prefill.total.macs),
                n(self.prefill.total.flops),
                n(self.prefill.total.bytes, "B"),
            ],
            [
                "decode",
                f"{self.new_tokens - 1} steps",
                n(self.decode.total.macs),
                n(self.decode.total.flops),
                n(self.decode.total.bytes, "B"),
            ],
        ]
        for label, row in (("first step", self.positions[:1]), ("last step", self.positions[-1:])):
            rows += [[label, f"position {r['position']}", n(r["macs"]), n(r["flops"]), n(r["bytes"], "B")] for r in row]
        rows.append(["total", "", n(self.total.macs), n(self.total.flops), n(self.total.bytes, "B")])
        table = grid(rows, ["phase", "", "MACs", "FLOPs", "moved"], fmt, ("left", "left", "right", "right", "right"))
        head = (
            f"{self.prefill.model}: generating {self.new_tokens} tokens after a {self.prompt_tokens}-token prompt, "
            f"batch {self.batch}; KV cache {n(self.kv_cache_bytes, 'B')} after the last step"
        )
        if self.memory is not None:
            m = self.memory
            head += (
                f"\npeak memory {n(m['peak_bytes'], 'B')} (prefill {n(m['prefill_peak_bytes'], 'B')}, "
                f"last decode step {n(m['last_step_peak_bytes'], 'B')}; weights and KV cache included)"
            )
        return head + "\n\n" + table

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.prefill.model,
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "batch": self.batch,
            "prefill": self.prefill.total.to_dict(),
            "decode": self.decode.total.to_dict(),
            "total": self.total.to_dict(),
            "kv_cache_bytes": self.kv_cache_bytes,
            "positions": self.positions,
            "profiled_positions": self.profiled_positions,
            **({"memory": self.memory} if self.memory is not None else {}),
        }


@per_model
def profile_generation(
    model: nn.Module, prompt_tokens: int, new_tokens: int, batch: int = 1, **options: Any
) -> Generation:
    """Count ``generate``: a prefill of ``prompt_tokens`` and ``new_tokens - 1`` decode steps.

    ``model`` is a transformers causal LM (any device, meta included); ``options`` go to
    ``fxcost.profile`` (``flops``, ``attention``, ``strict``, ``registry``, ``memory``) except
    ``kwargs``, extra keyword inputs given to every forward. With ``memory=True``,
    ``.memory["peak_bytes"]`` is the larger of the prefill's peak (its cache included) and the
    last decode step's: that step's own peak plus the cache it is handed (an upper bound by at
    most one layer's cache: the step frees each layer's old keys and values as it replaces them)."""
    if not isinstance(prompt_tokens, int) or not isinstance(new_tokens, int) or prompt_tokens < 1 or new_tokens < 1:
        raise FxcostError(
            f"prompt_tokens and new_tokens must be positive ints, got {prompt_tokens!r} and "
            f"{new_tokens!r}. Fix: profile_generation(model, prompt_tokens=512, new_tokens=128)."
        )
    extra = options.pop("kwargs", None) or {}
    for bad in ("backward", "measure", "real"):
        if options.get(bad):
            raise FxcostError(f"profile_generation counts inference on meta tensors; {bad}=True does not apply.")
    Options.of("profile_generation", **{k: v for k, v in options.items() if k != "measure"})  # typos, values
    ids = lambda n: torch.zeros(batch, n, dtype=torch.long, device="meta")  # noqa: E731
    prefill = profile(model, (), {"input_ids": ids(prompt_tokens), "use_cache": True, **extra}, **options)
    steps = _Steps(model, batch, extra, options)
    first, last = prompt_tokens, prompt_tokens + new_tokens - 2
    if last < first:  # one new token: the prefill made it
        empty = replace(prefill, nodes=[], timing=None, memory=None)
        return Generation(
            prefill,
            empty,
            [],
            _cache_bytes(steps.cache_after(prompt_tokens)),
            prompt_tokens,
            new_tokens,
            batch,
            [],
            _peaks(prefill, None, 0),
        )
    pieces = steps.pieces(first, last)
    decode = replace(steps.report(first), nodes=_summed_nodes(pieces, steps), timing=None, memory=None)
    positions = [{"position": p, **_row(_at(pieces, steps, p))} for p in range(first, last + 1)]
    # the cache after the last step, from a forward of its length: a step's own report cannot
    # say (profile may run a forward more than once, and each appends to the cache it is given)
    kv_after = _cache_bytes(steps.cache_after(last + 1))
    return Generation(
        prefill,
        decode,
        positions,
        kv_after,
        prompt_tokens,
        new_tokens,
        batch,
        sorted(steps.reports),
        _peaks(prefill, steps.report(last), steps.cache_in.get(last, 0)),
    )


def _peaks(prefill: Report, last_step: Report | None, cache_in: int) -> dict[str, int] | None:
    if prefill.memory is None:
        return None
    decode = last_step.memory.peak_bytes + cache_in if last_step is not None and last_step.memory is not None else 0
    return {
        "peak_bytes": max(prefill.memory.peak_bytes, decode),
        "prefill_peak_bytes": prefill.memory.peak_bytes,
        "last_step_peak_bytes": decode,
    }


class _Steps:
    """Decode steps profiled at chosen positions, each with a cache of that many tokens."""

    def __init__(self, model: nn.Module, batch: int, extra: dict, options: dict) -> None:
        self.model, self.batch, self.extra, self.options = model, batch, extra, options
        self.reports: dict[int, Report] = {}
        self.totals: dict[int, Cost] = {}
        self.cache_in: dict[int, int] = {}  # bytes of the cache each profiled step is handed
        # transformers 5.x names the cache argument ``cache``; earlier releases ``past_key_values``
        params = inspect.signature(model.forward).parameters
        self.cache_name = "cache" if "cache" in params else "past_key_values"

    def cache_after(self, tokens: int) -> Any:
        """The model's own KV cache after a forward of ``tokens`` tokens, on meta."""
        ids = torch.zeros(self.batch, tokens, dtype=torch.long, device="meta")
        return _cache(self.model, (), {"input_ids": ids, "use_cache": True, **self.extra})

    def report(self, position: int) -> Report:
        """The decode step feeding the token at ``position`` (a cache of ``position`` tokens)."""
        if position not in self.reports:
            cache = self.cache_after(position)
            self.cache_in[position] = _cache_bytes(cache)
            step = profile(
                self.model,
                (),
                {
                    "input_ids": torch.zeros(self.batch, 1, dtype=torch.long, device="meta"),
                    self.cache_name: cache,
                    "use_cache": True,
                    **self.extra,
                },
                **self.options,
            )
            self.reports[position] = step
        return self.reports[position]

    def total(self, position: int) -> Cost:
        if position not in self.totals:
            self.totals[position] = self.report(position).total
        return self.totals[position]

    def costs(self, position: int) -> list[Cost]:
        return [n.cost for n in self.report(position).nodes]

    def pieces(self, a: int, b: int) -> list[tuple[int, int]]:
        """[a, b] split into pieces on which every node's cost is affine in the position."""
        if b - a <= 1 or self._affine(a, b):
            self.costs(b)
            return [(a, b)]
        mid = (a + b) // 2
        return self.pieces(a, mid) + self.pieces(mid, b)

    def _affine(self, a: int, b: int) -> bool:
        ca, cb = self.costs(a), self.costs(b)
        if len(ca) != len(cb):
            return False
        for p in sorted({a + (b - a) // 3, a + 2 * (b - a) // 3} - {a, b}):
            cp = self.costs(p)
            if len(cp) != len(ca) or any(_interpolate(x, y, a, b, p) != z for x, y, z in zip(ca, cb, cp)):
                return False
        return True


def _interpolate(ca: Cost, cb: Cost, a: int, b: int, p: int) -> Cost | None:
    """The cost at ``p`` on the line through (a, ca) and (b, cb), or None off the integers."""
    out = []
    for x, y in zip(ca.to_dict().values(), cb.to_dict().values()):
        num = x * (b - p) + y * (p - a)
        if num % (b - a):
            return None
        out.append(num // (b - a))
    return Cost(*out)


def _piece_of(pieces: list[tuple[int, int]], p: int) -> tuple[int, int]:
    return next(piece for piece in pieces if piece[0] <= p <= piece[1])


def _at(pieces: list[tuple[int, int]], steps: _Steps, p: int) -> Cost:
    a, b = _piece_of(pieces, p)
    if a == b:
        return steps.total(a)
    cost = _interpolate(steps.total(a), steps.total(b), a, b, p)
    assert cost is not None  # on an affine piece every position interpolates to integers
    return cost


def _row(c: Cost) -> dict[str, int]:
    return {"macs": c.macs, "flops": c.flops, "bytes": c.bytes}


def _summed_nodes(pieces: list[tuple[int, int]], steps: _Steps) -> list[NodeRecord]:
    """Each node's cost summed over every decode position: on an affine piece [a, b] of n
    positions, n * c(a) + slope * n(n-1)/2. Adjacent pieces share an end point, counted once."""
    first = steps.report(pieces[0][0]).nodes
    sums = [Cost() for _ in first]
    for i, (a, b) in enumerate(pieces):
        start = a if i == 0 else a + 1
        if start > b:
            continue
        ca, cb = steps.costs(a), steps.costs(b)
        for j, (x, y) in enumerate(zip(ca, cb)):
            sums[j] = sums[j] + _affine_sum(x, y, a, b, start)
    return [replace(n, cost=c) for n, c in zip(first, sums)]


def _affine_sum(ca: Cost, cb: Cost, a: int, b: int, start: int) -> Cost:
    """Σ over p in [start, b] of the affine cost through (a, ca) and (b, cb)."""
    n = b - start + 1
    if a == b:
        return Cost(*(v * n for v in ca.to_dict().values()))
    out = []
    for x, y in zip(ca.to_dict().values(), cb.to_dict().values()):
        slope = (y - x) // (b - a)  # integer: the cost is an integer at every position
        at_start = x + slope * (start - a)
        out.append(n * at_start + slope * n * (n - 1) // 2)
    return Cost(*out)


def _cache(model: nn.Module, args: tuple, kwargs: dict) -> Any:
    """The KV cache a forward of ``model`` leaves, on meta."""
    out = forward_outputs(model, args, kwargs)
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if cache is None:
        raise FxcostError(
            f"{type(model).__name__} returned no KV cache with use_cache=True. "
            "Fix: pass a causal language model (AutoModelForCausalLM) that caches keys and values."
        )
    return cache


def kv_cache_bytes(model: nn.Module, args: tuple, kwargs: dict) -> int:
    """Bytes of the keys and values a forward of ``model(*args, **kwargs)`` caches (pass
    ``use_cache=True``), every layer's, on meta."""
    return _cache_bytes(_cache(model, args, kwargs))


def _cache_bytes(cache: Any) -> int:
    """Bytes of the keys and values a transformers cache holds, every layer's."""
    layers = getattr(cache, "layers", None) or [cache]
    held = [getattr(layer, name, None) for layer in layers for name in ("keys", "values")]
    if not any(isinstance(t, torch.Tensor) for t in held):  # another cache layout: all its tensors
        held = [v for layer in layers for v in vars(layer).values()]
    return sum(t.numel() * t.element_size() for t in tensors(held))

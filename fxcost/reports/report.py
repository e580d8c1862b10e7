"""Reports: Per-node costs, their sums by module and by operator, and a versioned JSON
form that ``Report.from_json`` reads back and ``fxcost diff`` compares."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from ..core.cost import Cost, NodeRecord
from ..core.errors import FxcostError, UnsupportedOpError
from ..core.guards import quantized
from ..core.options import DEFAULT, Options
from ..core.version import __version__
from ..pipeline.memory import Memory
from .format import render
from .plot import plot_report

#: Bumped whenever a key is renamed or removed; readers refuse other versions.
SCHEMA_VERSION = 1


@dataclass
class Unsupported:
    """A target with no cost rule: how often it occurred and one node where it did."""

    target: str
    count: int
    example: str
    module: str


@dataclass
class ModuleRow:
    """A module's nested totals."""

    path: str
    type: str
    depth: int
    params: int
    cost: Cost
    nodes: int
    time_ms: float | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1] if self.path else "(model)"


@dataclass
class OperatorRow:
    """An operator's totals (the rule's op name, over module, functional and method forms)."""

    op: str
    count: int
    cost: Cost
    time_ms: float | None = None


def module_table(model: nn.Module) -> dict[str, tuple[str, int]]:
    """path -> (type name, parameters in its subtree), shared parameters counted once (under
    their first name); a module held under several paths has a row for each, since each call is
    charged to the path it was called through; a sharded (DTensor) parameter counts its local
    shard."""
    table: dict[str, list[Any]] = {p: [type(m).__name__, 0] for p, m in model.named_modules(remove_duplicate=False)}
    counts = [
        (name.split(".")[:-1], (p.to_local() if hasattr(p, "to_local") else p).numel())  # DTensor: its shard
        for name, p in model.named_parameters()
    ]
    counts += [(path.split(".") if path else [], n) for path, n in _packed_weights(model)]
    for parts, n in counts:
        for i in range(len(parts) + 1):
            row = table.get(".".join(parts[:i]))
            if row is not None:
                row[1] += n
    return {p: (t, n) for p, (t, n) in table.items()}


def _packed_weights(model: nn.Module) -> list[tuple[str, int]]:
    """(path, elements) of the weights and biases quantized modules (``torch.ao.nn.quantized``)
    keep packed rather than as parameters: their ``weight()`` and ``bias()``."""
    out = []
    for path, m in model.named_modules():
        if quantized(m) and callable(getattr(m, "weight", None)):
            bias = m.bias() if callable(getattr(m, "bias", None)) else None
            out.append((path, m.weight().numel() + (bias.numel() if bias is not None else 0)))
    return out


def json_kind(d: Any) -> str:
    """What a JSON document fxcost wrote holds, as a phrase: "a profile report", "a formula (...)" ..."""
    if not isinstance(d, dict):
        return f"a JSON {type(d).__name__}"
    if "positions" in d and "kv_cache_bytes" in d:
        return "a generation report (fxcost profile --prompt)"
    if "symbols" in d and "valid" in d:
        return "a formula (fxcost profile --symbolic)"
    if "mesh" in d and "collectives" in d:
        return "a parallel report (fxcost profile --mesh)"
    if "schema_version" in d or "nodes" in d:
        return "a profile report"
    return "not an fxcost report"


@dataclass
class Report:
    """What a model costs. Built by ``fxcost.profile``; read back with ``Report.from_json``."""

    model: str
    params: int
    nodes: list[NodeRecord]
    modules: dict[str, tuple[str, int]]  # path -> (type name, params), in named_modules order
    capture: dict[str, Any]  # {"method": ..., "fallback_reason": ...}
    options: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] | None = None
    memory: Memory | None = None  # profile(..., memory=True): the peak memory
    #: The ``fxcost.Options`` it was counted with (its registry included; not in the JSON, whose
    #: ``options`` records how it counted). ``time_nodes`` and re-counts reuse them.
    settings: Options = field(default=DEFAULT, repr=False, compare=False)

    @classmethod
    def of_model(
        cls,
        model: nn.Module,
        nodes: list[NodeRecord],
        capture: dict[str, Any],
        options: dict[str, Any],
        settings: Options = DEFAULT,
    ) -> Report:
        """The report on ``model``'s costed nodes, with its module tree; its parameter count is
        the tree's root row."""
        modules = module_table(model)
        return cls(
            model=type(model).__name__,
            params=modules[""][1],
            nodes=nodes,
            modules=modules,
            capture=capture,
            options=options,
            settings=settings,
        )

    # -- totals -------------------------------------------------------------------------------
    @property
    def total(self) -> Cost:
        """The sum over every node."""
        total = Cost()
        for n in self.nodes:
            total = total + n.cost
        return total

    def by_phase(self) -> dict[str, Cost]:
        """Totals per phase: {"forward": ...}; with ``backward=True`` also "backward", and
        "recompute" where activation checkpointing re-runs forward ops in the backward."""
        out: dict[str, Cost] = {}
        for n in self.nodes:
            out[n.phase] = out.get(n.phase, Cost()) + n.cost
        return out

    @property
    def model_flops(self) -> Cost:
        """What the step must compute, the numerator of MFU (PaLM, appendix B): forward and
        backward, without what activation checkpointing recomputes."""
        phases = self.by_phase()
        return phases.get("forward", Cost()) + phases.get("backward", Cost())

    @property
    def hardware_flops(self) -> Cost:
        """What the hardware runs, the numerator of HFU: every phase, recompute included."""
        return self.total

    def mfu(self, step_time_s: float | None = None, peak: Any = None) -> dict[str, float]:
        """Model and hardware FLOPs utilization of a step that took ``step_time_s`` seconds
        (default: the measured median) on a device of ``peak`` FLOP/s: a number, an
        ``fxcost.Peak`` (read for the model's dtype), or None for the measured device's peak.
        FLOPs are counted in the report's convention: ``flops="2mac"`` is PaLM's."""
        if step_time_s is None:
            if self.total_time_ms is None:
                raise FxcostError("mfu() needs the step time. Fix: pass step_time_s, or profile with measure=True.")
            step_time_s = self.total_time_ms / 1e3
        if peak is None:
            peak = (self.timing or {}).get("peak_flops_per_s")
        elif hasattr(peak, "flops_for"):
            peak = peak.flops_for(self.options.get("dtype", "float32"))
        if not peak or step_time_s <= 0:
            device = (self.timing or {}).get("device")
            where = f"fxcost knows no peak for {device}" if device else "no device was measured"
            raise FxcostError(
                f"mfu() needs the device's peak FLOP/s and a positive step time; {where}. Fix: pass "
                "peak= the FLOP/s of the device the step ran on (a number, or fxcost.peak_for(name) "
                "for a known GPU)."
            )
        return {
            "mfu": self.model_flops.flops / step_time_s / peak,
            "hfu": self.hardware_flops.flops / step_time_s / peak,
            "step_time_s": step_time_s,
            "peak_flops_per_s": float(peak),
        }

    @property
    def unsupported(self) -> list[Unsupported]:
        """Targets without a rule (their nodes count zero): never silently dropped."""
        seen: dict[str, Unsupported] = {}
        for n in self.nodes:
            if n.op is None:
                u = seen.get(n.target)
                if u is None:
                    seen[n.target] = Unsupported(n.target, 1, n.name, n.module)
                else:
                    u.count += 1
        return list(seen.values())

    @property
    def total_time_ms(self) -> float | None:
        """End-to-end median latency, when measured."""
        return self.timing["median_ms"] if self.timing else None

    @property
    def achieved_flops_per_s(self) -> float | None:
        """FLOPs / median latency, when measured."""
        t = self.total_time_ms
        return self.total.flops / (t / 1e3) if t else None

    @property
    def utilization(self) -> float | None:
        """Achieved FLOP/s over the device's peak for the model's dtype, when both are known."""
        peak = (self.timing or {}).get("peak_flops_per_s")
        achieved = self.achieved_flops_per_s
        return achieved / peak if peak and achieved is not None else None

    # -- views --------------------------------------------------------------------------------
    def by_module(self, depth: int | None = None) -> list[ModuleRow]:
        """Nested totals per module, in the model's module order; ``depth`` limits nesting
        (0 = the model alone, 1 = its children ...)."""
        sums: dict[str, list] = {}
        for n in self.nodes:
            parts = n.module.split(".") if n.module else []
            for i in range(len(parts) + 1):
                key = ".".join(parts[:i])
                acc = sums.setdefault(key, [Cost(), 0, None])
                acc[0] = acc[0] + n.cost
                acc[1] += 1
                if n.time_ms is not None:
                    acc[2] = (acc[2] or 0.0) + n.time_ms
        rows = []
        order = list(self.modules) + [p for p in sums if p not in self.modules]
        for path in order:
            d = path.count(".") + 1 if path else 0
            if depth is not None and d > depth:
                continue
            mtype, params = self.modules.get(path, ("", 0))
            cost, count, t = sums.get(path, (Cost(), 0, None))
            if count == 0 and params == 0:
                continue
            rows.append(ModuleRow(path, mtype, d, params, cost, count, t))
        return rows

    def by_operator(self) -> list[OperatorRow]:
        """Totals per operator, most FLOPs first."""
        rows: dict[str, OperatorRow] = {}
        for n in self.nodes:
            key = n.op or f"unsupported: {n.target}"
            r = rows.setdefault(key, OperatorRow(key, 0, Cost()))
            r.count += 1
            r.cost = r.cost + n.cost
            if n.time_ms is not None:
                r.time_ms = (r.time_ms or 0.0) + n.time_ms
        return sorted(rows.values(), key=lambda r: (-r.cost.flops, -r.cost.macs, r.op))

    def table(self, by: str = "module", depth: int | None = 2, fmt: str = "plain", **kw: Any) -> str:
        """A table (tabulate): ``by`` is module, operator or node; ``fmt`` plain or github."""
        return render(self, by=by, depth=depth, fmt=fmt, **kw)

    def check_strict(self, strict: bool) -> None:
        """``strict=True``: an ``UnsupportedOpError`` listing the ops without a rule, if any."""
        if strict and self.unsupported:
            listed = ", ".join(f"{u.target} (x{u.count}, e.g. node '{u.example}')" for u in self.unsupported)
            raise UnsupportedOpError(
                f"no cost rule for: {listed}. Fix: register one with @fxcost.register_rule(target), "
                "or pass strict=False to list them in report.unsupported."
            )

    def plot(self, kind: str = "modules", out: str | None = None, **options: Any) -> Any:
        """A picture of the report (matplotlib, ``pip install 'fxcost[plot]'``): ``kind``
        "roofline" (``device=``, ``depth=``), "modules" (``metric=``, ``depth=``, ``top=``) or
        "operators"; saved to ``out`` (.png, .svg, .pdf) when given; returns the Figure."""
        return plot_report(self, kind, out, **options)

    def __str__(self) -> str:
        return self.table()

    def _repr_markdown_(self) -> str:  # a notebook's display, where HTML is not rendered
        return self.table(fmt="github")

    def _repr_html_(self) -> str:  # a notebook's display: the table at depth 1, deeper folded
        return self.table(fmt="html")

    def to_csv(self, by: str = "module", depth: int | None = None) -> str:
        """The table as CSV, exact integers (``by``: module, operator or node; modules by their
        full dotted path, every depth unless ``depth``)."""
        return self.table(by=by, depth=depth, fmt="csv")

    def to_pandas(self, by: str = "module", depth: int | None = None) -> Any:
        """The table as a pandas DataFrame (``pip install pandas``), as ``to_csv``."""
        try:
            import pandas as pd
        except ImportError:
            raise FxcostError("to_pandas needs pandas, which is not installed. Fix: pip install pandas.") from None
        import io

        return pd.read_csv(io.StringIO(self.to_csv(by, depth)))

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "fxcost_version": __version__,
            "model": self.model,
            "capture": self.capture,
            "options": self.options,
            "params": self.params,
            "total": self.total.to_dict(),
            "modules": {p: {"type": t, "params": n} for p, (t, n) in self.modules.items()},
            "nodes": [n.to_dict() for n in self.nodes],
            "unsupported": [asdict(u) for u in self.unsupported],
            "complete": not self.unsupported,  # False: some calls had no rule and count zero
        }
        if self.timing is not None:
            d["timing"] = self.timing
        if self.memory is not None:
            d["memory"] = self.memory.to_dict()
        return d

    def to_json(self, indent: int | None = 1) -> str:
        """The report as JSON, schema ``SCHEMA_VERSION`` (documented in the README)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        version = d.get("schema_version") if isinstance(d, dict) else None
        kind = json_kind(d)
        if kind != "a profile report":
            raise FxcostError(
                f"this is {kind}, not a profile report. Fix: pass a file written by `fxcost profile "
                "--format json` (without --symbolic, --prompt or --mesh) or Report.to_json()"
                + (
                    "; a parallel report's own profile is under its 'report' key."
                    if kind.startswith("a parallel")
                    else "."
                )
            )
        if version != SCHEMA_VERSION:
            raise FxcostError(
                f"report has schema_version {version!r}, this fxcost reads {SCHEMA_VERSION}. "
                "Fix: re-create the report with this fxcost version."
            )
        try:
            return cls(
                model=d["model"],
                params=int(d["params"]),
                nodes=[NodeRecord.from_dict(n) for n in d["nodes"]],
                modules={p: (m["type"], int(m["params"])) for p, m in d["modules"].items()},
                capture=d["capture"],
                options=d.get("options", {}),
                timing=d.get("timing"),
                memory=Memory.from_dict(d["memory"]) if d.get("memory") else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise FxcostError(
                f"report JSON is malformed ({type(e).__name__}: {e}). Fix: pass a file written by "
                "`fxcost profile --format json` or Report.to_json()."
            ) from e

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Read a report written by ``to_json``."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise FxcostError(
                f"report is not valid JSON ({e}). Fix: pass a file written by "
                "`fxcost profile --format json` or Report.to_json()."
            ) from e
        return cls.from_dict(d)

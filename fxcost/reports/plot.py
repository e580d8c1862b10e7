"""Report stage: pictures of a report (``Report.plot``, ``fxcost plot``). matplotlib is an
optional extra (``pip install 'fxcost[plot]'``): it is imported only when a picture is drawn.

Kinds: ``roofline`` (each node or module at its arithmetic intensity against a device's compute
and bandwidth roofs), ``modules`` and ``operators`` (horizontal bars of a metric), ``sweep``
(cost against one size, from a ``Formula`` or from several reports), ``generation`` (cost per
decode position and the KV cache's size).
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING, Any, Sequence

from ..core.errors import FxcostError
from .peaks import PEAKS, Peak, peak_for

if TYPE_CHECKING:  # the report stage renders reports; report.py imports this module
    from .report import Report

KINDS = ("roofline", "modules", "operators", "sweep", "generation")
METRICS = ("flops", "macs", "params", "time_ms", "bytes")


def pyplot() -> Any:
    """matplotlib's pyplot on a file-only backend, or an FxcostError naming the install."""
    try:
        import matplotlib
    except ImportError:
        raise FxcostError("plots need matplotlib. Fix: pip install 'fxcost[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: str | None) -> Any:
    if out is not None:
        if not out.endswith((".png", ".svg", ".pdf")):
            raise FxcostError(f"cannot tell the picture format of '{out}'. Fix: end it in .png, .svg or .pdf.")
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise FxcostError(f"cannot write '{out}': the directory '{folder}' does not exist. Fix: create it first.")
        try:
            fig.savefig(out, bbox_inches="tight")
        except OSError as e:
            raise FxcostError(f"cannot write '{out}': {e.strerror}. Fix: check the path and its permissions.") from e
    return fig


def _peak(device: str | Peak | None, report: Report) -> Peak:
    if isinstance(device, Peak):
        return device
    name = device or (report.timing or {}).get("device") or "H100"
    found = peak_for(name)
    if found is None:
        raise FxcostError(f"no roofline entry for device {name!r}. Fix: --device one of "
                          f"{', '.join(k for k, _ in PEAKS)}.")
    return found


def roofline_figure(report: Report, device: str | Peak | None = None, depth: int | None = None,
                    out: str | None = None) -> Any:
    """Nodes (or modules to ``depth``) at (FLOPs per byte, FLOP/s): measured where the report
    was timed per node, attainable otherwise, under the device's roofs."""
    plt = pyplot()
    peak = _peak(device, report)
    dtype = report.options.get("dtype", "float32")
    pf = peak.flops_for(dtype)
    if pf is None:
        raise FxcostError(f"{peak.name} has no peak for {dtype}. Fix: --device with a {dtype} peak.")
    if depth is None:
        points = [(n.name, n.cost.flops, n.cost.bytes, n.time_ms) for n in report.nodes]
    else:
        points = [(m.path or "(model)", m.cost.flops, m.cost.bytes, m.time_ms)
                  for m in report.by_module(depth) if m.depth == depth or not m.path]
    points = [p for p in points if p[1] > 0 and p[2] > 0]
    if not points:
        raise FxcostError("no node both computes and moves bytes: nothing to place on a roofline.")
    fig, ax = plt.subplots(figsize=(7, 5))
    xs = [f / b for _, f, b, _ in points]
    measured = [t is not None for *_, t in points]
    ys = [f / (t / 1e3) if t else min(pf, (f / b) * peak.bandwidth) for _, f, b, t in points]
    ax.scatter(xs, ys, s=14, label="measured FLOP/s" if all(measured) else "attainable FLOP/s")
    lo, hi = min(xs) / 2, max(max(xs) * 2, 2 * pf / peak.bandwidth)
    ridge = pf / peak.bandwidth
    ax.plot([lo, ridge], [lo * peak.bandwidth, pf], color="C3", label=f"memory roof {peak.bandwidth / 1e12:.2f} TB/s")
    ax.plot([ridge, hi], [pf, pf], color="C2", label=f"compute roof {pf / 1e12:.1f} TFLOP/s ({dtype})")
    for (name, *_), x, y in sorted(zip(points, xs, ys), key=lambda p: -p[0][1])[:8]:
        ax.annotate(name, (x, y), fontsize=7)
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP/byte)", ylabel="FLOP/s",
           title=f"{report.model} on {peak.name}")
    ax.legend(fontsize=8)
    return _save(fig, out)


def _metric_of(row: Any, metric: str) -> float:
    if metric == "params":
        return getattr(row, "params", 0) or 0
    if metric == "time_ms":
        return row.time_ms or 0.0
    return getattr(row.cost, metric)


def bars_figure(report: Report, kind: str, metric: str = "flops", depth: int = 1, top: int = 20,
                out: str | None = None) -> Any:
    """Horizontal bars of ``metric`` per module (to ``depth``) or per operator, largest first."""
    if metric not in METRICS:
        raise FxcostError(f"metric {metric!r} is not one of {', '.join(METRICS)}.")
    if kind == "modules":
        rows = [(m.path or "(model)", _metric_of(m, metric)) for m in report.by_module(depth) if m.depth == depth]
    else:
        if metric == "params":
            raise FxcostError("operators have no parameters. Fix: --metric flops, macs, bytes or time_ms.")
        rows = [(o.op, _metric_of(o, metric)) for o in report.by_operator()]
    rows = sorted((r for r in rows if r[1]), key=lambda r: -r[1])[:top]
    if not rows:
        raise FxcostError(f"no {kind} with any {metric} to draw.")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.5))
    ax.barh([r[0] for r in reversed(rows)], [r[1] for r in reversed(rows)])
    ax.set(xlabel=metric, title=f"{report.model}: {metric} by {kind[:-1]}")
    return _save(fig, out)


def sweep_figure(formula: Any = None, size: str | None = None, values: Sequence[int] | None = None,
                 fixed: dict[str, int] | None = None, reports: Sequence[Report] | None = None,
                 metric: str = "flops", out: str | None = None) -> Any:
    """Cost against one size: a ``Formula`` evaluated over ``values`` of ``size`` (the other
    symbols ``fixed``), or ``reports`` profiled at ``values``."""
    if formula is not None:
        if size not in formula.symbols:
            raise FxcostError(f"size {size!r} is not a symbol of the formula ({', '.join(formula.symbols)}).")
        missing = set(formula.symbols) - {size} - set(fixed or {})
        if missing:
            raise FxcostError(f"give the other symbols a value: {', '.join(sorted(missing))}. Fix: fixed={{...}}.")
        ys = formula.sweep(**{size: list(values or [])}, **(fixed or {}))[metric]
        label = str(formula.totals[metric])
    elif reports is not None and values is not None and len(reports) == len(values):
        ys, label = [getattr(r.total, metric) for r in reports], metric
    else:
        raise FxcostError("a sweep needs a formula with size= and values=, or reports= with one value each.")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(list(values), ys, marker="." if len(ys) < 50 else None, label=label if len(label) < 80 else metric)
    ax.set(xlabel=size or "size", ylabel=metric, title=f"{metric} against {size or 'size'}")
    ax.legend(fontsize=8)
    return _save(fig, out)


def generation_figure(gen: Any, metric: str = "flops", out: str | None = None) -> Any:
    """Cost of each decode step against its position, with the KV cache's size after it."""
    rows = gen["positions"] if isinstance(gen, dict) else gen.positions
    kv_last = gen["kv_cache_bytes"] if isinstance(gen, dict) else gen.kv_cache_bytes
    if not rows:
        raise FxcostError("the generation has no decode step to draw (new_tokens was 1).")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [r["position"] for r in rows]
    ax.plot(xs, [r[metric] for r in rows], color="C0", label=f"{metric} per decode step")
    ax.set(xlabel="position", ylabel=metric, title="generation: cost per decode step")
    kv = ax.twinx()
    last = xs[-1] + 1
    kv.plot(xs, [kv_last * (x + 1) / last for x in xs], color="C1", label="KV cache bytes")
    kv.set_ylabel("KV cache bytes")
    fig.legend(loc="upper left", fontsize=8)
    return _save(fig, out)


def plot_report(report: Report, kind: str, out: str | None = None, **kw: Any) -> Any:
    """``Report.plot``: one of the report's own kinds (roofline, modules, operators)."""
    if kind == "roofline":
        return roofline_figure(report, kw.get("device"), kw.get("depth"), out)
    if kind in ("modules", "operators"):
        return bars_figure(report, kind, kw.get("metric", "flops"), kw.get("depth") or 1, kw.get("top", 20), out)
    raise FxcostError(f"kind {kind!r} is not one a report draws (roofline, modules, operators); sweep takes a "
                      "formula or reports (fxcost.plot.sweep_figure), generation a Generation.")


def nice_range(spec: str) -> list[int]:
    """'128:4096:128' -> [128, 256, ..., 4096] (the CLI's --range)."""
    try:
        start, stop, step = (int(p) for p in (spec.split(":") + ["1"])[:3])
    except ValueError:
        raise FxcostError(f"--range {spec!r} is not START:STOP[:STEP]. Fix: --range 128:4096:128.") from None
    return list(range(start, stop + 1, max(1, step))) if stop >= start else []


__all__ = ["plot_report", "roofline_figure", "bars_figure", "sweep_figure", "generation_figure", "KINDS"]

"""Reports: pictures of a report (``Report.plot``, ``fxcost plot``). matplotlib is an
optional extra (``pip install 'fxcost[plot]'``): it is imported only when a picture is drawn.

Kinds: ``roofline`` (each node or module at its arithmetic intensity against a device's compute
and bandwidth roofs), ``modules`` and ``operators`` (horizontal bars of a metric), ``sweep``
(cost against one size, from a ``Formula`` or from several reports), ``generation`` (cost per
decode position and the KV cache's size).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.errors import FxcostError
from .format import si
from .peaks import Peak, named_peak, peak_for

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


def _check_out(out: str | None) -> None:
    """Refuse a path the picture cannot be written to before drawing anything."""
    if out is not None:
        if not out.endswith((".png", ".svg", ".pdf")):
            raise FxcostError(f"cannot tell the picture format of '{out}'. Fix: end it in .png, .svg or .pdf.")
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise FxcostError(f"cannot write '{out}': the directory '{folder}' does not exist. Fix: create it first.")


def _save(fig: Any, out: str | None) -> Any:
    if out is not None:
        try:
            fig.savefig(out, bbox_inches="tight")
        except OSError as e:
            raise FxcostError(f"cannot write '{out}': {e.strerror}. Fix: check the path and its permissions.") from e
    return fig


def _si(ax_axis: Any, unit: str = "") -> None:
    """SI ticks (1.2 G, 340 MB) on a matplotlib axis, as the tables print numbers, with as many
    digits as the ticks need to differ."""
    from matplotlib.ticker import EngFormatter

    ax_axis.set_major_formatter(EngFormatter(unit=unit, sep=" "))


def _peak(device: str | Peak | None, report: Report) -> Peak:
    """The device whose roofs are drawn: the one chosen, else the one timed; never a default.
    Timings under another device's roofs would mislead, so a chosen device must be the timed one."""
    if isinstance(device, Peak):
        return device
    timed = (report.timing or {}).get("device")
    name = device or timed
    if name is None:
        raise FxcostError(
            "a roofline needs a device: this report was not timed on one. Fix: --device H100 (the "
            "roofs of the device you mean), or profile with --time on the device."
        )
    if not device and peak_for(name) is None:
        raise FxcostError(
            f"the report was timed on {name}, which fxcost's roofline table does not hold (it holds "
            "GPUs). Fix: from Python, report.plot('roofline', device=fxcost.Peak(...)) with its peaks."
        )
    found = named_peak(name, "--device ")
    if (
        device
        and timed
        and report.nodes
        and any(n.time_ms is not None for n in report.nodes)
        and peak_for(timed) is not found
    ):
        raise FxcostError(
            f"the timings come from {timed}: under {found.name}'s roofs they would mislead. Fix: drop "
            f"--device (the timed device's roofs), or time the model on a {device}."
        )
    return found


def roofline_figure(
    report: Report, device: str | Peak | None = None, depth: int | None = None, out: str | None = None, top: int = 8
) -> Any:
    """Nodes (or modules to ``depth``) at (FLOPs per byte, FLOP/s) under the device's roofs:
    measured FLOP/s where the report was timed per node; otherwise the most each intensity
    allows, drawn hollow as the bound it is. The ``top`` costliest get a legend entry each
    (labels in a legend never overlap); the rest are grey."""
    _check_out(out)
    plt = pyplot()
    peak = _peak(device, report)
    dtype = report.options.get("dtype", "float32")
    pf = peak.flops_for(dtype)
    if pf is None:
        raise FxcostError(f"{peak.name} has no peak for {dtype}. Fix: --device with a {dtype} peak.")
    if depth is None:
        points = [(n.name, n.cost.flops, n.cost.bytes, n.time_ms) for n in report.nodes]
    else:
        points = [(m.path or "(model)", m.cost.flops, m.cost.bytes, m.time_ms) for m in _leaves(report, depth)]
    points = [p for p in points if p[1] > 0 and p[2] > 0]
    if not points:
        raise FxcostError("no node both computes and moves bytes: nothing to place on a roofline.")
    measured = all(t for *_, t in points)
    ridge = pf / peak.bandwidth
    fig, ax = plt.subplots(figsize=(8, 5))
    xs = [f / b for _, f, b, _ in points]
    ys = [f / ((t or 0.0) / 1e3) if measured else min(pf, (f / b) * peak.bandwidth) for _, f, b, t in points]
    lo, hi = min(min(xs) / 2, ridge / 10), max(max(xs) * 2, 2 * ridge)
    ax.plot([lo, ridge], [lo * peak.bandwidth, pf], color="black", lw=1.2)
    ax.plot([ridge, hi], [pf, pf], color="black", lw=1.2)
    ax.annotate(
        f"{si(peak.bandwidth, 'B/s')}",
        (lo * 1.5, lo * 1.5 * peak.bandwidth),
        fontsize=8,
        xytext=(-4, 8),
        textcoords="offset points",
        ha="left",
        va="bottom",
    )
    ax.annotate(f"{si(pf, 'FLOP/s')} ({dtype})", (hi / 1.3, pf), fontsize=8, ha="right", va="bottom")
    order = sorted(range(len(points)), key=lambda i: -points[i][1])
    rest = order[top:]
    style = {} if measured else {"facecolors": "none"}
    handles, labels = [], []  # given explicitly: a legend drops labels that start with "_" (fx names do)
    if rest:
        handles.append(ax.scatter([xs[i] for i in rest], [ys[i] for i in rest], s=10, color="0.65"))
        labels.append(f"{len(rest)} more")
    for rank, i in enumerate(order[:top]):
        name, flops = points[i][0], points[i][1]
        handles.append(
            ax.scatter(
                [xs[i]],
                [ys[i]],
                s=36,
                marker="osD^v<>p"[rank % 8],
                edgecolors=f"C{rank % 10}",
                **({"color": f"C{rank % 10}"} if measured else style),
            )
        )
        labels.append(f"{name} ({si(flops, 'FLOP')})")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="arithmetic intensity (FLOP/byte)",
        ylabel="measured FLOP/s" if measured else "attainable FLOP/s (not timed: the bound at each intensity)",
        title=f"{report.model} on the roofs of {peak.name}",
    )
    _si(ax.yaxis)
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return _save(fig, out)


def _leaves(report: Report, depth: int) -> list:
    """Module rows at ``depth``, and the leaves above it (resnet's ``fc`` at depth 1 when
    depth is 2): every op is in exactly one row."""
    rows = [m for m in report.by_module(depth) if m.path]
    deeper = {m.path.rsplit(".", 1)[0] for m in rows if "." in m.path}
    picked = [m for m in rows if m.depth == depth or m.path not in deeper]
    return picked or report.by_module(0)


def _metric_of(row: Any, metric: str) -> float:
    if metric == "params":
        return getattr(row, "params", 0) or 0
    if metric == "time_ms":
        return row.time_ms or 0.0
    return getattr(row.cost, metric)


_UNIT = {"flops": "FLOPs", "macs": "MACs", "params": "params", "time_ms": "time (ms)", "bytes": "bytes moved"}


def _si_unit(metric: str) -> str:
    """The unit after an SI prefix: B for bytes (moved, read, written), none for counts."""
    return "B" if metric.startswith("bytes") else ""


def bars_figure(
    report: Report, kind: str, metric: str = "flops", depth: int = 1, top: int = 20, out: str | None = None
) -> Any:
    """Horizontal bars of ``metric`` per module (the modules at ``depth`` and the leaves above
    it) or per operator, largest first, each with its value."""
    _check_out(out)
    if metric not in METRICS:
        raise FxcostError(f"metric {metric!r} is not one of {', '.join(METRICS)}.")
    if kind == "modules":
        rows = [(m.path, _metric_of(m, metric)) for m in _leaves(report, depth)]
    else:
        if metric == "params":
            raise FxcostError("operators have no parameters. Fix: --metric flops, macs, bytes or time_ms.")
        rows = [(o.op, _metric_of(o, metric)) for o in report.by_operator()]
    rows = sorted((r for r in rows if r[1]), key=lambda r: -r[1])
    more = rows[top:]
    rows = rows[:top]
    if not rows:
        raise FxcostError(f"no {kind} with any {metric} to draw.")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.6))
    bars = ax.barh([r[0] or "(model)" for r in reversed(rows)], [r[1] for r in reversed(rows)])
    unit = _si_unit(metric)
    fmt = (lambda v: f"{v:.3g} ms") if metric == "time_ms" else (lambda v: si(v, unit))
    ax.bar_label(bars, labels=[fmt(r[1]) for r in reversed(rows)], padding=3, fontsize=7)
    ax.margins(x=0.15)
    if metric != "time_ms":
        _si(ax.xaxis, unit)
    shown = f"top {len(rows)} of {len(rows) + len(more)}" if more else f"{len(rows)}"
    where = f"module, depth {depth}" if kind == "modules" else "operator"
    ax.set(xlabel=_UNIT[metric], title=f"{report.model}: {_UNIT[metric]} by {where} ({shown})")
    return _save(fig, out)


def sweep_figure(
    formula: Any = None,
    size: str | None = None,
    values: Sequence[int] | None = None,
    fixed: dict[str, int] | None = None,
    reports: Sequence[Report] | None = None,
    metric: str = "flops",
    out: str | None = None,
) -> Any:
    """Cost against one size: a ``Formula`` evaluated over ``values`` of ``size`` (the other
    symbols ``fixed``), drawn where ``f.valid`` holds, that range shaded; or ``reports``
    profiled at ``values``."""
    _check_out(out)
    values = list(values or [])
    fixed = dict(fixed or {})
    if formula is not None:
        if size is None or size not in formula.symbols:
            raise FxcostError(f"size {size!r} is not a symbol of the formula ({', '.join(formula.symbols)}).")
        missing = set(formula.symbols) - {size} - set(fixed)
        if missing:
            raise FxcostError(f"give the other symbols a value: {', '.join(sorted(missing))}. Fix: fixed={{...}}.")
        inside = [v for v in values if formula.holds(**{size: v}, **fixed)]
        if not inside:
            raise FxcostError(
                f"no {size} in {_span(values) if values else '?..?'} is where "
                f"the formula holds ({', '.join(str(c) for c in formula.valid)}). Fix: another --range."
            )
        ys = formula.sweep(**{size: inside}, **fixed)[metric]
        xs, model, label = inside, formula.model, "exact formula"
    elif reports is not None and len(reports) == len(values) and values:
        xs, ys, model, label = values, [getattr(r.total, metric) for r in reports], reports[0].model, "profiled"
    else:
        raise FxcostError("a sweep needs a formula with size= and values=, or reports= with one value each.")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(xs, ys, marker="." if len(ys) < 50 else None, label=label)
    if formula is not None:
        for a, b in _runs(values, set(inside)):
            ax.axvspan(a, b, color="C2", alpha=0.08, lw=0)
        ax.axvspan(0, 0, color="C2", alpha=0.15, label=f"where it holds ({size} {_span(inside)})")
    at = ", ".join(f"{k}={v}" for k, v in fixed.items())
    ax.set(
        xlabel=size or "size",
        ylabel=_UNIT.get(metric, metric),
        title=f"{model}: {_UNIT.get(metric, metric)} against {size or 'size'}" + (f" at {at}" if at else ""),
    )
    _si(ax.yaxis, _si_unit(metric))
    ax.legend(fontsize=8)
    return _save(fig, out)


def _runs(values: list[int], inside: set[int]) -> list[tuple[int, int]]:
    """The contiguous stretches of ``values`` inside the valid set, as (first, last)."""
    runs: list[tuple[int, int]] = []
    extending = False
    for v in values:
        if v in inside and extending:
            runs[-1] = (runs[-1][0], v)
        elif v in inside:
            runs.append((v, v))
        extending = v in inside
    return runs


def _span(xs: list[int]) -> str:
    return f"{xs[0]}..{xs[-1]}" if len(xs) > 1 else str(xs[0])


def generation_figure(gen: Any, metric: str = "flops", out: str | None = None) -> Any:
    """Two panels sharing the position axis: the cost of each decode step, and the KV cache's
    size as it fills."""
    _check_out(out)
    rows = gen["positions"] if isinstance(gen, dict) else gen.positions
    kv_last = gen["kv_cache_bytes"] if isinstance(gen, dict) else gen.kv_cache_bytes
    model = gen.get("model", "model") if isinstance(gen, dict) else gen.prefill.model
    if not rows:
        raise FxcostError("the generation has no decode step to draw (new_tokens was 1).")
    plt = pyplot()
    fig, (top, low) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    xs = [r["position"] for r in rows]
    top.plot(xs, [r[metric] for r in rows], color="C0")
    top.set(ylabel=f"{_UNIT.get(metric, metric)} per step", title=f"{model}: generation, per decode step")
    _si(top.yaxis, _si_unit(metric))
    last = xs[-1] + 1
    low.plot(xs, [kv_last * (x + 1) / last for x in xs], color="C1")
    low.set(xlabel="position of the generated token", ylabel="KV cache")
    _si(low.yaxis, "B")
    fig.tight_layout()
    return _save(fig, out)


def plot_report(report: Report, kind: str, out: str | None = None, **kw: Any) -> Any:
    """``Report.plot``: one of the report's own kinds (roofline, modules, operators)."""
    if kind == "roofline":
        return roofline_figure(report, kw.get("device"), kw.get("depth"), out, kw.get("top") or 8)
    if kind in ("modules", "operators"):
        return bars_figure(report, kind, kw.get("metric", "flops"), kw.get("depth") or 1, kw.get("top") or 20, out)
    raise FxcostError(
        f"kind {kind!r} is not one a report draws (roofline, modules, operators); sweep takes a "
        "formula or reports (fxcost.reports.plot.sweep_figure), generation a Generation."
    )


def nice_range(spec: str) -> list[int]:
    """'128:4096:128' -> [128, 256, ..., 4096] (the CLI's --range)."""
    try:
        start, stop, step = (int(p) for p in (spec.split(":") + ["1"])[:3])
    except ValueError:
        raise FxcostError(f"--range {spec!r} is not START:STOP[:STEP]. Fix: --range 128:4096:128.") from None
    return list(range(start, stop + 1, max(1, step))) if stop >= start else []


__all__ = ["plot_report", "roofline_figure", "bars_figure", "sweep_figure", "generation_figure", "KINDS"]

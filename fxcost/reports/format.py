"""Tables and numbers for people: SI units (k ... Y), module / operator / node tables
for terminals (plain) and pull-request comments (GitHub markdown), and report diffs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from ..core.cost import Cost

if TYPE_CHECKING:  # format renders reports; report.py imports this module
    from .report import Report

#: The SI prefixes, powers of 1000 from 1 to 10^24.
PREFIXES = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"]


def si(value: float | None, unit: str = "", digits: int = 2) -> str:
    """1234567 -> '1.23 M' (+unit): powers of 1000 up to Y (10^24), the SI prefixes."""
    if value is None:
        return "-"
    v = float(value)
    i = 0
    while abs(v) >= 999.995 and i < len(PREFIXES) - 1:
        v /= 1000
        i += 1
    if i == 0 and v.is_integer():
        return f"{int(v)} {unit}".rstrip()
    return f"{v:.{digits}f} {PREFIXES[i]}{unit}".rstrip()


def number(value: float | None, units: str = "si", unit: str = "") -> str:
    """SI-scaled, or the exact integer with ``units="raw"``."""
    if value is None:
        return "-"
    if units == "raw":
        return str(int(value)) if float(value).is_integer() else f"{value:.6g}"
    return si(value, unit)


def share(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def summary(report: Report, units: str = "si") -> str:
    """One line: model, params, MACs, FLOPs (+ latency, FLOP/s), capture."""
    t = report.total
    parts = [
        f"{report.model}: {number(report.params, units)} params",
        f"{number(t.macs, units)} MACs",
        f"{number(t.flops, units)} FLOPs",
        f"{number(t.bytes, units, 'B')} moved",
    ]
    if report.timing:
        parts.append(
            f"latency {report.timing['median_ms']:.3f} ms (median of the whole model) on {report.timing['device']}"
        )
        if report.timing.get("fps"):
            parts.append(f"{report.timing['fps']:.1f} FPS")
        parts.append(f"{number(report.achieved_flops_per_s, units, 'FLOP/s')} achieved")
    line = ", ".join(parts) + f" (capture: {report.capture['method']})"
    if report.memory:
        b = report.memory.breakdown
        line += (
            f"; peak memory {number(report.memory.peak_bytes, units, 'B')} ("
            + ", ".join(f"{k} {number(v, units, 'B')}" for k, v in b.items() if v)
            + ")"
        )
    phases = report.by_phase()
    if set(phases) != {"forward"}:
        line += "; training step MACs: " + ", ".join(f"{p} {number(c.macs, units)}" for p, c in phases.items())
    missing = report.unsupported
    if missing:  # a count with holes says so where it is read
        calls = sum(u.count for u in missing)
        names = ", ".join(u.target.rsplit(".", 1)[-1] for u in missing[:3]) + (", ..." if len(missing) > 3 else "")
        line += f"; INCOMPLETE: {calls} call{'s' if calls != 1 else ''} without a rule ({names})"
    return line


def _rows(
    report: Report, by: str, depth: int | None, top: int | None, units: str, paths: bool = False
) -> tuple[list, list]:
    """The table's header and rows; ``paths``: a module's full dotted path in place of its
    indented name (a spreadsheet has no tree)."""
    total = report.total
    timed = report.timing is not None
    n = lambda v, u="": number(v, units, u)  # noqa: E731
    extra_h = ["node ms", "FLOP/s"] if timed else []

    def extra(cost: Cost, t: float | None) -> list:
        if not timed:
            return []
        return [f"{t:.3f}" if t is not None else "-", n(cost.flops / (t / 1e3), "") if t else "-"]

    if by == "operator":
        ops = report.by_operator()[:top] if top else report.by_operator()
        head = ["op", "count", "MACs", "FLOPs", "share"] + extra_h
        rows = [
            [r.op, r.count, n(r.cost.macs), n(r.cost.flops), share(r.cost.flops, total.flops)]
            + extra(r.cost, r.time_ms)
            for r in ops
        ]
        rows.append(
            ["total", sum(r.count for r in report.by_operator()), n(total.macs), n(total.flops), "100.0%"]
            + extra(total, report.total_time_ms)
        )
        return head, rows
    if by == "node":
        nodes = sorted(report.nodes, key=lambda x: -x.cost.flops)[:top] if top else report.nodes
        head = ["node", "module", "op", "output", "MACs", "FLOPs", "share"] + extra_h
        rows = [
            [
                x.name,
                x.module or "-",
                x.op or "unsupported",
                "x".join(map(str, x.output_shapes[0])) if x.output_shapes else "-",
                n(x.cost.macs),
                n(x.cost.flops),
                share(x.cost.flops, total.flops),
            ]
            + extra(x.cost, x.time_ms)
            for x in nodes
        ]
        rows.append(["total", "", "", "", n(total.macs), n(total.flops), "100.0%"] + extra(total, report.total_time_ms))
        return head, rows
    mods = report.by_module(depth)
    if top:
        mods = [mods[0]] + sorted(mods[1:], key=lambda r: -r.cost.flops)[:top]
    head = ["module", "type", "params", "MACs", "FLOPs", "share"] + extra_h
    rows = [
        [
            (r.path or "(model)") if paths else INDENT * r.depth + r.name,
            r.type,
            n(r.params),
            n(r.cost.macs),
            n(r.cost.flops),
            share(r.cost.flops, total.flops),
        ]
        + extra(r.cost, r.time_ms)
        for r in mods
    ]
    if report.memory:  # each module's activations and temporaries live at the peak, subtree included
        live = _subtree_sums(report.memory.modules)
        head.append("at peak")
        for row, r in zip(rows, mods):
            row.append(number(live.get(r.path, 0), units, "B"))
    return head, rows


def _subtree_sums(by_path: dict[str, int]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for path, value in by_path.items():
        parts = path.split(".") if path else []
        for i in range(len(parts) + 1):
            key = ".".join(parts[:i])
            sums[key] = sums.get(key, 0) + value
    return sums


INDENT = "\0"  # replaced per format: spaces in terminals, &nbsp; in markdown


def grid(rows: list, head: list, fmt: str = "plain", align: tuple | None = None) -> str:
    """The one way fxcost draws a table: ``fmt`` "plain" (terminals) or "github" (markdown that
    right-aligns numbers), cells as given (no number parsing); ``align`` per column, default
    tabulate's."""
    return _table(rows, head, align, markdown=fmt == "github")


def _table(rows: list, head: list, align: tuple | None, markdown: bool) -> str:
    pad = "&nbsp;&nbsp;" if markdown else "  "
    rows = [[c.replace(INDENT, pad) if isinstance(c, str) else c for c in row] for row in rows]
    # "pipe" writes the :---: alignment markers GitHub needs to right-align numbers;
    # preserve_whitespace keeps the module tree's indentation
    return tabulate(
        rows,
        head,
        tablefmt="pipe" if markdown else "simple",
        colalign=align,
        disable_numparse=True,
        preserve_whitespace=True,
    )


def render(
    report: Report,
    by: str = "module",
    depth: int | None = 2,
    fmt: str = "plain",
    top: int | None = None,
    units: str = "si",
) -> str:
    """The report as a table; ``fmt`` is plain (terminals), github (PR comments), csv (exact
    integers, one row per module, operator or node) or html (a notebook's display)."""
    if fmt == "csv":
        return csv_text(*_rows(report, by, depth, top, "raw", paths=True))
    if fmt == "html":
        return _html(report, by, depth, top, units)
    head, rows = _rows(report, by, depth, top, units)
    align = tuple("left" if i < _text_columns(by) else "right" for i in range(len(head)))
    if fmt == "github":
        return _github(report, head, rows, align, units)
    lines = [summary(report, units), "", _table(rows, head, align, markdown=False)]
    lines += _node_time_note(report)
    lines += _unsupported_lines(report)
    return "\n".join(lines)


def _text_columns(by: str) -> int:  # the rest are numbers, right-aligned
    return {"module": 2, "operator": 1, "node": 4}[by]


def _github(report: Report, head: list, rows: list, align: tuple, units: str) -> str:
    table = _table(rows, head, align, markdown=True)
    out = [f"**fxcost** · {summary(report, units)}", ""]
    if len(rows) > 25:
        out += ["<details><summary>Table</summary>", "", table, "", "</details>"]
    else:
        out.append(table)
    out += _unsupported_lines(report)
    return "\n".join(out)


def _node_time_note(report: Report) -> list[str]:
    """Two latencies are shown when nodes were timed: say which is which."""
    if report.timing is None or not any(n.time_ms is not None for n in report.nodes):
        return []
    return [
        "",
        "node ms: each node's median in a node-by-node run (fxcost.time_nodes), summed per row; "
        "the latency above is the whole model's, timed as one call.",
    ]


def _unsupported_lines(report: Report) -> list[str]:
    missing = report.unsupported
    if not missing:
        return []
    lines = ["", f"Unsupported ops (counted as zero; register a rule with fxcost.register_rule): {len(missing)}"]
    lines += [f"  {u.target} x{u.count} (e.g. node {u.example} in '{u.module or '(model)'}')" for u in missing]
    return lines


def csv_text(head: list, rows: list) -> str:
    """Rows as CSV (a spreadsheet's, pandas' ``read_csv``)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return out.getvalue()


_STYLE = (
    "<style>.fxcost td,.fxcost th{padding:2px 8px;text-align:right;font-family:monospace}"
    ".fxcost td:nth-child(-n+2),.fxcost th:nth-child(-n+2){text-align:left}</style>"
)


def _html_table(head: list, rows: list) -> str:
    from html import escape

    def cells(tag: str, row: list) -> str:
        return "".join(f"<{tag}>{escape(str(c)).replace(INDENT, '&nbsp;&nbsp;')}</{tag}>" for c in row)

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table class='fxcost'><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


def _html(report: Report, by: str, depth: int | None, top: int | None, units: str) -> str:
    """A notebook's view: the header line, the table at depth 1, the deeper one folded below."""
    from html import escape

    parts = [_STYLE, f"<p><b>{escape(summary(report, units))}</b></p>"]
    if by == "module":
        parts.append(_html_table(*_rows(report, by, 1, top, units)))
        if depth is None or depth > 1:
            deeper = _html_table(*_rows(report, by, depth, top, units))
            parts.append(f"<details><summary>every module to depth {depth or 'all'}</summary>{deeper}</details>")
    else:
        parts.append(_html_table(*_rows(report, by, depth, top, units)))
    missing = report.unsupported
    if missing:
        listed = ", ".join(f"{u.target} x{u.count}" for u in missing)
        parts.append(f"<p style='color:#b00'>Unsupported ops (counted as zero): {escape(listed)}</p>")
    return "".join(parts)


class Displayed:
    """Notebook display for a result type that renders its own ``table()``: its text table, as
    markdown and as HTML (Jupyter, VS Code)."""

    def table(self, *args: Any, **kwargs: Any) -> str:  # pragma: no cover - each result defines it
        raise NotImplementedError

    def _repr_markdown_(self) -> str:
        return self.table(fmt="github")

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre class='fxcost'>{escape(self.table())}</pre>"

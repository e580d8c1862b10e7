"""Tables and numbers for people: SI units (the seed's k ... Y) and tabulate tables."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

_PREFIXES = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"]


def si(value: float | None, unit: str = "", digits: int = 2) -> str:
    """1234567 -> '1.23 M' (+unit). Powers of 1000 up to Y (10^24), as in the seed's table."""
    if value is None:
        return "-"
    v = float(value)
    i = 0
    while abs(v) >= 1000 and i < len(_PREFIXES) - 1:
        v /= 1000
        i += 1
    if i == 0 and float(value).is_integer():
        return f"{int(value)}{' ' + unit if unit else ''}"
    return f"{v:.{digits}f} {_PREFIXES[i]}{unit}".rstrip()


def render(report: Any, by: str = "module", depth: int | None = 2, fmt: str = "plain", **kw: Any) -> str:
    """A basic table of the report; the CLI issue extends this."""
    tablefmt = "github" if fmt == "github" else "simple"
    if by == "operator":
        rows = [[r.op, r.count, si(r.cost.macs), si(r.cost.flops)] for r in report.by_operator()]
        return tabulate(rows, ["op", "count", "MACs", "FLOPs"], tablefmt=tablefmt, colalign=("left", "right", "right", "right"))
    rows = [["  " * r.depth + r.name, r.type, si(r.params), si(r.cost.macs), si(r.cost.flops)]
            for r in report.by_module(depth)]
    return tabulate(rows, ["module", "type", "params", "MACs", "FLOPs"], tablefmt=tablefmt,
                    colalign=("left", "left", "right", "right", "right"))

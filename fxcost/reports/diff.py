"""Compare two reports: per-module and total deltas, added and removed modules, a CI gate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .format import grid, number
from .report import Report

_KEYS = ("macs", "flops", "params")
_LABEL = {"macs": "MACs", "flops": "FLOPs"}


@dataclass
class Diff:
    """Deltas from ``base`` to ``head``."""

    base: Report
    head: Report
    rows: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def of(base: Report, head: Report, depth: int | None = None) -> Diff:
        def table(r: Report) -> dict[str, dict[str, Any]]:
            return {
                m.path: {"type": m.type, "macs": m.cost.macs, "flops": m.cost.flops, "params": m.params}
                for m in r.by_module(depth)
            }

        b, h = table(base), table(head)
        rows = []
        for path in list(b) + [p for p in h if p not in b]:
            old, new = b.get(path), h.get(path)
            status = "removed" if new is None else "added" if old is None else "changed"
            row: dict[str, Any] = {"module": path or "(model)", "status": status}
            for k in _KEYS:
                row[k] = _delta((old or {}).get(k, 0), (new or {}).get(k, 0))
            if status != "changed" or any(row[k]["delta"] for k in _KEYS):
                rows.append(row)
        return Diff(base, head, rows)

    def growth_pct(self) -> float:
        """The larger relative growth of total MACs and FLOPs, in percent."""
        b, h = self.base.total, self.head.total
        grow = [_pct(b.macs, h.macs), _pct(b.flops, h.flops)]
        return max(float("inf") if g is None else g for g in grow)

    def to_dict(self) -> dict[str, Any]:
        b, h = self.base.total, self.head.total
        total = {k: _delta(getattr(b, k), getattr(h, k)) for k in ("macs", "flops")}
        total["params"] = _delta(self.base.params, self.head.params)
        return {"total": total, "modules": self.rows}

    def render(self, fmt: str = "plain", units: str = "si") -> str:
        """The totals' change in one line, then a row per module (``fmt``: plain, github or json)."""
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=1)
        d = self.to_dict()["total"]
        line = ", ".join(
            f"{_LABEL.get(k, k)} {number(v['base'], units)} -> {number(v['head'], units)} "
            f"({_signed(v['delta'], units)}, {_fmt_pct(v['pct'])})"
            for k, v in d.items()
        )
        head = ["module", "status", *_COLUMNS]
        rows = [[r["module"], r["status"], *_cells(r, units)] for r in self.rows]
        align = ("left", "left") + ("right",) * len(_COLUMNS)
        if fmt == "github":
            table = grid(rows, head, "github", align)
            body = ["**fxcost diff** · " + line, ""]
            if not rows:
                return "\n".join(body + ["No module changed."])
            if len(rows) > 25:
                return "\n".join(body + ["<details><summary>Changed modules</summary>", "", table, "", "</details>"])
            return "\n".join(body + [table])
        if not rows:
            return line + "\n\nNo module changed."
        return line + "\n\n" + grid(rows, head, "plain", align)


_COLUMNS = ("MACs", "ΔMACs", "FLOPs", "ΔFLOPs", "Δ%", "params", "Δparams")


def _cells(row: dict[str, Any], units: str) -> list[str]:
    """The ``_COLUMNS`` of a row of deltas (a module's, or a model's in a sweep)."""
    macs, flops, params = row["macs"], row["flops"], row["params"]
    return [
        number(macs["head"], units),
        _signed(macs["delta"], units),
        number(flops["head"], units),
        _signed(flops["delta"], units),
        _fmt_pct(flops["pct"]),
        number(params["head"], units),
        _signed(params["delta"], units),
    ]


def _delta(old: float, new: float) -> dict[str, Any]:
    return {"base": old, "head": new, "delta": new - old, "pct": _pct(old, new)}


def _pct(old: float, new: float) -> float | None:
    if old == 0:
        return 0.0 if new == 0 else None
    return 100.0 * (new - old) / old


def _fmt_pct(p: float | None) -> str:
    return "new" if p is None else f"{p:+.2f}%"


def _signed(v: float, units: str) -> str:
    if v == 0:
        return "0"
    return ("+" if v > 0 else "-") + number(abs(v), units)


@dataclass
class SweepDiff:
    """Deltas between two sweeps' rows (``fxcost sweep`` JSON lines), model by model: what two
    fxcost versions, or two versions of a zoo, say each model costs."""

    rows: list[dict[str, Any]]

    @staticmethod
    def of(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> SweepDiff:
        b, h = {r["target"]: r for r in base}, {r["target"]: r for r in head}
        rows = []
        for target in sorted(b.keys() | h.keys()):  # a sweep's rows are in the order they finished
            old, new = b.get(target, {}), h.get(target, {})
            row: dict[str, Any] = {
                "model": target,
                "base": old.get("status", "absent"),
                "head": new.get("status", "absent"),
            }
            for k in _KEYS:
                row[k] = _delta(old.get(k) or 0, new.get(k) or 0)
            if row["base"] != row["head"] or any(row[k]["delta"] for k in _KEYS):
                rows.append(row)
        return SweepDiff(rows)

    def growth_pct(self) -> float:
        """The largest relative growth of any model's MACs or FLOPs, in percent (0 if none)."""
        grow = [g for r in self.rows if r["base"] == r["head"] == "ok" for g in (r["macs"]["pct"], r["flops"]["pct"])]
        return max([0.0] + [float("inf") if g is None else g for g in grow])

    def render(self, fmt: str = "plain", units: str = "si") -> str:
        """A row per model whose status or figures changed (``fmt``: plain, github or json)."""
        if fmt == "json":
            return json.dumps({"models": self.rows}, indent=1)
        if not self.rows:
            return "No model changed."
        rows = [
            [r["model"], r["head"] if r["base"] == r["head"] else f"{r['base']} -> {r['head']}", *_cells(r, units)]
            for r in self.rows
        ]
        table = grid(
            rows,
            ["model", "status", *_COLUMNS],
            "github" if fmt == "github" else "plain",
            ("left", "left") + ("right",) * len(_COLUMNS),
        )
        return f"{len(self.rows)} model(s) changed\n\n{table}"

"""Command line: the table of every cost rule, written from the rules' own docstrings, so that the
documentation is the code (``fxcost rules``; the documentation's rules page, docs/pages/rules.md,
which a test keeps equal to it)."""

from __future__ import annotations

import operator
from typing import Any

import torch
from tabulate import tabulate
from torch import nn

from ..rules.registry import REGISTRY, Registry

#: The rule families in the order the table lists them (``fxcost/rules/<family>.py``).
FAMILIES = (
    "linear",
    "conv",
    "attention",
    "activation",
    "norm",
    "pool",
    "elementwise",
    "reduce",
    "fft",
    "linalg",
    "loss",
    "recurrent",
    "shape",
    "aten",
    "collective",
    "vision",
)
_MAX_FORMS = 6
_DUNDER_ONLY = {"rmatmul"}


def _form(target: Any) -> str | None:
    """How users spell a target: ``nn.Linear``, ``F.linear``, ``torch.mm``, ``.relu``,
    ``aten.convolution``, ``ns::op``; None for in-place and dunder duplicates."""
    if isinstance(target, str):
        if "::" in target:
            return target
        if target.startswith("__") and target.endswith("__") and target[2:-2] in _DUNDER_ONLY:
            return f".{target}"  # an op with no other spelling
        return None if target.endswith("_") or target.startswith("__") else f".{target}"
    if isinstance(target, type) and issubclass(target, nn.Module):
        if target.__module__.startswith("torch.nn"):
            return f"nn.{target.__name__}"
        if target.__module__.startswith("torch.ao.nn.quantized"):
            return f"torch.ao.nn.quantized.{target.__name__}"
        return f"torchvision.ops.{target.__name__}" if target.__module__.startswith("torchvision") else target.__name__
    if isinstance(target, (torch._ops.OpOverloadPacket, torch._ops.OpOverload)):
        return f"aten.{target.__name__.split('.')[0]}" if "aten" in str(target) else str(target)
    name = getattr(target, "__name__", None)
    if name is None or name.endswith("_") or name.startswith("__"):
        return None
    module = getattr(target, "__module__", None) or ""
    if target in vars(operator).values():
        return f"operator.{name}"
    if getattr(torch.nn.functional, name, None) is target or (module == "torch._C._nn" and name == "log_sigmoid"):
        return f"F.{name}"
    if getattr(torch, name, None) is target:
        return f"torch.{name}"
    for owner, prefix in (
        (torch.special, "special_"),
        (torch.linalg, "linalg_"),
        (torch.fft, "fft_"),
        (torch.sparse, "sparse_"),
        (torch.sparse, ""),
    ):
        if getattr(owner, name.removeprefix(prefix), None) is target:
            return f"{owner.__name__}.{name.removeprefix(prefix)}"
    if module.startswith("torchvision"):
        return f"torchvision.ops.{name}"
    return f"{module}.{name}" if module else name


def _load_optional() -> None:
    """The modules whose ops get rules once loaded (torchvision's, ``ep.module()``'s guards):
    loaded here, so that the table is the same wherever it is written."""
    import torch.export._unlift  # noqa: F401

    from ..zoo.targets import import_torchvision

    try:
        import_torchvision()
    except ImportError:  # not installed: its rows are left out
        pass


def rule_rows(registry: Registry | None = None) -> list[list[str]]:
    """[family, op, forms, cost] per rule function, in family order."""
    _load_optional()
    registry = registry or REGISTRY
    registry._ready()
    rules: dict[Any, list] = {}
    for store in ("_modules", "_functions", "_ops", "_methods"):
        for target, entry in getattr(registry, store).items():
            row = rules.setdefault(entry.rule, [entry.op, []])
            form = _form(target)
            if form is not None and form not in row[1]:
                row[1].append(form)
    rows = []
    for rule, (op, forms) in rules.items():
        family = rule.__module__.rsplit(".", 1)[-1]
        shown = ", ".join(f"`{f}`" for f in forms[:_MAX_FORMS]) + (
            f" (+{len(forms) - _MAX_FORMS})" if len(forms) > _MAX_FORMS else ""
        )
        doc = " ".join((rule.__doc__ or "").split()).replace("|", "\\|")
        rows.append([family, op, shown, doc])
    order = {f: i for i, f in enumerate(FAMILIES)}
    return sorted(rows, key=lambda r: order.get(r[0], len(order)))


def rule_table(registry: Registry | None = None, fmt: str = "github") -> str:
    """The rules as a table: ``fmt`` "github" (unpadded markdown, the rules page's) or any tabulate
    format."""
    head = ["family", "op", "forms", "cost (the rule's docstring)"]
    rows = rule_rows(registry)
    if fmt == "github":
        return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * 4, *rows])
    return tabulate([[c.replace("`", "") for c in r] for r in rows], head, tablefmt=fmt, disable_numparse=True)


BEGIN, END = "<!-- rules:begin (written by `python -m fxcost.cli.docs docs/pages/rules.md`) -->", "<!-- rules:end -->"


def rules_block(text: str) -> str | None:
    """The rules table as it stands in a page's text, or None without the markers."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def write_rules(path: str) -> None:
    """Rewrite the rules table between the markers of ``path``."""
    with open(path) as f:
        text = f.read()
    if rules_block(text) is None:
        raise SystemExit(f"{path} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + rule_table() + "\n" + END + rest.split(END, 1)[1])


if __name__ == "__main__":
    import sys

    write_rules(sys.argv[1] if len(sys.argv) > 1 else "docs/pages/rules.md")

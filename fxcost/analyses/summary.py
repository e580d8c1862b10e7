"""``fxcost.summary``: torchinfo's ``summary`` call and layout, with fxcost's numbers.

    from fxcost import summary        # in place of: from torchinfo import summary
    summary(model, input_size=(1, 3, 224, 224), depth=3, col_names=("output_size", "num_params"))

The same signature, rows (each module in the model's order, ``├─Type: depth-index``) and totals
block, but the mult-adds are fxcost's: every op counted, functional ones too, so a module whose
work is its own code (a ViT's attention, computed by ``scaled_dot_product_attention`` in the
block's forward) shows it, where torchinfo counts only the layers it hooks. A row whose children
are shown lists its own parameters and MACs (its code's, outside the children; ``--`` when there
are none), a row at the depth limit its whole subtree's: the column sums to the total. The
"Forward/backward pass size" is the training step's peak memory above the weights (activations,
temporaries and gradients live then: ``profile(backward=True, memory=True)``), not torchinfo's
sum of the outputs' sizes; a model with nothing to train gets its forward's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.errors import FxcostError
from ..core.walk import tensors
from ..pipeline.run import module_calls
from ..reports.format import Displayed
from .profile import profile

#: torchinfo's column names, in its order
COLUMNS = ("input_size", "output_size", "num_params", "params_percent", "kernel_size", "mult_adds", "trainable")
_HEADS = {
    "input_size": "Input Shape",
    "output_size": "Output Shape",
    "num_params": "Param #",
    "params_percent": "Param %",
    "kernel_size": "Kernel Shape",
    "mult_adds": "Mult-Adds",
    "trainable": "Trainable",
}
_WIDTH = 25


@dataclass
class ModelStatistics(Displayed):
    """What ``summary`` returns (torchinfo's name): the table (``str()``), and its totals."""

    model: str
    rows: list[list[str]]
    columns: list[str]
    total_params: int
    trainable_params: int
    total_mult_adds: int
    input_bytes: int
    forward_backward_bytes: int
    params_bytes: int
    col_width: int = _WIDTH
    report: Any = field(default=None, repr=False)  # the fxcost Report behind it

    @property
    def estimated_total_bytes(self) -> int:
        return self.input_bytes + self.forward_backward_bytes + self.params_bytes

    def table(self, fmt: str = "plain") -> str:
        """torchinfo's layout (``fmt`` is accepted for the notebook display; the text is one)."""
        widths = [max(40, *(len(r[0]) for r in self.rows))] + [self.col_width] * len(self.columns)
        rule = "=" * sum(widths)
        head = ["Layer (type:depth-idx)", *(_HEADS[c] for c in self.columns)]
        line = lambda cells: " ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        mb = lambda b: f"{b / 1e6:.2f}"  # noqa: E731
        out = [rule, line(head), rule, *(line(r) for r in self.rows), rule]
        out += [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total mult-adds ({_unit(self.total_mult_adds)[1]}): {_unit(self.total_mult_adds)[0]}",
            rule,
            f"Input size (MB): {mb(self.input_bytes)}",
            f"Forward/backward pass size (MB): {mb(self.forward_backward_bytes)}",
            f"Params size (MB): {mb(self.params_bytes)}",
            f"Estimated Total Size (MB): {mb(self.estimated_total_bytes)}",
            rule,
        ]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    __repr__ = __str__


def _unit(n: int) -> tuple[str, str]:
    """torchinfo's mult-adds unit: M below a giga, G below a tera, else T."""
    for div, unit in ((1e12, "T"), (1e9, "G")):
        if n >= div:
            return f"{n / div:.2f}", unit
    return f"{n / 1e6:.2f}", "M"


def _inputs(
    input_size: Any, input_data: Any, dtypes: Sequence[torch.dtype] | None, batch_dim: int | None
) -> tuple[tuple, dict]:
    """torchinfo's inputs: ``input_data`` as given (a tensor, a list of them, or a dict of
    keyword inputs), else zeros of each ``input_size`` (one shape, or a list of shapes) in
    ``dtypes`` (default float32), a batch of 1 inserted at ``batch_dim`` when given."""
    if input_data is not None:
        if isinstance(input_data, dict):
            return (), dict(input_data)
        return (tuple(input_data) if isinstance(input_data, (list, tuple)) else (input_data,)), {}
    if input_size is None:
        raise FxcostError("summary needs input_size or input_data. Fix: summary(model, input_size=(1, 3, 224, 224)).")
    sizes = [input_size] if input_size and isinstance(input_size[0], int) else list(input_size)
    dtypes = list(dtypes) if dtypes else [torch.float32] * len(sizes)
    out = []
    for size, dtype in zip(sizes, dtypes):
        shape = list(size)
        if batch_dim is not None:
            shape.insert(batch_dim, 1)
        out.append(torch.zeros(shape, dtype=dtype, device="meta"))
    return tuple(out), {}


def _shape(shapes: list[list[int]]) -> str:
    """One call's tensors' shapes, as torchinfo writes them."""
    if not shapes:
        return "--"
    return str(shapes[0]) if len(shapes) == 1 else ", ".join(str(s) for s in shapes)


def summary(
    model: nn.Module,
    input_size: Any = None,
    input_data: Any = None,
    batch_dim: int | None = None,
    col_names: Sequence[str] | None = None,
    col_width: int = _WIDTH,
    depth: int = 3,
    device: Any = None,
    dtypes: Sequence[torch.dtype] | None = None,
    mode: str | None = None,
    row_settings: Sequence[str] | None = None,
    verbose: int = 1,
    **kwargs: Any,
) -> ModelStatistics:
    """torchinfo's ``summary``, with fxcost's counts: prints the table (``verbose`` 1, the
    default; 0 prints nothing) and returns it as ``ModelStatistics``. ``col_names`` from
    ``input_size``, ``output_size``, ``num_params``, ``params_percent``, ``kernel_size``,
    ``mult_adds``, ``trainable`` (default output size and parameters); ``row_settings``
    ``("var_names",)`` adds each module's attribute name; ``kwargs`` are more keyword inputs of
    the forward. ``device`` and ``mode`` are accepted for torchinfo's calls: fxcost counts on meta
    stand-ins in the model's own mode, and leaves the model as it was."""
    columns = list(col_names) if col_names is not None else ["output_size", "num_params"]
    for c in columns:
        if c not in COLUMNS:
            raise FxcostError(f"unknown column '{c}'. Fix: col_names from {', '.join(COLUMNS)}.")
    args, named = _inputs(input_size, input_data, dtypes, batch_dim)
    named = {**named, **kwargs}
    report = profile(model, args, named)
    trainable = any(p.requires_grad for p in model.parameters())
    step = profile(model, args, named, backward=trainable, memory=True).memory
    assert step is not None
    resident = step.breakdown["params"] + step.breakdown["buffers"]
    params_bytes = step.breakdown["params"]  # torchinfo's "Params size": the parameters alone
    costs = {r.path: r.cost.macs for r in report.by_module(None)}
    modules = dict(model.named_modules())
    names = "var_names" in (row_settings or ())
    rows = []
    index: dict[int, int] = {}  # rows numbered per depth, as torchinfo's depth-idx
    seen: set[str] = set()
    calls = module_calls(model, args, named)
    if not calls or calls[0][0]:  # the model's own call first, as torchinfo's first row
        calls.insert(0, ("", [list(t.shape) for t in tensors((args, named))], []))
    for path, ins, outs in calls:
        d = path.count(".") + 1 if path else 0
        if d > depth:
            continue
        module = modules.get(path)
        mtype, params = report.modules.get(path, (type(module).__name__, 0))
        label = mtype
        if path:
            index[d] = index.get(d, 0) + 1
            glyph = "├─" if d == 1 else "│    " * (d - 2) + "│    └─"
            label = f"{glyph}{mtype}" + (f" ({path.rsplit('.', 1)[-1]})" if names else "") + f": {d}-{index[d]}"
        shown = d < depth and module is not None and any(True for _ in module.children())
        own = sum(p.numel() for p in module.parameters(recurse=False)) if module is not None else 0
        count = own if shown else params
        children = sum(v for c, v in costs.items() if c and c.rpartition(".")[0] == path and c != path)
        macs = costs.get(path, 0) - (children if shown else 0)
        again = path in seen  # a module called again: its parameters and work are on its first row
        seen.add(path)
        cells = {
            "input_size": _shape(ins),
            "output_size": _shape(outs),
            "num_params": "(recursive)" if again and count else _params(count, module, shown),
            "params_percent": f"{100 * count / max(report.params, 1):.2f}%" if count and not again else "--",
            "kernel_size": _kernel(module),
            "mult_adds": f"{macs:,}" if macs and not again else "--",
            "trainable": _trainable(module),
        }
        rows.append([label, *(cells[c] for c in columns)])
    total = report.params
    stats = ModelStatistics(
        report.model,
        rows,
        columns,
        total,
        sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values()),
        report.total.macs,
        sum(t.numel() * t.element_size() for t in [*args, *named.values()] if isinstance(t, torch.Tensor)),
        max(step.peak_bytes - resident, 0),
        params_bytes,
        col_width,
        report,
    )
    if verbose:
        print(stats)
    return stats


def _params(count: int, module: nn.Module | None, own: bool) -> str:
    """A row's parameters; in parentheses when none of them trains (as torchinfo writes frozen ones)."""
    if not count:
        return "--"
    frozen = module is not None and not any(p.requires_grad for p in module.parameters(recurse=not own))
    return f"({count:,})" if frozen else f"{count:,}"


def _kernel(module: nn.Module | None) -> str:
    """A convolution's kernel as its weight's spatial shape, a pooling's as it is given."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return str(list(module.weight.shape[2:]))
    size = getattr(module, "kernel_size", None)
    return str(size) if size is not None else "--"


def _trainable(module: nn.Module | None) -> str:
    params = list(module.parameters()) if module is not None else []
    if not params:
        return "--"
    grads = {p.requires_grad for p in params}
    return "Partial" if len(grads) == 2 else str(grads.pop())


__all__ = ["summary", "ModelStatistics"]

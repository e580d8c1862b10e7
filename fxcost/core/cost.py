"""Core types: the cost of one op (or of many summed), and the record of one costed node."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch.fx.experimental.symbolic_shapes import guard_or_false, statically_known_true


@dataclass(frozen=True)
class Cost:
    """FLOPs, MACs and bytes moved by one op or a sum of ops.

    ``macs`` counts multiply-accumulates of dot products only (linear, conv, matmul, attention).
    ``flops`` counts every floating-point operation under the chosen convention (see README).
    ``bytes_read`` / ``bytes_written`` are the sizes of the op's input and output tensors (and a
    module's own parameters), a lower bound on memory traffic.
    """

    flops: int = 0
    macs: int = 0
    bytes_read: int = 0
    bytes_written: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.flops + other.flops,
            self.macs + other.macs,
            self.bytes_read + other.bytes_read,
            self.bytes_written + other.bytes_written,
        )

    @property
    def bytes(self) -> int:
        """Total bytes moved (read + written)."""
        return self.bytes_read + self.bytes_written

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Cost:
        return cls(**{f.name: int(d.get(f.name, 0)) for f in fields(cls)})


ZERO = Cost()


# Sizes may be symbolic (``fxcost.formula``: torch.SymInt). These helpers compute with them
# without adding a guard to the shape environment, which would narrow the formula.
def as_int(v: Any) -> Any:
    """``int(v)`` for plain numbers; a SymInt stays symbolic."""
    return v if isinstance(v, torch.SymInt) else int(v)


def known_zero(v: Any) -> bool:
    """True when ``v`` is 0 (a symbolic ``v``: provably 0, never assumed)."""
    return guard_or_false(v == 0) if isinstance(v, torch.SymInt) else v == 0


def sym_min(a: Any, b: Any) -> Any:
    """min(a, b); symbolic: the smaller where provable, else a Min expression."""
    if not isinstance(a, torch.SymInt) and not isinstance(b, torch.SymInt):
        return min(a, b)
    if statically_known_true(a <= b):
        return a
    if statically_known_true(b <= a):
        return b
    return torch.sym_min(a, b)


def sym_max(a: Any, b: Any) -> Any:
    """max(a, b); symbolic: the larger where provable, else a Max expression."""
    if not isinstance(a, torch.SymInt) and not isinstance(b, torch.SymInt):
        return max(a, b)
    if statically_known_true(a >= b):
        return a
    if statically_known_true(b >= a):
        return b
    return torch.sym_max(a, b)


@dataclass
class NodeRecord:
    """One costed graph node."""

    name: str
    kind: str  # call_module / call_function / call_method
    target: str
    op: str | None  # the rule's op name; None when no rule matched
    module: str  # dotted module path ("" = the model itself)
    module_type: str
    input_shapes: list[list[int]]
    output_shapes: list[list[int]]
    cost: Cost
    time_ms: float | None = None
    phase: str = "forward"  # "backward" for nodes of a training step's backward graph

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cost"] = self.cost.to_dict()
        if self.time_ms is None:
            del d["time_ms"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NodeRecord:
        d = dict(d)
        d["cost"] = Cost.from_dict(d["cost"])
        return cls(**d)

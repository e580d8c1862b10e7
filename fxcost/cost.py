"""Core types: the cost of one op (or of many summed), and the record of one costed node."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


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

    def __add__(self, other: "Cost") -> "Cost":
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
    def from_dict(cls, d: dict) -> "Cost":
        return cls(**{f.name: int(d.get(f.name, 0)) for f in fields(cls)})


ZERO = Cost()


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
    def from_dict(cls, d: dict) -> "NodeRecord":
        d = dict(d)
        d["cost"] = Cost.from_dict(d["cost"])
        return cls(**d)

"""Collectives (``torch.distributed``'s functional collectives, as DTensor, FSDP2 and
``profile_parallel`` run them): communication, not arithmetic. They count zero FLOPs (the sums
of a reduction are NCCL's, on the wire's side of the ledger) and move their buffers; the bytes
each sends are in ``profile_parallel``'s collectives table."""

from __future__ import annotations

from ._common import per_element

_NS = ("_c10d_functional", "c10d_functional", "_c10d_functional_autograd")
COLLECTIVES = ("all_reduce", "all_reduce_", "all_reduce_coalesced", "all_gather_into_tensor",
               "all_gather_into_tensor_coalesced", "reduce_scatter_tensor", "reduce_scatter_tensor_coalesced",
               "all_to_all_single", "broadcast", "broadcast_")
per_element("collective", 0, *[f"{ns}::{op}" for ns in _NS for op in COLLECTIVES],
            why="communication: bytes, no arithmetic")
per_element("view", 0, *[f"{ns}::{op}" for ns in _NS for op in ("wait_tensor", "_wrap_tensor_autograd")],
            moves_data=False, why="waits for a collective's result: no work")

"""Collectives (``torch.distributed``'s functional collectives and the c10d ops FSDP2 calls, as
DTensor, FSDP2 and ``profile_parallel`` run them): communication, not arithmetic. They count zero
FLOPs (a reduction's sums are NCCL's, on the wire's side of the ledger) and move their buffers;
the bytes each rank sends are in ``profile_parallel``'s collectives table."""

from __future__ import annotations

from ._common import per_element

_FUNCTIONAL = (
    "all_reduce",
    "all_reduce_",
    "all_reduce_coalesced",
    "all_gather_into_tensor",
    "all_gather_into_tensor_coalesced",
    "reduce_scatter_tensor",
    "reduce_scatter_tensor_coalesced",
    "all_to_all_single",
    "broadcast",
    "broadcast_",
)
_C10D = (
    "allreduce_",
    "allreduce_coalesced_",
    "_allgather_base_",
    "allgather_",
    "allgather_into_tensor_coalesced_",
    "_reduce_scatter_base_",
    "reduce_scatter_",
    "reduce_scatter_tensor_coalesced_",
    "alltoall_base_",
    "broadcast_",
)
_NS = ("_c10d_functional", "c10d_functional", "_c10d_functional_autograd")
per_element(
    "collective",
    0,
    *[f"{ns}::{op}" for ns in _NS for op in _FUNCTIONAL],
    *[f"c10d::{op}" for op in _C10D],
    why="communication: bytes, no arithmetic",
)
per_element(
    "wait",
    0,
    *[f"{ns}::{op}" for ns in _NS for op in ("wait_tensor", "_wrap_tensor_autograd")],
    moves_data=False,
    why="waits for a collective's result: no work",
)
per_element(
    "copy",
    0,
    "fsdp::all_gather_copy_in",
    "fsdp::split_with_sizes_copy",
    "fsdp::chunk_cat",
    why="FSDP2's packing of shards into collective buffers: bytes only",
)

"""Dot-product ops: linear, bilinear, matmul and friends, einsum.

MACs = outputs x length of each dot product. FLOPs via ``OpCall.dots`` (the one place the
2n-1 vs 2n convention lives), plus one add per output for a bias.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.cost import Cost
from .registry import OpCall, register_rule


def _bias_flops(call: OpCall) -> int:
    return call.y.numel() if call.arg("bias") is not None else 0


def _linear_shape(call: OpCall) -> torch.Tensor | None:
    """[..., in] x [out, in]^T -> [..., out], contiguous; None (run the kernel) unless the input
    is contiguous and the weight, bias and dtypes fit."""
    x, w, b = call.x, call.arg("weight"), call.arg("bias")
    if not isinstance(w, torch.Tensor) or w.dim() != 2 or x.dim() < 1 or x.shape[-1] != w.shape[1]:
        return None
    if x.dtype != w.dtype or not x.is_contiguous():
        return None
    if b is not None and (not isinstance(b, torch.Tensor) or tuple(b.shape) != (w.shape[0],) or b.dtype != x.dtype):
        return None
    return torch.empty((*x.shape[:-1], w.shape[0]), dtype=x.dtype, device="meta")


@register_rule(nn.Linear, F.linear, "linear", shape=_linear_shape)
def linear(call: OpCall) -> Cost:
    """y = x Wᵀ + b: out.numel dot products of in_features (+ out.numel with a bias)."""
    in_features = call.arg("weight").shape[-1]
    out = call.y.numel()
    return call.dots(out * in_features, out) + Cost(flops=_bias_flops(call))


@register_rule(nn.Bilinear, F.bilinear)
def bilinear(call: OpCall) -> Cost:
    """y_k = x1ᵀ W_k x2 + b_k: a dot product of in1·in2 per output, as fvcore and ptflops count
    it (+ out.numel with a bias)."""
    w = call.arg("weight")
    out = call.y.numel()
    return call.dots(out * w.shape[1] * w.shape[2], out) + Cost(flops=_bias_flops(call))


@register_rule(
    torch.matmul,
    operator.matmul,
    torch.mm,
    torch.bmm,
    torch.mv,
    torch.dot,
    torch.vdot,
    torch.inner,
    torch.linalg.matmul,
    "matmul",
    "__matmul__",
    "mm",
    "bmm",
    "mv",
    "dot",
    "vdot",
    "inner",
)
def matmul(call: OpCall) -> Cost:
    """a @ b with broadcasting (mm, bmm, mv, dot, vdot, inner): out.numel dot products of
    a.shape[-1] (1-D cases included); a 0-d operand of ``inner`` is a product per output."""
    out = call.y.numel()
    x = call.x
    return call.dots(out * (x.shape[-1] if x.dim() else 1), out)


@register_rule(torch.linalg.vecdot)
def vecdot(call: OpCall) -> Cost:
    """out.numel dot products along ``dim`` (the operands broadcast)."""
    dim, out = call.arg("dim", -1), call.y.numel()
    return call.dots(out * max(t.shape[dim] for t in call.inputs[:2]), out)


@register_rule("__rmatmul__")
def rmatmul(call: OpCall) -> Cost:
    """b @ a, written ``a.__rmatmul__(b)``: out.numel dot products of b.shape[-1]."""
    out = call.y.numel()
    other = call.inputs[1]
    return call.dots(out * other.shape[-1], out)


@register_rule(torch.outer, torch.ger, torch.kron, "outer", "ger", "kron")
def outer(call: OpCall) -> Cost:
    """outer (ger) and kron: one product per output (dot products of length 1)."""
    out = call.y.numel()
    return call.dots(out, out)


def _first(call: OpCall, *names: str) -> torch.Tensor:
    for name in names:
        t = call.arg(name)
        if t is not None:
            return t
    raise ValueError(f"{call.target} has none of {names}")


@register_rule(
    torch.addmm,
    torch.baddbmm,
    torch.addmv,
    torch.addr,
    "addmm",
    "addmm_",
    "baddbmm",
    "baddbmm_",
    "addmv",
    "addmv_",
    "addr",
    "addr_",
)
def addmm(call: OpCall) -> Cost:
    """input + m1 @ m2 (addmm, baddbmm, addmv; addr: input + outer(v1, v2)): a matmul plus one
    add per output."""
    m1 = _first(call, "mat1", "batch1", "mat", "vec1")
    k = 1 if m1.dim() == 1 else m1.shape[-1]  # addr: vec1 is 1-D, a product per output
    out = call.y.numel()
    return call.dots(out * k, out) + Cost(flops=out)


@register_rule(torch.addbmm, "addbmm", "addbmm_")
def addbmm(call: OpCall) -> Cost:
    """input + Σ_b batch1[b] @ batch2[b]: out.numel dot products of b·m (the batch summed
    into each), plus one add per output."""
    b1 = call.arg("batch1")
    out = call.y.numel()
    return call.dots(out * b1.shape[0] * b1.shape[-1], out) + Cost(flops=out)


def _contracted(a: torch.Tensor, dims: Any) -> int:
    """The contracted size of ``tensordot(a, b, dims)``: the last ``dims`` of a, or a's dims listed."""
    if isinstance(dims, torch.Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        return math.prod(a.shape[a.dim() - dims :])
    first = dims[0]
    return math.prod(a.shape[d] for d in ([first] if isinstance(first, int) else first))


@register_rule(torch.tensordot, torch.functional.tensordot, "tensordot")
def tensordot(call: OpCall) -> Cost:
    """out.numel dot products of the contracted size (the product of a's contracted dims)."""
    a = call.arg("a")
    a = call.x if a is None else a
    dims = call.arg("dims", 2)
    out = call.y.numel()
    return call.dots(out * _contracted(a, dims), out)


def _chain_macs(shapes: list[tuple[int, int]]) -> tuple[int, int]:
    """(MACs, outputs) of multiplying matrices of ``shapes`` in the cheapest order (the matrix
    chain order linalg.multi_dot chooses)."""
    n = len(shapes)
    dims = [shapes[0][0]] + [s[1] for s in shapes]
    best = [[(0, 0)] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            best[i][j] = min(
                (
                    best[i][k][0] + best[k + 1][j][0] + dims[i] * dims[k + 1] * dims[j + 1],
                    best[i][k][1] + best[k + 1][j][1] + dims[i] * dims[j + 1],
                )
                for k in range(i, j)
            )
    return best[0][n - 1]


@register_rule(torch.linalg.multi_dot, torch.chain_matmul, "multi_dot", "chain_matmul")
def multi_dot(call: OpCall) -> Cost:
    """Matrices multiplied in the cheapest order (a first 1-D operand is a row, a last one a
    column, as linalg.multi_dot does): each product's dot products."""
    mats = call.inputs
    shapes = [
        (1, t.shape[0]) if t.dim() == 1 and i == 0 else (t.shape[0], 1) if t.dim() == 1 else (t.shape[-2], t.shape[-1])
        for i, t in enumerate(mats)
    ]
    if len(shapes) == 1:
        return Cost()
    macs, outs = _chain_macs(shapes)
    return call.dots(macs, outs)


@register_rule(torch.linalg.matrix_power, torch.matrix_power, "matrix_power")
def matrix_power(call: OpCall) -> Cost:
    """A^n by repeated squaring: ⌊log2 |n|⌋ squarings and popcount(|n|) − 1 products, each
    n³ dot products per matrix (a negative n first inverts: ``linalg.inv``)."""
    a, n = call.x, call.arg("n", 1)
    k = abs(int(n))
    products = (k.bit_length() - 1) + (bin(k).count("1") - 1) if k > 1 else 0
    size = a.shape[-1]
    batch = a.numel() // (size * size) if size else 0
    cost = call.dots(products * batch * size**3, products * batch * size * size)
    if n < 0:
        from .linalg import inverse_cost

        cost = cost + inverse_cost(call, a)
    return cost


@register_rule(torch._scaled_mm, *[f for f in (getattr(torch, "_scaled_mm_v2", None),) if f is not None], "_scaled_mm")
def scaled_mm(call: OpCall) -> Cost:
    """fp8 matmul with scales: out.numel dot products of K, a scale multiply per output (+ an
    add per output with a bias). Bytes are read at the operands' own element size (1 for fp8)."""
    out = call.y.numel()
    return call.dots(out * call.x.shape[-1], out) + Cost(flops=out * (2 if call.arg("bias") is not None else 1))


def _grouped_macs(a: torch.Tensor, out: torch.Tensor) -> int:
    """torch._grouped_mm: each output is a dot product over its group's share of K =
    a.shape[-1]. Offsets split M or N (a or b 3-D... 2-D x 3-D: routed tokens times their
    expert's weight) or batch (3-D x 3-D): out.numel dot products of K. 2-D x 2-D (the weight
    gradient of a mixture of experts) splits K itself: out is [groups, M, N] and each k
    belongs to one group, so M x N x K in all."""
    if a.dim() == 2 and out.dim() == 3:
        return out[0].numel() * a.shape[-1]
    return out.numel() * a.shape[-1]


@register_rule(
    *[f for f in (getattr(torch, "_grouped_mm", None), getattr(F, "grouped_mm", None)) if f is not None],
    "transformers::grouped_mm_fallback",
)
def grouped_mm(call: OpCall) -> Cost:
    """Mixture-of-experts grouped matmul (``torch._grouped_mm``, transformers' fallback op):
    out.numel dot products of K (routed tokens × their expert's weight); 2-D × 2-D (the
    weight gradient, K split among groups): M·N·K MACs in all."""
    return call.dots(_grouped_macs(call.x, call.y), call.y.numel())


@register_rule("transformers::grouped_mm_fallback_backward")
def grouped_mm_backward(call: OpCall) -> Cost:
    """grad_input = grad_output @ W[g]^T per token (S x in dot products of out) and
    grad_weight[g] = x[g]^T @ grad_output[g] (in x out products over the group's tokens):
    each S x in x out MACs, counted for the operands that require grad, as autograd's own
    grouped_mm backward computes them (the CPU fallback also computes a frozen expert's weight
    gradient, which autograd then drops: not model FLOPs). Called outside autograd: both."""
    x, w = call.arg("input"), call.arg("weight")
    macs = x.shape[0] * x.shape[1] * w.shape[-1]
    either = not (x.requires_grad or w.requires_grad)
    cost = call.dots(macs, x.numel()) if x.requires_grad or either else Cost()
    return cost + call.dots(macs, w.numel()) if w.requires_grad or either else cost


def _einsum_operands(call: OpCall) -> tuple[str, list]:
    """``einsum(equation, *operands)`` or ``(equation, [operands])``: variadic, read in order."""
    eq, *ops = call.args
    if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
        ops = list(ops[0])
    return eq.replace(" ", ""), ops


@register_rule(torch.einsum, torch.functional.einsum)
def einsum(call: OpCall) -> Cost:
    """Contracted pairwise left to right (torch's order without opt_einsum): each pairwise
    contraction costs the product of the sizes of every index it touches."""
    eq, ops = _einsum_operands(call)
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:  # implicit output: indices that appear once, sorted
        lhs = eq
        letters = lhs.replace(",", "").replace("...", "")
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    ell = 1
    for term, t in zip(terms, ops):
        if "..." in term:
            pre, post = term.split("...")
            n_ell = t.dim() - len(pre) - len(post)
            ell = max(ell, int(torch.Size(t.shape[len(pre) : len(pre) + n_ell]).numel()))
            dims = list(pre) + list(post)
            shape = list(t.shape[: len(pre)]) + list(t.shape[t.dim() - len(post) :])
        else:
            dims, shape = list(term), list(t.shape)
        for c, s in zip(dims, shape):
            sizes[c] = max(sizes.get(c, 1), int(s))
    if len(terms) < 2:  # a single operand: a permutation, diagonal or sum
        return Cost(flops=max(call.x.numel() - call.y.numel(), 0))
    macs = 0
    outputs = 0
    cur = set(terms[0].replace("...", ""))
    for i, term in enumerate(terms[1:], start=1):
        nxt = set(term.replace("...", ""))
        later = set(rhs.replace("...", "")).union(*[set(t) for t in terms[i + 1 :]])
        touched = cur | nxt
        kept = {c for c in touched if c in later}
        step_out = ell
        for c in kept:
            step_out *= sizes[c]
        step = ell
        for c in touched:
            step *= sizes[c]
        macs += step
        outputs += step_out
        cur = kept
    return call.dots(macs, outputs)


def _nnz(t: torch.Tensor) -> int:
    """Stored elements of a sparse tensor (real tensors only: fxcost refuses sparse on meta)."""
    return t._nnz() if t.layout != torch.strided else t.numel()


@register_rule(
    *[
        f
        for f in (
            getattr(torch._C._sparse, "_sparse_mm", None),  # type: ignore[attr-defined]
            getattr(torch.sparse, "mm", None),
            getattr(torch._C._sparse, "sparse_sampled_addmm", None),  # type: ignore[attr-defined]
            getattr(torch.sparse, "sampled_addmm", None),
            getattr(torch.sparse, "addmm", None),
            getattr(torch, "_sparse_mm", None),
            getattr(torch, "smm", None),
            getattr(torch, "hspmm", None),
            getattr(torch, "saddmm", None),
            getattr(torch, "sspaddmm", None),
            getattr(torch, "hsmm", None),
        )
        if f is not None
    ]
)
def sparse_mm(call: OpCall) -> Cost:
    """Sparse × dense: each stored element of the sparse operand multiplies a row of N (MACs
    nnz·N); sampled_addmm computes only the outputs the sparse input stores (nnz dot products
    of K, each scaled and added: + 3·nnz)."""
    sparse = next((t for t in call.inputs if t.layout != torch.strided), call.x)
    if "sampled" in getattr(call.target, "__name__", ""):
        m1 = call.arg("mat1")
        nnz = _nnz(sparse)
        return call.dots(nnz * m1.shape[-1], nnz) + Cost(flops=3 * nnz)
    dense = next((t for t in call.inputs if t is not sparse), call.y)
    n = dense.shape[-1] if dense.dim() else 1
    return call.dots(_nnz(sparse) * n, call.y.numel())

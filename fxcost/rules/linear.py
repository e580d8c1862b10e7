"""Dot-product ops: linear, bilinear, matmul and friends, einsum.

MACs = outputs x length of each dot product. FLOPs via ``OpCall.dots`` (the one place the
2n-1 vs 2n convention lives), plus one add per output for a bias.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

from ..cost import Cost
from ..registry import OpCall, register_rule


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
    torch.matmul, operator.matmul, torch.mm, torch.bmm, "matmul", "__matmul__", "mm", "bmm"
)
def matmul(call: OpCall) -> Cost:
    """a @ b with broadcasting: out.numel dot products of a.shape[-1] (1-D cases included)."""
    out = call.y.numel()
    return call.dots(out * call.x.shape[-1], out)


@register_rule(torch.addmm, torch.baddbmm, "addmm", "addmm_", "baddbmm", "baddbmm_")
def addmm(call: OpCall) -> Cost:
    """input + m1 @ m2 (and baddbmm): a matmul plus one add per output."""
    m1 = call.arg("mat1")
    if m1 is None:  # baddbmm names it batch1
        m1 = call.arg("batch1")
    out = call.y.numel()
    return call.dots(out * m1.shape[-1], out) + Cost(flops=out)


def _grouped_macs(a: torch.Tensor, out: torch.Tensor) -> int:
    """torch._grouped_mm: each output is a dot product over its group's share of K =
    a.shape[-1]. Offsets split M or N (a or b 3-D... 2-D x 3-D: routed tokens times their
    expert's weight) or batch (3-D x 3-D): out.numel dot products of K. 2-D x 2-D (the weight
    gradient of a mixture of experts) splits K itself: out is [groups, M, N] and each k
    belongs to one group, so M x N x K in all."""
    if a.dim() == 2 and out.dim() == 3:
        return out[0].numel() * a.shape[-1]
    return out.numel() * a.shape[-1]


@register_rule(*[f for f in (getattr(torch, "_grouped_mm", None), getattr(F, "grouped_mm", None)) if f is not None],
               "transformers::grouped_mm_fallback")
def grouped_mm(call: OpCall) -> Cost:
    """Mixture-of-experts grouped matmul (``torch._grouped_mm``, transformers' fallback op):
    out.numel dot products of K (routed tokens × their expert's weight); 2-D × 2-D (the
    weight gradient, K split among groups): M·N·K MACs in all."""
    return call.dots(_grouped_macs(call.x, call.y), call.y.numel())


@register_rule("transformers::grouped_mm_fallback_backward")
def grouped_mm_backward(call: OpCall) -> Cost:
    """grad_input = grad_output @ W[g]^T per token (S x in dot products of out) and
    grad_weight[g] = x[g]^T @ grad_output[g] (in x out products over the group's tokens):
    each S x in x out MACs."""
    x, w = call.arg("input"), call.arg("weight")
    macs = x.shape[0] * x.shape[1] * w.shape[-1]
    return call.dots(macs, x.numel()) + call.dots(macs, w.numel())


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
            ell = max(ell, int(torch.Size(t.shape[len(pre): len(pre) + n_ell]).numel()))
            dims = list(pre) + list(post)
            shape = list(t.shape[: len(pre)]) + list(t.shape[t.dim() - len(post):])
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
        later = set(rhs.replace("...", "")).union(*[set(t) for t in terms[i + 1:]])
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

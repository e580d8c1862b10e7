"""Linear algebra: factorizations and solves at the operation counts of LAPACK Working Note 41
(multiplications and additions of the real LAPACK routines: MACs are the multiplications, FLOPs
multiplications plus additions, each count rounded). Eigenvalue and singular-value solvers are
iterative; their counts are Golub & Van Loan's standard estimates (Matrix Computations, 4th ed.,
§5.5 and §8.3: FLOPs, half of them counted as MACs). Batched inputs cost the count per matrix
times the batch; complex inputs are counted as real ones.
"""

from __future__ import annotations

import math
from fractions import Fraction as Fr

import torch

from ..core.cost import Cost
from ._common import attrs
from .registry import OpCall, register_rule

aten = torch.ops.aten
L = torch.linalg


def _counts(mults: Fr, adds: Fr, batch: int = 1) -> Cost:
    m, a = max(round(mults), 0), max(round(adds), 0)
    return Cost(flops=batch * (m + a), macs=batch * m)


def _estimate(flops: Fr, batch: int) -> Cost:
    f = max(round(flops), 0)
    return Cost(flops=batch * f, macs=batch * (f // 2))


def _batch(a: torch.Tensor) -> int:
    return math.prod(a.shape[:-2]) if a.dim() > 2 else 1


# -- LAWN 41's counts, per matrix --------------------------------------------------------------
def getrf(m: int, n: int) -> tuple[Fr, Fr]:
    """LU with partial pivoting of an m×n matrix."""
    if m < n:  # the count of the transposed shape, as LAWN 41 tabulates it
        m, n = n, m
    return (
        Fr(1, 2) * m * n * n - Fr(1, 6) * n**3 + Fr(1, 2) * m * n - Fr(1, 2) * n * n + Fr(2, 3) * n,
        Fr(1, 2) * m * n * n - Fr(1, 6) * n**3 - Fr(1, 2) * m * n + Fr(1, 6) * n,
    )


def getri(n: int) -> tuple[Fr, Fr]:
    """Inverse from the LU factors."""
    return Fr(2, 3) * n**3 + Fr(1, 2) * n * n + Fr(5, 6) * n, Fr(2, 3) * n**3 - Fr(3, 2) * n * n + Fr(5, 6) * n


def getrs(n: int, k: int) -> tuple[Fr, Fr]:
    """Solve with the LU factors, k right-hand sides."""
    return Fr(n * n * k), Fr(n * n * k - n * k)


def potrf(n: int) -> tuple[Fr, Fr]:
    """Cholesky."""
    return Fr(1, 6) * n**3 + Fr(1, 2) * n * n + Fr(1, 3) * n, Fr(1, 6) * n**3 - Fr(1, 6) * n


def potrs(n: int, k: int) -> tuple[Fr, Fr]:
    """Solve with the Cholesky factor, k right-hand sides."""
    return Fr(n * n * k + n * k), Fr(n * n * k - n * k)


def potri(n: int) -> tuple[Fr, Fr]:
    """Inverse from the Cholesky factor."""
    return Fr(1, 3) * n**3 + n * n + Fr(2, 3) * n, Fr(1, 3) * n**3 - Fr(1, 2) * n * n + Fr(1, 6) * n


def trtrs(n: int, k: int) -> tuple[Fr, Fr]:
    """Triangular solve, k right-hand sides."""
    return Fr(k * n * (n + 1), 2), Fr(k * n * (n - 1), 2)


def geqrf(m: int, n: int) -> tuple[Fr, Fr]:
    """Householder QR of an m×n matrix."""
    if m >= n:
        return (
            m * n * n - Fr(1, 3) * n**3 + m * n + Fr(1, 2) * n * n + Fr(23, 6) * n,
            m * n * n - Fr(1, 3) * n**3 + Fr(1, 2) * n * n + Fr(5, 6) * n,
        )
    return (
        n * m * m - Fr(1, 3) * m**3 + 2 * n * m - Fr(1, 2) * m * m + Fr(23, 6) * m,
        n * m * m - Fr(1, 3) * m**3 + n * m - Fr(1, 2) * m * m + Fr(5, 6) * m,
    )


def orgqr(m: int, n: int, k: int) -> tuple[Fr, Fr]:
    """The m×n matrix Q from k Householder reflectors."""
    return (
        2 * m * n * k - (m + n) * k * k + Fr(2, 3) * k**3 + 2 * n * k - k * k - Fr(5, 3) * k,
        2 * m * n * k - (m + n) * k * k + Fr(2, 3) * k**3 + n * k - m * k + Fr(1, 3) * k,
    )


def ormqr(m: int, n: int, k: int) -> tuple[Fr, Fr]:
    """Q (k reflectors) applied to an m×n matrix from the left."""
    return Fr(2 * n * m * k - n * k * k + 2 * n * k), Fr(2 * n * m * k - n * k * k + n * k)


def _add(*counts: tuple[Fr, Fr]) -> tuple[Fr, Fr]:
    return sum((c[0] for c in counts), Fr(0)), sum((c[1] for c in counts), Fr(0))


# -- factorizations ----------------------------------------------------------------------------
@register_rule(
    L.lu_factor, L.lu_factor_ex, L.lu, *attrs(torch, "lu"), *attrs(aten, "linalg_lu_factor_ex", "_lu_with_info")
)
def lu(call: OpCall) -> Cost:
    """LU with partial pivoting (LAWN 41 GETRF): about m·n² − n³/3 FLOPs for m ≥ n."""
    a = call.x
    return _counts(*getrf(a.shape[-2], a.shape[-1]), _batch(a))


@register_rule(L.cholesky, L.cholesky_ex, torch.cholesky, "cholesky")
def cholesky(call: OpCall) -> Cost:
    """Cholesky (LAWN 41 POTRF): about n³/3 FLOPs."""
    a = call.x
    return _counts(*potrf(a.shape[-1]), _batch(a))


@register_rule(L.qr, torch.qr, torch.geqrf, "qr", "geqrf")
def qr(call: OpCall) -> Cost:
    """Householder QR (LAWN 41 GEQRF), plus forming Q (ORGQR, m×k from k = min(m, n)
    reflectors; ``mode="complete"``: m×m) unless ``mode="r"`` or geqrf."""
    a = call.x
    m, n = a.shape[-2], a.shape[-1]
    counts = geqrf(m, n)
    mode = call.arg("mode", "reduced")
    if call.arg("some") is False:
        mode = "complete"
    if "geqrf" not in str(getattr(call.target, "__name__", call.target)) and mode != "r":
        k = min(m, n)
        counts = _add(counts, orgqr(m, m if mode == "complete" else k, k))
    return _counts(*counts, _batch(a))


@register_rule(L.householder_product, torch.orgqr, "orgqr")
def householder_product(call: OpCall) -> Cost:
    """Q from Householder reflectors (LAWN 41 ORGQR)."""
    a, tau = call.x, call.inputs[1]
    return _counts(*orgqr(a.shape[-2], a.shape[-1], tau.shape[-1]), _batch(a))


@register_rule(torch.ormqr, "ormqr")
def apply_householder(call: OpCall) -> Cost:
    """Q (from reflectors) times a matrix (LAWN 41 ORMQR)."""
    a, tau, c = call.inputs[:3]
    return _counts(*ormqr(c.shape[-2], c.shape[-1], tau.shape[-1]), _batch(c))


@register_rule(L.ldl_factor, L.ldl_factor_ex)
def ldl_factor(call: OpCall) -> Cost:
    """Symmetric indefinite LDLᵀ (Bunch–Kaufman, as LAPACK SYTRF): the Cholesky count
    (n³/3 FLOPs), pivoting not counted."""
    return cholesky(call)


# -- solves and inverses -----------------------------------------------------------------------
@register_rule(L.solve, L.solve_ex, torch.linalg.tensorsolve)
def solve(call: OpCall) -> Cost:
    """LU (GETRF) and the two triangular solves (GETRS) per right-hand side."""
    a, b = call.inputs[:2]
    if "tensorsolve" in getattr(call.target, "__name__", ""):
        n = b.numel()
        return _counts(*_add(getrf(n, n), getrs(n, 1)))
    n = a.shape[-1]
    k = 1 if b.dim() == a.dim() - 1 else b.shape[-1]
    return _counts(*_add(getrf(n, n), getrs(n, k)), max(_batch(a), b.numel() // (n * k) if n * k else 1))


@register_rule(L.lu_solve, torch.lu_solve, "lu_solve")
def lu_solve(call: OpCall) -> Cost:
    """Two triangular solves with the LU factors (GETRS), per right-hand side."""
    lu_, b = call.arg("LU"), call.arg("B")
    if lu_ is None:  # torch.lu_solve(b, LU_data, LU_pivots)
        lu_, b = call.arg("LU_data"), call.x
    return _counts(*getrs(lu_.shape[-1], b.shape[-1]), _batch(b))


@register_rule(torch.cholesky_solve, "cholesky_solve")
def cholesky_solve(call: OpCall) -> Cost:
    """Two triangular solves with the Cholesky factor (POTRS), per right-hand side."""
    b, factor = call.x, call.arg("input2")
    return _counts(*potrs(factor.shape[-1], b.shape[-1]), _batch(b))


@register_rule(L.ldl_solve)
def ldl_solve(call: OpCall) -> Cost:
    """Solves with the LDLᵀ factors: as ``cholesky_solve`` (POTRS)."""
    factor, b = call.arg("LD"), call.arg("B")
    return _counts(*potrs(factor.shape[-1], b.shape[-1]), _batch(b))


@register_rule(L.solve_triangular, torch.triangular_solve, "triangular_solve")
def solve_triangular(call: OpCall) -> Cost:
    """Triangular solve (LAWN 41 TRTRS): n(n+1)/2 multiplies and n(n−1)/2 adds per right-hand
    side."""
    a, b = call.arg("A"), call.arg("B")
    if a is None:  # linalg.solve_triangular(A, B): A is its schema's self
        a = call.x
    else:  # triangular_solve(b, A)
        b = call.x
    left = call.arg("left", True)
    n = a.shape[-1]
    k = b.shape[-1] if left else b.shape[-2]
    return _counts(*trtrs(n, k), b.numel() // (n * k) if n * k else 1)


def inverse_cost(call: OpCall, a: torch.Tensor) -> Cost:
    """LU (GETRF) and the inverse from it (GETRI): about 2n³ FLOPs."""
    n = a.shape[-1]
    return _counts(*_add(getrf(n, n), getri(n)), _batch(a))


@register_rule(L.inv, L.inv_ex, torch.inverse, "inverse", L.tensorinv)
def inv(call: OpCall) -> Cost:
    """LU (GETRF) and the inverse from it (GETRI): about 2n³ FLOPs."""
    a = call.x
    if "tensorinv" in getattr(call.target, "__name__", ""):
        n = math.isqrt(a.numel())
        return _counts(*_add(getrf(n, n), getri(n)))
    return inverse_cost(call, a)


@register_rule(torch.cholesky_inverse, "cholesky_inverse")
def cholesky_inverse(call: OpCall) -> Cost:
    """The inverse from a Cholesky factor (LAWN 41 POTRI)."""
    a = call.x
    return _counts(*potri(a.shape[-1]), _batch(a))


@register_rule(L.det, L.slogdet, torch.det, torch.logdet, torch.slogdet, "det", "logdet", "slogdet")
def det(call: OpCall) -> Cost:
    """LU (GETRF), then the product (or log-sum) of the diagonal: n more."""
    a = call.x
    n = a.shape[-1]
    mults, adds = getrf(n, n)
    return _counts(mults + n, adds, _batch(a))


@register_rule(L.matrix_exp, torch.matrix_exp, "matrix_exp")
def matrix_exp(call: OpCall) -> Cost:
    """Padé approximant of degree 18 (Bader, Blanes & Casas, as torch): 6 matrix products and
    one solve with n right-hand sides; the squarings depend on the norm of the data and are not
    counted (the count at the smallest scaling)."""
    a = call.x
    n = a.shape[-1]
    products = Cost(flops=6 * (2 * n**3 - n * n), macs=6 * n**3)
    one = products + _counts(*_add(getrf(n, n), getrs(n, n)))
    return Cost(one.flops * _batch(a), one.macs * _batch(a))


# -- eigen and singular values: Golub & Van Loan's estimates ------------------------------------
@register_rule(L.eigvalsh, L.eigh)
def eigh(call: OpCall) -> Cost:
    """Symmetric eigenvalues: 4n³/3 FLOPs (tridiagonal reduction); with eigenvectors ≈ 9n³
    (GvL §8.3)."""
    a = call.x
    n = a.shape[-1]
    vectors = "eigvalsh" not in getattr(call.target, "__name__", "") and call.arg("compute_v", True)
    return _estimate(Fr(9 * n**3) if vectors else Fr(4, 3) * n**3, _batch(a))


@register_rule(L.eig, L.eigvals)
def eig(call: OpCall) -> Cost:
    """General eigenvalues: ≈ 10n³ FLOPs (Hessenberg QR); with eigenvectors ≈ 25n³ (GvL §7.5)."""
    a = call.x
    n = a.shape[-1]
    vectors = "eigvals" not in getattr(call.target, "__name__", "")
    return _estimate(Fr(25 * n**3 if vectors else 10 * n**3), _batch(a))


def svd_flops(m: int, n: int, vectors: bool) -> Fr:
    """Golub–Reinsch SVD of an m×n matrix (m ≥ n after transposing): singular values only
    4mn² − 4n³/3; with thin U and V (R-SVD) 14mn² + 8n³ (GvL Fig. 8.6.1)."""
    m, n = max(m, n), min(m, n)
    return Fr(14 * m * n * n + 8 * n**3) if vectors else 4 * m * n * n - Fr(4, 3) * n**3


@register_rule(L.svd, L.svdvals, torch.svd, "svd", L.matrix_rank)
def svd(call: OpCall) -> Cost:
    """Singular values only (svdvals, matrix_rank): 4mn² − 4n³/3 FLOPs; with U and V: 14mn² + 8n³
    (GvL's R-SVD)."""
    a = call.x
    name = getattr(call.target, "__name__", "")
    vectors = not ("svdvals" in name or "matrix_rank" in name or call.arg("compute_uv", True) is False)
    return _estimate(svd_flops(a.shape[-2], a.shape[-1], vectors), _batch(a))


@register_rule(L.pinv, torch.pinverse, "pinverse")
def pinv(call: OpCall) -> Cost:
    """The SVD with vectors (eigh with ``hermitian=True``), then V Σ⁺ Uᵀ: k·m·n MACs more."""
    a = call.x
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    base = Fr(9 * n**3) if call.arg("hermitian", False) else svd_flops(m, n, True)
    return _estimate(base, _batch(a)) + call.dots(_batch(a) * k * m * n, _batch(a) * m * n)


@register_rule(L.cond)
def cond(call: OpCall) -> Cost:
    """2-norm condition (p None or ±2): the singular values; other norms: the inverse and two
    matrix norms (2 per element each)."""
    a = call.x
    p = call.arg("p")
    if p is None or p in (2, -2):
        return _estimate(svd_flops(a.shape[-2], a.shape[-1], False), _batch(a))
    return inverse_cost(call, a) + Cost(flops=4 * a.numel())


@register_rule(L.matrix_norm)
def matrix_norm(call: OpCall) -> Cost:
    """Frobenius, 1 or ∞ norm: 2 per element (square or abs, add); nuclear and spectral (±2):
    the singular values."""
    a = call.x
    ord_ = call.arg("ord", "fro")
    if ord_ in ("nuc", 2, -2):
        return _estimate(svd_flops(a.shape[-2], a.shape[-1], False), _batch(a))
    return Cost(flops=2 * a.numel())


@register_rule(L.lstsq, "lstsq")
def lstsq(call: OpCall) -> Cost:
    """Least squares by QR (GEQRF, ORMQR on B, TRTRS)."""
    a, b = call.inputs[:2]
    m, n = a.shape[-2], a.shape[-1]
    k = 1 if b.dim() == a.dim() - 1 else b.shape[-1]
    return _counts(*_add(geqrf(m, n), ormqr(m, k, min(m, n)), trtrs(min(m, n), k)), _batch(a))


@register_rule(torch.cov, torch.corrcoef, "cov", "corrcoef")
def cov(call: OpCall) -> Cost:
    """Covariance of n variables over m observations: the means (n·m), the centring (n·m),
    then X·Xᵀ (n² dot products of m) and a divide per entry; corrcoef also scales by the
    standard deviations (n roots, 2 divides per entry)."""
    x = call.x
    n, m = (1, x.shape[0]) if x.dim() == 1 else (x.shape[0], x.shape[1])
    extra = n + 2 * n * n if "corrcoef" in str(getattr(call.target, "__name__", call.target)) else 0
    return call.dots(n * n * m, n * n) + Cost(flops=2 * n * m + n * n + extra)


@register_rule(L.vander)
def vander(call: OpCall) -> Cost:
    """Powers x^j by running products: one multiply per output element."""
    return Cost(flops=call.y.numel())

"""fxcost/rules/linalg.py: LAPACK Working Note 41's operation counts (MACs the multiplications,
FLOPs multiplications plus additions), Golub & Van Loan's estimates for eigen and singular values.
Counts are derived by hand from the LAWN 41 tables for n = 4 (and m = 6)."""

import pytest
import torch
from helpers import CAPTURES, cost

L = torch.linalg


def spd(n=4, batch=()):
    a = torch.randn(*batch, n, n)
    return a @ a.transpose(-1, -2) + n * torch.eye(n)


@pytest.mark.parametrize("capture", CAPTURES)
def test_lu_and_cholesky(capture):
    # GETRF n=4: mults 1/2*64 - 1/6*64 + 1/2*16 - 1/2*16 + 2/3*4 = 32 - 10.67 + 2.67 = 24;
    # adds 32 - 10.67 - 8 + 0.67 = 14: FLOPs 38
    c = cost(L.lu_factor, torch.randn(4, 4), capture=capture)
    assert (c.flops, c.macs) == (38, 24)
    # batch 3: three times
    c = cost(lambda a: L.lu_factor(a)[0], torch.randn(3, 4, 4), capture=capture)
    assert (c.flops, c.macs) == (114, 72)
    # POTRF n=4: mults 64/6 + 8 + 4/3 = 20; adds 64/6 - 4/6 = 10
    c = cost(L.cholesky, spd(), capture=capture)
    assert (c.flops, c.macs) == (30, 20)


def test_getrf_rectangular():
    # m=6, n=4: mults 1/2*6*16 - 64/6 + 1/2*24 - 8 + 8/3 = 48 - 10.67 + 12 - 8 + 2.67 = 44;
    # adds 48 - 10.67 - 12 + 0.67 = 26
    c = cost(L.lu_factor, torch.randn(6, 4))
    assert (c.flops, c.macs) == (70, 44)


def test_solves():
    # linalg.solve n=4, 2 right-hand sides: GETRF (24, 14) + GETRS mults 16*2 = 32, adds 32 - 8 = 24
    c = cost(L.solve, torch.randn(4, 4), torch.randn(4, 2))
    assert (c.flops, c.macs) == (38 + 56, 24 + 32)
    # a vector right-hand side: GETRS (16, 12)
    c = cost(L.solve, torch.randn(4, 4), torch.randn(4))
    assert (c.flops, c.macs) == (38 + 28, 24 + 16)
    # triangular solve, 3 right-hand sides: mults 3*4*5/2 = 30, adds 3*4*3/2 = 18
    c = cost(
        lambda a, b: L.solve_triangular(a, b, upper=True),
        torch.randn(4, 4).triu() + 4 * torch.eye(4),
        torch.randn(4, 3),
    )
    assert (c.flops, c.macs) == (48, 30)
    c = cost(
        lambda b, a: torch.triangular_solve(b, a)[0], torch.randn(4, 3), torch.randn(4, 4).triu() + 4 * torch.eye(4)
    )
    assert (c.flops, c.macs) == (48, 30)
    # cholesky_solve, 2 right-hand sides: POTRS mults 32 + 8 = 40, adds 32 - 8 = 24
    c = cost(torch.cholesky_solve, torch.randn(4, 2), torch.linalg.cholesky(spd()))
    assert (c.flops, c.macs) == (64, 40)


def test_inverse_and_determinant():
    # inv: GETRF (24, 14) + GETRI mults 2/3*64 + 8 + 10/3 = 54, adds 2/3*64 - 24 + 10/3 = 22
    c = cost(L.inv, torch.randn(4, 4) + 4 * torch.eye(4))
    assert (c.flops, c.macs) == (38 + 76, 24 + 54)
    # det: GETRF and the diagonal's 4 products
    c = cost(L.det, torch.randn(4, 4))
    assert (c.flops, c.macs) == (42, 28)
    # cholesky_inverse: POTRI mults 64/3 + 16 + 8/3 = 40, adds 64/3 - 8 + 2/3 = 14
    c = cost(torch.cholesky_inverse, torch.linalg.cholesky(spd()))
    assert (c.flops, c.macs) == (54, 40)


def test_qr():
    # GEQRF m=6 n=4: mults 96 - 64/3 + 24 + 8 + 46/3 = 122, adds 96 - 64/3 + 8 + 10/3 = 86
    c = cost(lambda a: L.qr(a, mode="r")[1], torch.randn(6, 4))
    assert (c.flops, c.macs) == (208, 122)
    # reduced Q: + ORGQR m=6 n=4 k=4: mults 192 - 160 + 128/3 + 32 - 16 - 20/3 = 84,
    # adds 192 - 160 + 128/3 + 16 - 24 + 4/3 = 68
    c = cost(lambda a: L.qr(a)[0], torch.randn(6, 4))
    assert (c.flops, c.macs) == (208 + 152, 122 + 84)


def test_eigen_and_singular_value_estimates():
    # symmetric eigenvalues 4/3 n^3 = 85 (rounded), with vectors 9 n^3 = 576; MACs half
    assert cost(L.eigvalsh, spd()).flops == 85
    assert cost(lambda a: L.eigh(a)[1], spd()).flops == 576
    assert cost(L.eigvals, torch.randn(4, 4)).flops == 640
    # svdvals m=6 n=4: 4*6*16 - 4/3*64 = 299 (rounded); with vectors 14*6*16 + 8*64 = 1856
    assert cost(L.svdvals, torch.randn(6, 4)).flops == 299
    c = cost(lambda a: L.svd(a, full_matrices=False)[0], torch.randn(6, 4))
    assert (c.flops, c.macs) == (1856, 928)
    assert cost(L.matrix_rank, torch.randn(4, 6)).flops == 299  # transposed shape, same count


def test_cov_and_matrix_exp():
    # cov of 3 variables over 5 observations: means 15, centring 15, 9 dot products of 5 (45 MACs,
    # 9*9 FLOPs), a divide per entry 9
    c = cost(torch.cov, torch.randn(3, 5), real=True)  # its kernel compares values: no meta form
    assert (c.flops, c.macs) == (30 + 81 + 9, 45)
    # matrix_exp n=4: six products (64 MACs, 112 FLOPs each) + GETRF + GETRS with 4 right-hand sides
    c = cost(L.matrix_exp, torch.randn(4, 4) * 0.01)
    assert c.macs == 6 * 64 + 24 + 64

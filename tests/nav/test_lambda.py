"""LAMBDA integer least squares against RTKLIB's ``lambda()`` (pyrtklib, test oracle),
brute-force enumeration, and the de Jonge & Tiberius (1996) 3-D example."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kongtian.nav.lambda_ils import (
    NotPositiveDefiniteError,
    conditional_update,
    decorrelate,
    lambda_ils,
    ltdl,
    partial_fix,
    ratio_test,
)

rtk = pytest.importorskip("pyrtklib")
_rtk_lambda = getattr(rtk, "lambda")  # "lambda" is a Python keyword


def rtklib_lambda(a: np.ndarray, q: np.ndarray, m: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """RTKLIB lambda(n, m, a, Q, F, s): matrices column-major, F is n x m."""
    n = len(a)
    aa, qq = rtk.Arr1Ddouble(n), rtk.Arr1Ddouble(n * n)
    ff, ss = rtk.Arr1Ddouble(n * m), rtk.Arr1Ddouble(m)
    for i in range(n):
        aa[i] = float(a[i])
    for i, v in enumerate(np.asarray(q).ravel(order="F")):
        qq[i] = float(v)
    assert _rtk_lambda(n, m, aa, qq, ff, ss) == 0
    # RTKLIB returns Z^-T z from a linear solve: integers up to 1e-13.
    return np.round(np.array(list(ff)).reshape(m, n)), np.array(list(ss))


def brute_force(a: np.ndarray, q: np.ndarray, radius: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Two best integer vectors by exhaustive enumeration around round(a)."""
    qi = np.linalg.inv(q)
    base = np.round(a)
    offs = np.array(list(itertools.product(range(-radius, radius + 1), repeat=len(a))))
    r = a - (base + offs)
    norms = np.einsum("ij,jk,ik->i", r, qi, r)
    order = np.argsort(norms)[:2]
    return base + offs[order], norms[order]


def geonet_like_q(rng: np.random.Generator, n_sat: int, epochs: int) -> np.ndarray:
    """Float DD ambiguity covariance (cycles^2) of an L1/L2 code+phase batch solution.

    Satellites above 15 deg; per epoch the LOS moves slightly (as in 30-s data), code
    sigma 0.3 m, phase 3 mm, position re-estimated every epoch (kinematic), constant
    DD ambiguities. Few epochs -> highly correlated, ill-conditioned ambiguities.
    """
    lam1, lam2 = 299792458.0 / 1575.42e6, 299792458.0 / 1227.60e6
    az = rng.uniform(0, 2 * np.pi, n_sat)
    el = rng.uniform(np.radians(15), np.radians(85), n_sat)
    daz = rng.normal(0, 2e-4, n_sat)
    nd = n_sat - 1
    na = 2 * nd
    dmat = np.hstack([-np.ones((nd, 1)), np.eye(nd)])  # DD against satellite 0
    nx = 3 * epochs + na
    normal = np.zeros((nx, nx))
    for k in range(epochs):
        a_k = az + daz * 30 * k
        e = np.column_stack([np.cos(el) * np.sin(a_k), np.cos(el) * np.cos(a_k), np.sin(el)])
        g = dmat @ (-e)
        sd_var = 2 * (1 / np.sin(el)) ** 2  # elevation-dependent, relative
        cov = dmat @ np.diag(sd_var) @ dmat.T
        for f, lam in enumerate((lam1, lam2)):
            for sigma, phase in ((0.3, False), (0.003, True)):
                h = np.zeros((nd, nx))
                h[:, 3 * k : 3 * k + 3] = g
                if phase:
                    h[:, 3 * epochs + f * nd : 3 * epochs + (f + 1) * nd] = lam * np.eye(nd)
                w = np.linalg.inv(cov * sigma**2)
                normal += h.T @ w @ h
    qx = np.linalg.inv(normal)
    qa = qx[3 * epochs :, 3 * epochs :]
    return 0.5 * (qa + qa.T)


def test_ltdl_reconstructs_and_decorrelation_is_unimodular() -> None:
    rng = np.random.default_rng(3)
    a_mat = rng.normal(size=(9, 9))
    q = a_mat @ a_mat.T + 0.1 * np.eye(9)
    lo, d = ltdl(q)
    assert np.allclose(np.diag(lo), 1.0) and np.allclose(np.triu(lo, 1), 0.0)
    assert np.allclose(lo.T @ np.diag(d) @ lo, q)
    lz, dz, z = decorrelate(lo, d)
    assert np.array_equal(z, np.round(z))
    assert abs(round(np.linalg.det(z))) == 1
    assert np.allclose(z.T @ q @ z, lz.T @ np.diag(dz) @ lz)
    assert np.all(np.abs(np.tril(lz, -1)) <= 0.5 + 1e-9)
    with pytest.raises(NotPositiveDefiniteError):
        ltdl(np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_de_jonge_tiberius_3d_example() -> None:
    # LGR series 12 (1996), sections 3.8 / 4.12: the "truth" is (5, 3, 4).
    q = np.array([[6.290, 5.978, 0.544], [5.978, 6.292, 2.340], [0.544, 2.340, 6.288]])
    a = np.array([5.45, 3.10, 2.97])
    res = lambda_ils(a, q)
    assert res.best.tolist() == [5.0, 3.0, 4.0]
    f_rtk, s_rtk = rtklib_lambda(a, q)
    assert np.array_equal(res.candidates, f_rtk)
    assert np.allclose(res.sq_norms, s_rtk, rtol=1e-10)
    f_bf, s_bf = brute_force(a, q)
    assert np.array_equal(res.candidates, f_bf)
    assert np.allclose(res.sq_norms, s_bf, rtol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_random_against_rtklib(seed: int) -> None:
    """Random SPD covariances (n = 2..20, well- and ill-conditioned) and large floats."""
    rng = np.random.default_rng(100 + seed)
    agree = 0
    cases = 60
    for _ in range(cases):
        n = int(rng.integers(2, 21))
        a_mat = rng.normal(size=(n, n))
        if rng.random() < 0.5:  # ill-conditioned: strongly correlated, spread eigenvalues
            u, _ = np.linalg.qr(a_mat)
            ev = 10 ** rng.uniform(-4, 1, n)
            q = u @ np.diag(ev) @ u.T
        else:
            q = a_mat @ a_mat.T * 10 ** rng.uniform(-3, 0) + 1e-3 * np.eye(n)
        q = 0.5 * (q + q.T)
        a = rng.normal(size=n) * 10 ** rng.uniform(0, 6)
        res = lambda_ils(a, q)
        f_rtk, s_rtk = rtklib_lambda(a, q)
        ok = np.array_equal(res.candidates, f_rtk) and np.allclose(
            res.sq_norms, s_rtk, rtol=1e-6, atol=1e-9
        )
        agree += ok
    assert agree == cases


@pytest.mark.parametrize("epochs", [1, 2, 5, 20])
def test_geonet_like_geometry_against_rtklib(epochs: int) -> None:
    rng = np.random.default_rng(epochs)
    for _ in range(5):
        q = geonet_like_q(rng, 8, epochs)  # 14 DD ambiguities (L1 + L2)
        truth = rng.integers(-1_000_000, 1_000_000, len(q)).astype(float)
        a = truth + np.linalg.cholesky(q) @ rng.normal(size=len(q))
        res = lambda_ils(a, q)
        f_rtk, s_rtk = rtklib_lambda(a, q)
        assert np.array_equal(res.candidates, f_rtk)
        assert np.allclose(res.sq_norms, s_rtk, rtol=1e-6)
        if epochs >= 20:  # strong model: the ratio test passes and the fix is right
            assert ratio_test(res.sq_norms, 3.0)
            assert np.array_equal(res.best, truth)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_brute_force_small(n: int) -> None:
    rng = np.random.default_rng(7 * n)
    for _ in range(40):
        a_mat = rng.normal(size=(n, n))
        q = a_mat @ a_mat.T * 0.3 + 0.05 * np.eye(n)
        a = rng.normal(size=n) * 3
        res = lambda_ils(a, q)
        f_bf, s_bf = brute_force(a, q, radius=5)
        assert np.allclose(res.sq_norms, s_bf, rtol=1e-9)
        assert np.array_equal(res.candidates, f_bf)


def test_m_best_and_ratio() -> None:
    rng = np.random.default_rng(11)
    q = geonet_like_q(rng, 6, 3)
    a = np.linalg.cholesky(q) @ rng.normal(size=len(q)) + 7.0
    res5 = lambda_ils(a, q, m=5)
    f_rtk, s_rtk = rtklib_lambda(a, q, m=5)
    assert np.array_equal(res5.candidates, f_rtk)
    assert np.allclose(res5.sq_norms, s_rtk, rtol=1e-8)
    assert np.all(np.diff(res5.sq_norms) >= 0)
    assert res5.ratio == pytest.approx(s_rtk[1] / s_rtk[0])


def test_partial_fix_full_and_partial() -> None:
    rng = np.random.default_rng(5)
    q = geonet_like_q(rng, 8, 30)
    truth = rng.integers(-50, 50, len(q)).astype(float)
    a = truth + np.linalg.cholesky(q) @ rng.normal(size=len(q))
    full = partial_fix(a, q)
    assert full.n_fixed == len(q) and np.array_equal(full.fixed_ambiguities, truth)
    # Inflate the variance of two ambiguities: the full set fails, a subset passes.
    q2 = q.copy()
    q2[0, 0] += 30.0
    q2[7, 7] += 30.0
    a2 = a.copy()
    a2[0] += 0.5
    a2[7] -= 0.45
    pf = partial_fix(a2, q2, threshold=3.0)
    assert not ratio_test(lambda_ils(a2, q2).sq_norms, 3.0)
    assert 4 <= pf.n_fixed < len(q)
    # The fixed integer combinations are the true ones.
    assert np.array_equal(pf.z_fixed, np.round(pf.z_columns.T @ truth))
    # Conditioning pulls the well-determined ambiguities onto the truth.
    well = [i for i in range(len(q)) if i not in (0, 7)]
    assert np.max(np.abs(pf.fixed_ambiguities[well] - truth[well])) < 0.05


def test_conditional_update_full_constraint_gives_integers() -> None:
    rng = np.random.default_rng(2)
    q = geonet_like_q(rng, 5, 10)
    a = rng.normal(size=len(q))
    z = np.eye(len(q))
    fixed = np.round(a)
    a_c, q_c = conditional_update(a, q, z, fixed)
    assert np.allclose(a_c, fixed)
    assert np.allclose(q_c, 0.0, atol=1e-12)

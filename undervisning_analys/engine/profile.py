"""Profile-likelihood intervals of a linear mixed model's variance parameters.

The one piece of the engine's internals besides :mod:`.mixed` that reads the
engine (``mixedlm``) directly: the profile needs its native deviance
evaluation. :meth:`~undervisning_analys.engine.mixed.MixedResult.confint_varcorr`
is the public way in; ``tests/test_formula_r.py`` compares the bounds with
lme4's ``confint(method = "profile")``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["profile_bounds"]


def profile_bounds(fit: Any, level: float) -> list[tuple[float, float]]:
    """Profile-likelihood bounds of lme4's variance parameters, as lme4's profile: per
    random-effects block (engine order) its SDs then its correlations (lower triangle,
    column by column), and sigma last. The ML deviance
    ``ldL2 + pwrss / s2 + n log(2 pi s2)`` in (SDs, correlations, sigma) (lme4's
    ``devfun2``), beta profiled out, minimised over the other parameters."""
    from mixedlm.estimation.reml import _RustMatrixCache
    from scipy import optimize, stats

    matrices = fit.matrices
    n = int(matrices.n_obs)
    z = float(stats.norm.ppf(0.5 + level / 2))
    # the engine's native evaluation (prepared once): deviance components at theta
    response = _RustMatrixCache.from_matrices(matrices).response
    blocks = [(len(st.term_names), bool(getattr(st, "correlated", True))
               and len(st.term_names) > 1) for st in matrices.random_structures]

    def parts(theta: np.ndarray) -> tuple[float, float]:
        native = response.evaluate(np.asarray(theta, dtype=float), False)
        if native is None:  # pragma: no cover - a failed factorisation
            return math.inf, math.inf
        return float(native[4]), float(native[8])  # ldL2, pwrss

    def to_theta(phi: np.ndarray, sigma: float) -> np.ndarray | None:
        out: list[float] = []
        pos = 0
        for k, corr in blocks:
            sds = phi[pos:pos + k]
            pos += k
            if not corr:
                out.extend(sds / sigma)
                continue
            r = np.eye(k)
            for j in range(k):
                for i in range(j + 1, k):
                    r[i, j] = r[j, i] = phi[pos]
                    pos += 1
            try:
                chol = np.linalg.cholesky(r)
            except np.linalg.LinAlgError:
                return None
            lam = np.diag(sds) @ chol / sigma
            out.extend(lam[i, j] for j in range(k) for i in range(j, k))
        return np.asarray(out)

    def from_theta(theta: np.ndarray, sigma: float) -> np.ndarray:
        pos = 0
        phi: list[float] = []
        for k, corr in blocks:
            if not corr:
                phi.extend(theta[pos:pos + k] * sigma)
                pos += k
                continue
            lam = np.zeros((k, k))
            for j in range(k):
                for i in range(j, k):
                    lam[i, j] = theta[pos]
                    pos += 1
            cov = lam @ lam.T * sigma**2
            sd = np.sqrt(np.diag(cov))
            phi.extend(sd)
            for j in range(k):
                for i in range(j + 1, k):
                    den = sd[i] * sd[j]
                    phi.append(cov[i, j] / den if den > 0 else 0.0)
        return np.asarray(phi)

    is_cor = []
    for k, corr in blocks:
        is_cor += [False] * k + ([True] * (k * (k - 1) // 2) if corr else [])
    m = len(is_cor)

    def dev(phi: np.ndarray, sigma: float) -> float:
        theta = to_theta(phi, sigma)
        if theta is None:
            return math.inf
        ld, pw = parts(theta)
        return ld + pw / sigma**2 + n * math.log(2 * math.pi * sigma**2)

    def dev_theta(theta: np.ndarray) -> float:  # sigma profiled out
        ld, pw = parts(theta)
        return ld + n * (1 + math.log(2 * math.pi * pw / n))

    theta0 = np.atleast_1d(np.asarray(fit.theta, dtype=float))
    lower: list[float | None] = []  # a diagonal entry of a Cholesky factor is >= 0
    for k, corr in blocks:
        lower += ([0.0 if i == j else None for j in range(k) for i in range(j, k)] if corr
                  else [0.0] * k)
    opt = optimize.minimize(dev_theta, theta0, method="L-BFGS-B",
                            bounds=[(lb, None) for lb in lower],
                            options={"ftol": 1e-13, "gtol": 1e-9})
    theta_hat = np.asarray(opt.x)
    sigma_hat = math.sqrt(parts(theta_hat)[1] / n)
    phi_hat = from_theta(theta_hat, sigma_hat)
    d_min = dev(phi_hat, sigma_hat)
    limit = 1 - 1e-6
    box = [(-limit, limit) if c else (0.0, None) for c in is_cor]

    def profiled(k: int, v: float) -> float:
        """Deviance minimised with parameter k (sigma when k == m) held at v."""
        if k == m:
            res = optimize.minimize(lambda ph: dev(ph, v), phi_hat, method="L-BFGS-B",
                                    bounds=box, options={"ftol": 1e-13, "gtol": 1e-9})
            return float(res.fun)
        others = [i for i in range(m) if i != k]

        def f(x: np.ndarray) -> float:
            phi = np.empty(m)
            phi[k] = v
            phi[others] = x[:-1]
            return dev(phi, math.exp(x[-1]))

        x0 = np.r_[phi_hat[others], math.log(sigma_hat)]
        res = optimize.minimize(f, x0, method="L-BFGS-B",
                                bounds=[box[i] for i in others] + [(None, None)],
                                options={"ftol": 1e-13, "gtol": 1e-9})
        return float(res.fun)

    def zeta(k: int, v: float, centre: float) -> float:
        d = max(profiled(k, v) - d_min, 0.0)
        return math.copysign(math.sqrt(d), v - centre)

    out = []
    for k, centre in enumerate([*phi_hat, sigma_hat]):
        if k < m and is_cor[k]:
            lo_end, hi_end = -limit, limit
            upper = (hi_end if zeta(k, hi_end, centre) < z else optimize.brentq(
                lambda v, k=k, c=centre: zeta(k, v, c) - z, centre, hi_end, xtol=1e-6))
            lower_b = (lo_end if zeta(k, lo_end, centre) > -z else optimize.brentq(
                lambda v, k=k, c=centre: zeta(k, v, c) + z, lo_end, centre, xtol=1e-6))
            out.append((float(lower_b), float(upper)))
            continue
        scale = max(centre, 1e-3 * sigma_hat)
        hi = centre + scale
        while zeta(k, hi, centre) < z:
            hi = centre + 2 * (hi - centre)
        upper = optimize.brentq(lambda v, k=k, c=centre: zeta(k, v, c) - z, centre, hi,
                                xtol=1e-6)
        if k < m and zeta(k, 0.0, centre) >= -z:
            lower_b = 0.0
        else:
            lo = centre / 2
            while zeta(k, lo, centre) > -z:
                lo /= 2
            lower_b = optimize.brentq(lambda v, k=k, c=centre: zeta(k, v, c) + z, lo, centre,
                                      xtol=1e-6)
        out.append((float(lower_b), float(upper)))
    return out

"""Two Gaussian classes with a shared covariance: exact loss, gradient, noise and Hessian by 1-D quadrature.

Class c ∈ {0, 1} (equal priors) has x ~ N(μ_c, C); the model is p = σ(wᵀx + b) with the BCE loss
ℓ = softplus(z) − y z, z = wᵀx + b. Given c, z ~ N(m_c, v) with m_c = wᵀμ_c + b and v = wᵀCw, so
every population expectation is a 1-D Gaussian integral: by the trapezoid rule (``n=None``, exact
to ~1e-9, what the study uses) or by Gauss–Hermite quadrature at ``n`` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MEANS = ((1.0, 2.0), (1.0, -2.0))  # label 0, label 1 (the course data)
NODES = 48  # Gauss–Hermite nodes (its error grows with the sd of z, below)
# The trapezoid rule (n=None): E[f(m + sd·t)] on nodes t = kh, |t| ≤ T_MAX. For σ, σ' and softplus
# (poles at z = ±iπ) its error falls as e^(−2π²/(h·sd)), and for the Gaussian weight as e^(−2π²/h²),
# so h = Z_STEP/max(sd, 1) is exact to ~1e-9 at any sd. Gauss–Hermite at a fixed n is not: 48
# nodes put the loss ~1e-10 off near w = 0, 8e-7 at sd = 4 (the course data's optimum), 5e-4 at
# sd = 9, and H 3e-4 off at sd = 4 and 15 % at sd = 9.
Z_STEP = 0.7
T_MAX = 8.0  # the Gaussian tail past it: ~1e-15
MAX_HALF_NODES = 2048  # beyond sd ≈ 2000 the rule coarsens (only diverged weights go there)


@dataclass(frozen=True)
class Population:
    """Means μ₀, μ₁ (rows of ``means``) and the shared covariance ``cov``."""

    means: np.ndarray
    cov: np.ndarray

    @property
    def dim(self) -> int:
        return self.means.shape[1]


def correlated(rho: float, means=MEANS) -> Population:
    """C = s²·[[1, ρ], [ρ, 1]] with s² = 1/(1 − ρ²): ΔμᵀC⁻¹Δμ, the Bayes error and L* do not depend on ρ.

    C⁻¹ = [[1, −ρ], [−ρ, 1]], so for Δμ = (0, −4) the Mahalanobis distance² is 16 for every ρ.
    """
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    s2 = 1.0 / (1.0 - rho * rho)
    cov = s2 * np.array([[1.0, rho], [rho, 1.0]])
    return Population(np.array(means, dtype=np.float64), cov)


def optimum(pop: Population) -> tuple[np.ndarray, float]:
    """The loss minimiser (the model is well specified): w* = C⁻¹(μ₁ − μ₀), b* = −½(μ₁ᵀC⁻¹μ₁ − μ₀ᵀC⁻¹μ₀)."""
    mu0, mu1 = pop.means
    inv = np.linalg.inv(pop.cov)
    w = inv @ (mu1 - mu0)
    b = -0.5 * (mu1 @ inv @ mu1 - mu0 @ inv @ mu0)
    return w, float(b)


def sample(pop: Population, rng: np.random.Generator, shape: tuple[int, ...]):
    """``shape`` points: x (shape + (d,)) and labels y (shape), labels drawn first as uniforms < ½."""
    labels = (rng.random(shape) < 0.5).astype(np.float64)
    noise = rng.standard_normal((*shape, pop.dim))
    x = pop.means[labels.astype(np.intp)] + noise @ np.linalg.cholesky(pop.cov).T
    return x, labels


@lru_cache(maxsize=8)
def _nodes(n: int = NODES):
    """Nodes t and weights for E[f(N(0, 1))] ≈ Σ wᵢ f(tᵢ) (computed once per n, read-only)."""
    t, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / np.sqrt(2.0 * np.pi)
    t.flags.writeable = w.flags.writeable = False
    return t, w


def softplus(z):
    """log(1 + eᶻ) = max(z, 0) + log1p(e^−|z|): no overflow."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z):
    return np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))


def sigmoid_softplus(z):
    """σ(z) and softplus(z) from one exp, e^−|z| (the same values as ``sigmoid`` and ``softplus``)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0.0, 1.0, e) / (1.0 + e), np.maximum(z, 0.0) + np.log1p(e)


def trapezoid_nodes(sd: np.ndarray):
    """Nodes t (M, 2K+1) and weights for E[f(m + sd·t)], t ~ N(0, 1), one row per member: t = kh.

    K is the batch's largest T_MAX/h; a member with a smaller sd has nodes past T_MAX, of weight ~0.
    """
    h = Z_STEP / np.maximum(sd, 1.0)
    half = min(MAX_HALF_NODES, int(np.ceil(T_MAX / h.min())))
    h = np.maximum(h, T_MAX / half)
    t = h[:, None] * np.arange(-half, half + 1)
    return t, h[:, None] * np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)


def _class_z(pop: Population, W: np.ndarray, b: np.ndarray, n: int | None):
    """For each class: mean m (M,), and z at the nodes (M, K); also v (M,), the nodes and weights:
    (K,) each for Gauss–Hermite with n nodes, (M, K) for the trapezoid rule (n = None)."""
    v = np.einsum("mi,ij,mj->m", W, pop.cov, W)
    sd = np.sqrt(np.maximum(v, 0.0))
    t, q = _nodes(n) if n is not None else trapezoid_nodes(sd)
    m = W @ pop.means.T + b[:, None]  # (M, 2)
    z = m[:, :, None] + (sd[:, None] * t)[:, None, :]  # (M, 2, K)
    return m, v, sd, z, t, q


def _expect(f: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ_k f[..., m, c, k] q[k] (or q[m, k]): the quadrature sum for every member and class."""
    return f @ q if q.ndim == 1 else np.einsum("...mck,mk->...mc", f, q)


def loss(pop: Population, W, b, n: int | None = NODES) -> np.ndarray:
    """Population BCE for each row of W (M, d) and b (M,): ½ Σ_c E[softplus(±z)] (+ for c = 0)."""
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    return by_spread(_loss, pop, W, b, n)


def by_spread(fn, pop: Population, W, b, n):
    """``fn(pop, W, b, n)`` (per-member values: an array, or a dict of them) over groups of members of
    similar spread sd = √(wᵀCw) (within a factor of 2): the trapezoid rule's node count follows the
    widest member of a call, so one wide member does not widen every other's nodes."""
    if n is not None or len(W) < 2:
        return fn(pop, W, b, n)
    v = np.einsum("mi,ij,mj->m", W, pop.cov, W)
    group = np.floor(np.log2(np.maximum(np.sqrt(np.maximum(v, 0.0)), 1.0))).astype(np.intp)
    if group.min() == group.max():
        return fn(pop, W, b, n)
    parts = {g: fn(pop, W[group == g], b[group == g], n) for g in np.unique(group)}

    def gather(key=None):
        first = next(iter(parts.values()))
        shape = (first if key is None else first[key]).shape[1:]
        out = np.empty((len(W), *shape))
        for g, part in parts.items():
            out[group == g] = part if key is None else part[key]
        return out

    first = next(iter(parts.values()))
    return {key: gather(key) for key in first} if isinstance(first, dict) else gather()


def _loss(pop: Population, W, b, n):
    _, _, _, z, _, q = _class_z(pop, W, b, n)
    z[:, 1] *= -1.0
    return 0.5 * _expect(softplus(z), q).sum(axis=1)


def optimal_loss(pop: Population, n: int = 200) -> float:
    """L* = loss at (w*, b*)."""
    w, b = optimum(pop)
    return float(loss(pop, w[None], np.array([b]), n)[0])


def _moments(pop: Population, w: np.ndarray, b: float, n: int | None):
    """Per class c the blocks needed for E[f(z) x̃x̃ᵀ] with x = μ_c + k u + e, u = z − m_c.

    k = Cw/v and Cov(e) = C − v kkᵀ (e independent of z); at w = 0 (v = 0) k = 0 and Cov(e) = C,
    which is the direct formula for a constant z.
    """
    m, v, sd, z, t, q = _class_z(pop, w[None], np.array([b]), n)
    m, v, sd, z = m[0], float(v[0]), float(sd[0]), z[0]
    if q.ndim == 2:  # the trapezoid rule's one member
        t, q = t[0], q[0]
    k = pop.cov @ w / v if v > 0 else np.zeros_like(w)
    cov_e = pop.cov - v * np.outer(k, k)
    u = sd * t  # z − m at the nodes
    return z, u, q, k, cov_e


def _second_moment(mu, k, cov_e, a0, a1, a2):
    """E[f x̃x̃ᵀ] for x̃ = [x, 1] from a0 = E[f], a1 = E[f u], a2 = E[f u²]."""
    d = len(mu)
    out = np.empty((d + 1, d + 1))
    cross = np.outer(mu, k)
    out[:d, :d] = a0 * (np.outer(mu, mu) + cov_e) + a1 * (cross + cross.T) + a2 * np.outer(k, k)
    out[:d, d] = out[d, :d] = a0 * mu + a1 * k
    out[d, d] = a0
    return out


def gradient_stats(pop: Population, w, b: float, n: int | None = NODES):
    """Exact population gradient G (d+1,), per-example gradient covariance Σ and Hessian H ((d+1)²).

    Per-example gradient g = (σ(z) − y) x̃;  G = E[g],  Σ = E[g gᵀ] − G Gᵀ,  H = E[σ'(z) x̃x̃ᵀ].
    """
    w = np.asarray(w, dtype=np.float64)
    z, u, q, k, cov_e = _moments(pop, w, float(b), n)
    d = len(w)
    G = np.zeros(d + 1)
    S2 = np.zeros((d + 1, d + 1))
    H = np.zeros((d + 1, d + 1))
    for c in (0, 1):
        mu = pop.means[c]
        s = sigmoid(z[c])
        r = s - c
        a0, a1 = q @ r, q @ (r * u)
        G[:d] += 0.5 * (a0 * mu + a1 * k)
        G[d] += 0.5 * a0
        f = r * r
        S2 += 0.5 * _second_moment(mu, k, cov_e, q @ f, q @ (f * u), q @ (f * u * u))
        f = s * (1.0 - s)
        H += 0.5 * _second_moment(mu, k, cov_e, q @ f, q @ (f * u), q @ (f * u * u))
    return G, S2 - np.outer(G, G), H


def step_stats(pop: Population, W, b, n: int | None = None) -> dict:
    """Every row of W (M, d) and b (M,): G (M, d+1); loss, |G|², GᵀHG, tr(HΣ), tr Σ (M,); no (d+1)² matrix.

    Class c has x̃ = μ̃_c + k̃u + ẽ, μ̃_c = [μ_c, 1], k̃ = [k, 0], Cov(ẽ) = C̃ − v k̃k̃ᵀ, C̃ = [[C, 0], [0, 0]].
    So for each integrand f (r = σ(z) − c for G, r² for E[ggᵀ], σ' for H), with V = [μ̃₀, μ̃₁, k̃]:
        E[f x̃x̃ᵀ] = p C̃ + V A Vᵀ,   p = E[f],
        A = ½ [[a0⁰, 0, a1⁰], [0, a0¹, a1¹], [a1⁰, a1¹, Σ_c (a2ᶜ − a0ᶜ v)]],   aʲᶜ = E_c[f uʲ],
    and G = V g, g = ½ (a0⁰, a0¹, a1⁰ + a1¹). Then Σ = p_S C̃ + V S Vᵀ with S = A_S − ggᵀ, and every
    quantity is a trace of 3×3 matrices with P = VᵀV and Q = VᵀC̃V:
        GᵀHG = p_H GᵀC̃G + (VᵀG)ᵀA_H(VᵀG),  tr Σ = p_S tr C + tr(SP),
        tr(HΣ) = p_H p_S tr C² + p_H tr(SQ) + p_S tr(A_H Q) + tr(A_H P S P).
    """
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    return by_spread(_step_stats, pop, W, b, n)


def _step_stats(pop: Population, W, b, n) -> dict:
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    M = len(W)
    m, v, sd, z, t, q = _class_z(pop, W, b, n)  # z (M, 2, K)
    CW = W @ pop.cov
    k = np.divide(CW, v[:, None], out=np.zeros_like(CW), where=v[:, None] > 0)
    Ck = k @ pop.cov
    u = sd[:, None] * t  # z − m_c at the nodes, (M, K)
    qu = np.empty((M, len(t.T), 3))  # q uʲ, j = 0, 1, 2
    qu[..., 0] = q
    np.multiply(qu[..., 0], u, out=qu[..., 1])
    np.multiply(qu[..., 1], u, out=qu[..., 2])
    s, sp = sigmoid_softplus(z)
    loss = 0.5 * (sp @ qu[..., :1]).sum(axis=(1, 2)) - 0.5 * m[:, 1]  # ℓ = softplus(z) − cz, E_c z = m_c
    F = np.empty((3, *z.shape))  # the integrands of G, E[ggᵀ] and H: r = σ − c, r², σ(1 − σ)
    np.subtract(s, np.array([0.0, 1.0])[:, None], out=F[0])
    np.multiply(F[0], F[0], out=F[1])
    np.multiply(s, 1.0 - s, out=F[2])
    a0, a1, a2 = np.moveaxis(0.5 * (F @ qu), -1, 0)  # (3, M, 2) each: ½ E_c[f uʲ]
    A = np.zeros((3, M, 3, 3))
    A[..., 0, 0], A[..., 1, 1] = a0[..., 0], a0[..., 1]
    A[..., 0, 2] = A[..., 2, 0] = a1[..., 0]
    A[..., 1, 2] = A[..., 2, 1] = a1[..., 1]
    A[..., 2, 2] = (a2 - a0 * v[:, None]).sum(axis=-1)
    p = a0.sum(axis=-1)  # (3, M)
    g = np.stack([a0[0, :, 0], a0[0, :, 1], a1[0].sum(axis=-1)], axis=-1)  # (M, 3)
    mu = pop.means
    P, Q = np.empty((M, 3, 3)), np.empty((M, 3, 3))
    P[:, :2, :2], Q[:, :2, :2] = mu @ mu.T + 1.0, mu @ pop.cov @ mu.T
    P[:, :2, 2] = P[:, 2, :2] = k @ mu.T
    Q[:, :2, 2] = Q[:, 2, :2] = Ck @ mu.T
    P[:, 2, 2], Q[:, 2, 2] = np.einsum("mi,mi->m", k, k), np.einsum("mi,mi->m", k, Ck)
    S, AH = A[1] - g[:, :, None] * g[:, None, :], A[2]
    PSP = P @ S @ P
    trace = lambda X, Y: np.einsum("mij,mji->m", X, Y)  # noqa: E731
    # |G|² and GᵀHG from G itself (VᵀG = Pg and gᵀQg = G_wᵀCG_w): near θ*, where G → 0, the 3×3
    # forms in g would leave rounding of the size of g's parts, ~1e-17, not of |G|².
    Gw, Gb = g[:, :2] @ mu + g[:, 2:] * k, g[:, 0] + g[:, 1]
    VG = np.concatenate([Gw @ mu.T + Gb[:, None], np.einsum("mi,mi->m", k, Gw)[:, None]], axis=1)
    return {
        "loss": loss,
        "G": np.concatenate([Gw, Gb[:, None]], axis=1),
        "G_sq": np.einsum("mi,mi->m", Gw, Gw) + Gb * Gb,
        "GHG": p[2] * np.einsum("mi,mi->m", Gw @ pop.cov, Gw) + np.einsum("mi,mij,mj->m", VG, AH, VG),
        "tr_HSigma": p[2] * p[1] * np.trace(pop.cov @ pop.cov)
        + p[2] * trace(S, Q)
        + p[1] * trace(AH, Q)
        + trace(AH, PSP),
        "tr_Sigma": p[1] * np.trace(pop.cov) + trace(S, P),
    }

"""The critical-batch study's problems behind one interface: Gaussians of set conditioning, a data set.

A problem is a logistic regression p = σ(wᵀx + b) on a population of examples (x, y). For parameters
θ = (w, b) and x̃ = [x, 1] it gives the exact population loss L(θ), and the three moments of the
per-example gradient g = (σ(z) − y) x̃ + λ[w, 0] (λ the ridge; 0 for the Gaussian problems) that
McCandlish et al. (2018) build the noise-optimal step from:
    G = E[g],  Σ = E[g gᵀ] − G Gᵀ,  H = E[σ'(z) x̃x̃ᵀ] + λ diag(1, …, 1, 0).
A trainer must add the ridge's λw to its minibatch gradient (weight decay on w, not b).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from functools import cached_property, lru_cache

import numpy as np

from . import population

CANONICAL_DIM = 16
MAHALANOBIS2 = 16.0  # ΔμᵀC⁻¹Δμ of every Gaussian problem, as the course data (means (1, ±2), C = I)
NEWTON_TOL = 1e-12  # |G| at which the data set's optimum counts as found, if also
NEWTON_STEP_TOL = 1e-8  # |H⁻¹G| ≤ this·(1 + |θ|)
NEWTON_STEPS = 100
INIT_KINDS = ("random", "zeros")
PROBLEM_NAME_PATTERN = r"^(kappa_[1-9][0-9]*|breast_cancer)$"
ALLOWED_NAMES = "kappa_<k> (k a positive integer: kappa_1, kappa_10, …, dim 16) or breast_cancer"


def optimal_step(stats: dict, batch_size) -> np.ndarray:
    """McCandlish's ε_opt(B) = ε_max / (1 + B_noise/B), ε_max = |G|²/GᵀHG, B_noise = tr(HΣ)/GᵀHG."""
    return (stats["G_sq"] / stats["GHG"]) / (1.0 + stats["tr_HSigma"] / stats["GHG"] / batch_size)


def _generators(rngs) -> tuple[np.random.Generator, ...]:
    return (rngs,) if isinstance(rngs, np.random.Generator) else tuple(rngs)


class Problem(ABC):
    """A logistic-regression problem: its exact population loss and gradient moments, its optimum θ*."""

    name: str
    dim: int
    ridge: float = 0.0

    @abstractmethod
    def loss(self, W, b) -> np.ndarray:
        """Exact population loss of every member: W (M, d), b (M,) -> (M,)."""

    @abstractmethod
    def gradient_stats(self, w, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """G (d+1,), Σ (d+1, d+1) and H (d+1, d+1) at one point (w, b)."""

    @abstractmethod
    def step_stats(self, W, b) -> dict:
        """Every member's loss, G (M, d+1), |G|², GᵀHG, tr(HΣ), tr Σ (M,): one vectorised pass, no loop."""

    @abstractmethod
    def draw(self, rngs, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n i.i.d. examples x (n, d), y (n,) from the population, a function of the generators' states."""

    @abstractmethod
    def _find_optimum(self) -> tuple[np.ndarray, float]: ...

    @cached_property
    def _theta_star(self) -> np.ndarray:
        w, b = self._find_optimum()
        theta = np.append(np.asarray(w, dtype=np.float64), b)
        theta.flags.writeable = False
        return theta

    def optimum(self) -> tuple[np.ndarray, float]:
        """(w*, b*), found once."""
        return self._theta_star[: self.dim].copy(), float(self._theta_star[self.dim])

    @cached_property
    def optimal_loss(self) -> float:
        """L* = L(θ*)."""
        w, b = self.optimum()
        return float(self.loss(w[None], np.array([b]))[0])

    @cached_property
    def hessian_at_optimum(self) -> np.ndarray:
        """H* (read-only)."""
        H = self.gradient_stats(*self.optimum())[2]
        H.flags.writeable = False
        return H

    @cached_property
    def kappa(self) -> float:
        """λ_max/λ_min of the (d+1)×(d+1) H*, the bias included."""
        eig = np.linalg.eigvalsh(self.hessian_at_optimum)
        return float(eig[-1] / eig[0])

    @cached_property
    def lr_unit(self) -> float:
        """1/λ_max(H*): the study's learning rates are multiples of it (GD near θ* is stable below 2)."""
        return float(1.0 / np.linalg.eigvalsh(self.hessian_at_optimum)[-1])

    @cached_property
    def init_scale(self) -> float:
        """τ with ½ τ² tr(H*) = 2 L*: the quadratic model's mean excess loss at θ* + ξ, ξ ~ N(0, τ² I).

        The loss is far from quadratic that far out: the mean excess is 3.8–4.1 L* on the Gaussian
        family (median 2.4–1.5 L*, κ = 1 … 1000; heavy-tailed) and 2.5 L* on ``breast_cancer``.
        """
        return math.sqrt(4.0 * self.optimal_loss / np.trace(self.hessian_at_optimum))

    def initial(self, rng: np.random.Generator, n: int, kind: str = "random"):
        """n starting points W0 (n, d), b0 (n,): θ* + ξ, ξ ~ N(0, τ² I) in (w, b), or ``kind="zeros"``."""
        if kind == "zeros":
            return np.zeros((n, self.dim)), np.zeros(n)
        if kind != "random":
            raise ValueError(f"initial kind must be one of {', '.join(INIT_KINDS)}, got {kind!r}")
        theta = self._theta_star + self.init_scale * rng.standard_normal((n, self.dim + 1))
        return theta[:, : self.dim], theta[:, self.dim].copy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, dim={self.dim})"


class GaussianProblem(Problem):
    """Two equally likely Gaussian classes with a shared covariance (``population.Population``), exact."""

    def __init__(self, name: str, pop: population.Population):
        self.name, self.pop, self.dim = name, pop, pop.dim
        self._chol = np.linalg.cholesky(pop.cov)

    # n=None: the trapezoid rule, exact at every sd of z the study visits. Gauss–Hermite at 48 nodes
    # is not: from θ* + ξ (sd of z up to ~10) it puts the loss up to 4e-3 off and H 30 % off.
    def loss(self, W, b):
        return population.loss(self.pop, W, b, n=None)

    def gradient_stats(self, w, b):
        """The one-point formulas, with full matrices: the reference ``step_stats`` is tested against."""
        return population.gradient_stats(self.pop, w, float(b), n=None)

    def step_stats(self, W, b):
        """``population.step_stats``: G, Σ and H are C̃ plus a 3-D span, so no (d+1)² work per member."""
        return population.step_stats(self.pop, W, b, n=None)

    def draw(self, rngs, n):
        """Labels from the first generator (uniforms < ½), the noise from the last: one generator, or
        the (labels, noise) pair of the ensemble's stream, which then draws the same examples."""
        gens = _generators(rngs)
        labels = gens[0].random(n) < 0.5
        noise = gens[-1].standard_normal((n, self.dim))
        return self.pop.means[labels.astype(np.intp)] + noise @ self._chol.T, labels.astype(np.float64)

    def _find_optimum(self):
        return population.optimum(self.pop)


@lru_cache(maxsize=1)
def separation_curvatures() -> tuple[float, float]:
    """h₀ = E[σ'(z*)] and h_s = E[σ'(z*) s²] at the optimum of the whitened problem.

    Whitened, x̃ ~ N(±2u, I) for a unit u and z* = 4 uᵀx̃, so H̃* = h₀(I − uuᵀ) + h_s uuᵀ (and h₀ for
    the bias) in every dimension: the 1-D problem s ~ N(±2, 1), w* = 4, b* = 0 gives both.
    """
    sep = math.sqrt(MAHALANOBIS2)  # 4
    line = population.Population(np.array([[-sep / 2], [sep / 2]]), np.eye(1))
    H = population.gradient_stats(line, np.array([sep]), 0.0, n=None)[2]
    return float(H[1, 1]), float(H[0, 0])


@lru_cache(maxsize=64)
def conditioned(kappa: float, dim: int = CANONICAL_DIM) -> GaussianProblem:
    """Two Gaussian classes in ``dim`` dimensions whose Hessian at the optimum has condition number κ.

    H* = h₀ diag(λ₁, …, λ_d, 1) exactly, with the power law λᵢ ∝ i^(−α), α = ln κ / ln d, scaled to
    geometric mean 1 (so the bias's h₀ lies between h₀λ_d and h₀λ₁ and κ(H*) = λ₁/λ_d = κ). Every
    member has ΔμᵀC⁻¹Δμ = 16, so the same L* and Bayes error as the course data, b* = 0.

    Construction: x = A x̃ with x̃ ~ N(±2u, I), u = (1, …, 1)/√d (the whitened separation has equal
    components). Whitened, H̃* = h₀(I − uuᵀ) + h_s uuᵀ (``separation_curvatures``): logistic loss is
    r = h₀/h_s ≈ 3.17 times flatter along the separation. A = (h₀Λ)^½ H̃*^(−½) makes H*_ww = A H̃* Aᵀ
    = h₀Λ, so
        C = AAᵀ = Λ + (r − 1) Λ^½ uuᵀ Λ^½,   Δμ = 4A u = 4√r Λ^½ u:
    the diagonal power law plus extra spread along Δμ. Without that rank-one term (C = Λ) κ(H*)
    could not go below r (its value at α = 0), and the family would start at κ ≈ 3.17, not 1.
    """
    if not (math.isfinite(kappa) and kappa >= 1.0):
        raise ValueError(f"kappa must be a finite number ≥ 1, got {kappa}")
    if dim < 2:
        raise ValueError(f"dim must be at least 2, got {dim}")
    h0, hs = separation_curvatures()
    r = h0 / hs
    alpha = math.log(kappa) / math.log(dim)
    log_lam = -alpha * np.log(np.arange(1, dim + 1))
    lam = np.exp(log_lam - log_lam.mean())
    sep = np.sqrt(lam / dim)  # Λ^½ u
    cov = np.diag(lam) + (r - 1.0) * np.outer(sep, sep)
    delta = math.sqrt(MAHALANOBIS2 * r) * sep
    k = int(kappa) if float(kappa).is_integer() else kappa
    name = f"kappa_{k}" if dim == CANONICAL_DIM else f"kappa_{k}_d{dim}"
    return GaussianProblem(name, population.Population(np.stack([-delta / 2, delta / 2]), cov))


class DatasetProblem(Problem):
    """A finite data set as the population: examples drawn uniformly with replacement.

    L(θ) = mean ℓᵢ + ½λ|w|², Σ the covariance of the per-example gradients over the set, H exact,
    θ* by Newton's method with a backtracking line search, to |G| < 1e-12.
    """

    def __init__(self, name: str, X, y, ridge: float = 0.0):
        X = np.array(X, dtype=np.float64)  # own copies: they are made read-only below
        y = np.array(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (len(X),):
            raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
        if ridge < 0:
            raise ValueError(f"ridge must be ≥ 0, got {ridge}")
        self.name, self.ridge, self.dim = name, float(ridge), X.shape[1]
        self.X, self.y = X, y
        self.Xt = np.hstack([X, np.ones((len(X), 1))])
        self._sq_norms = (self.Xt**2).sum(axis=1)  # |x̃ᵢ|²
        for a in (self.X, self.y, self.Xt, self._sq_norms):
            a.flags.writeable = False

    @property
    def n_examples(self) -> int:
        return len(self.X)

    def _z(self, W, b):
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        b = np.atleast_1d(np.asarray(b, dtype=np.float64))
        return W, self.X @ W.T + b  # (N, M)

    def loss(self, W, b):
        W, z = self._z(W, b)
        data = (population.softplus(z) - self.y[:, None] * z).mean(axis=0)
        return data + 0.5 * self.ridge * np.einsum("mi,mi->m", W, W)

    def gradient_stats(self, w, b):
        """Direct sums over the examples: g_i = (σ(zᵢ) − yᵢ) x̃ᵢ (+ λ[w, 0], which moves G but not Σ)."""
        w = np.asarray(w, dtype=np.float64)
        z = self.Xt @ np.append(w, b)
        s = population.sigmoid(z)
        g = (s - self.y)[:, None] * self.Xt
        mean = g.mean(axis=0)
        Sigma = (g - mean).T @ (g - mean) / self.n_examples
        H = (self.Xt * (s * (1.0 - s))[:, None]).T @ self.Xt / self.n_examples
        H[np.diag_indices(self.dim)] += self.ridge
        return mean + self.ridge * np.append(w, 0.0), Sigma, H

    @cached_property
    def _gram_sq(self) -> np.ndarray:
        """(x̃ᵢᵀx̃ⱼ)² / N²: tr(H S) for H = Σᵢ fᵢ x̃ᵢx̃ᵢᵀ/N, S = Σⱼ gⱼ x̃ⱼx̃ⱼᵀ/N is fᵀ K g, no d×d matrices."""
        return (self.Xt @ self.Xt.T) ** 2 / self.n_examples**2

    def step_stats(self, W, b):
        """Through the examples' Gram matrix, no (d+1)² matrix per member. With f = σ'(z), r = σ(z) − y,
        Ḡ = E[r x̃] (the data part of G) and S = E[r² x̃x̃ᵀ]:  Σ = S − ḠḠᵀ, so
        tr(HΣ) = tr(HS) − ḠᵀHḠ,  tr(HS) = Σᵢⱼ fᵢ rⱼ² (x̃ᵢᵀx̃ⱼ)²/N² + λ E[r²|x|²],  tr Σ = E[r²|x̃|²] − |Ḡ|²."""
        W, z = self._z(W, b)
        N, lam = self.n_examples, self.ridge
        s, sp = population.sigmoid_softplus(z)
        r, f = s - self.y[:, None], s * (1.0 - s)  # (N, M)
        r2 = r * r
        data_G = (self.Xt.T @ r).T / N  # (M, d+1)
        G = data_G + lam * np.hstack([W, np.zeros((len(W), 1))])

        def quad(V):  # VᵀHV for each member's row of V (M, d+1)
            return (f * (self.Xt @ V.T) ** 2).mean(axis=0) + lam * np.einsum("mi,mi->m", V[:, :-1], V[:, :-1])

        tr_HS = np.einsum("mn,nm->m", f.T @ self._gram_sq, r2) + lam * (self._sq_norms - 1.0) @ r2 / N
        return {
            "loss": (sp - self.y[:, None] * z).mean(axis=0) + 0.5 * lam * np.einsum("mi,mi->m", W, W),
            "G": G,
            "G_sq": np.einsum("mi,mi->m", G, G),
            "GHG": quad(G),
            "tr_HSigma": tr_HS - quad(data_G),
            "tr_Sigma": self._sq_norms @ r2 / N - np.einsum("mi,mi->m", data_G, data_G),
        }

    def draw(self, rngs, n):
        """Indices uniform with replacement, from the first generator."""
        i = _generators(rngs)[0].integers(0, self.n_examples, size=n)
        return self.X[i], self.y[i]

    def _find_optimum(self):
        theta = np.zeros(self.dim + 1)
        value = self.loss(theta[None, :-1], theta[-1:])[0]
        for _ in range(NEWTON_STEPS):
            G, _, H = self.gradient_stats(theta[:-1], theta[-1])
            try:
                step = np.linalg.solve(H, G)
            except np.linalg.LinAlgError:
                break
            # On separable data |G| → 0 too, as θ runs off to infinity; there the step does not shrink.
            if np.linalg.norm(G) < NEWTON_TOL and np.linalg.norm(step) < NEWTON_STEP_TOL * (
                1 + np.linalg.norm(theta)
            ):
                return theta[:-1], float(theta[-1])
            theta, value = self._backtrack(theta, value, step, G @ step)
            if theta is None:
                break
        raise ValueError(
            f"{self.name}: Newton's method found no point with |G| < {NEWTON_TOL:g} in {NEWTON_STEPS} steps; "
            "a linearly separable data set has no optimum without ridge > 0"
        )

    def _backtrack(self, theta, value, step, decrease):
        """Armijo: halve t until L(θ − t·step) ≤ L(θ) − ¼ t Gᵀstep; a full Newton step from far away can
        overshoot. The slack is the loss's rounding: near θ* the predicted decrease is smaller than it."""
        slack = 1e-15 * (1.0 + abs(value))
        t = 1.0
        while t > 1e-10:
            trial = theta - t * step
            new = self.loss(trial[None, :-1], trial[-1:])[0]
            if np.isfinite(new) and new <= value - 0.25 * t * decrease + slack:
                return trial, new
            t *= 0.5
        return None, value


def breast_cancer(ridge: float | None = None) -> DatasetProblem:
    """scikit-learn's Wisconsin breast-cancer set (569 × 30, shipped in the package), standardised.

    Features standardised to mean 0, sd 1 over the set; y = 1 benign (357 of 569). The set is linearly
    separable (unregularised Newton classifies all 569 correctly within 13 steps), so without a ridge
    L* = 0 is approached but never reached, and there is no θ*, H* or κ. Every λ > 0 makes θ* exist
    (there is no smallest one; L* → 0 and κ ∝ 1/λ as λ → 0); the default λ = 1/N is one example's worth,
    scikit-learn's ``LogisticRegression()`` default (C = 1, b unpenalised):
    L* = 0.0664 (data part 0.0534), κ(H*) = 85.9, train accuracy 98.77 % (562 / 569) at θ*.
    """
    from sklearn.datasets import load_breast_cancer  # here: only this problem needs scikit-learn

    data = load_breast_cancer()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    n = len(X)
    return DatasetProblem("breast_cancer", X, data.target, 1.0 / n if ridge is None else ridge)


@lru_cache(maxsize=32)
def by_name(name: str) -> Problem:
    """The problem called ``name``: ``kappa_<k>`` (``conditioned(k)``, dim 16) or ``breast_cancer``."""
    if not isinstance(name, str) or not re.fullmatch(PROBLEM_NAME_PATTERN, name):
        raise ValueError(f"unknown problem {name!r}: the allowed names are {ALLOWED_NAMES}")
    if name == "breast_cancer":
        return breast_cancer()
    return conditioned(int(name.removeprefix("kappa_")))

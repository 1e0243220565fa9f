"""The critical study's problems: exact moments against Monte Carlo, finite differences and direct sums."""

from __future__ import annotations

import re

import numpy as np
import pytest

from batchgraph.critical import population as pm
from batchgraph.critical import problems as pr

KAPPAS = (1, 3, 10, 30, 100, 300, 1000)


@pytest.fixture(scope="module")
def cancer():
    return pr.breast_cancer()


@pytest.fixture(params=["kappa_10", "kappa_1000", "d31", "breast_cancer"], scope="module")
def problem(request):
    return pr.conditioned(30, 31) if request.param == "d31" else pr.by_name(request.param)


def near_optimum(problem, n, seed=0, scale=2.0):
    """n points θ* + scale·τ·ξ: away from θ*, where G is not small."""
    w, b = problem.optimum()
    xi = np.random.default_rng(seed).standard_normal((n, problem.dim + 1)) * scale * problem.init_scale
    return w + xi[:, :-1], b + xi[:, -1]


def test_gaussian_moments_match_a_million_samples():
    problem = pr.by_name("kappa_30")
    W, b = near_optimum(problem, 1, seed=3)
    w, b = W[0], float(b[0])
    G, Sigma, H = problem.gradient_stats(w, b)
    dirs = np.random.default_rng(4).standard_normal((4, problem.dim + 1))
    sums, n = 0.0, 4 * 250_000
    for seed in range(4):  # per-example loss, g, (gᵀv)², σ'(z)(x̃ᵀv)²: their sums and sums of squares
        x, y = problem.draw(np.random.default_rng(seed), n // 4)
        z = x @ w + b
        s = pm.sigmoid(z)
        xv = x @ dirs[:, :-1].T + dirs[:, -1]
        per = np.hstack(
            [(pm.softplus(z) - y * z)[:, None], (s - y)[:, None] * np.hstack([x, np.ones_like(z)[:, None]])]
        )
        per = np.hstack([per, ((s - y)[:, None] * xv) ** 2, (s * (1 - s))[:, None] * xv**2])
        sums = sums + np.stack([per.sum(axis=0), (per * per).sum(axis=0)])
    mean = sums[0] / n
    se = np.sqrt((sums[1] / n - mean**2) / n)
    exact = np.concatenate(
        [
            problem.loss(W, np.array([b])),
            G,
            np.einsum("ki,ij,kj->k", dirs, Sigma, dirs) + (dirs @ G) ** 2,  # E[(gᵀv)²]
            np.einsum("ki,ij,kj->k", dirs, H, dirs),
        ]
    )
    assert np.all(np.abs(exact - mean) < 5 * se)


def test_gaussian_gradient_and_hessian_are_finite_differences_of_the_loss():
    problem = pr.by_name("kappa_100")
    W, b = near_optimum(problem, 1, seed=1)
    theta, d, h = np.append(W[0], b), problem.dim, 1e-5
    steps = np.vstack([np.eye(d + 1) * h, -np.eye(d + 1) * h]) + theta
    losses = problem.loss(steps[:, :d], steps[:, d])  # every ±h point in one call
    G, _, H = problem.gradient_stats(theta[:d], theta[d])
    np.testing.assert_allclose(G, (losses[: d + 1] - losses[d + 1 :]) / (2 * h), atol=1e-9)
    grads = np.array([problem.gradient_stats(t[:d], t[d])[0] for t in steps])
    np.testing.assert_allclose(H, (grads[: d + 1] - grads[d + 1 :]) / (2 * h), atol=1e-9)


@pytest.mark.parametrize("kappa", KAPPAS)
def test_conditioned_has_its_kappa_and_the_course_separation(kappa):
    problem = pr.conditioned(kappa)
    assert problem.name == f"kappa_{kappa}" and problem.dim == 16
    assert problem.kappa == pytest.approx(kappa, rel=1e-9)
    delta = problem.pop.means[1] - problem.pop.means[0]
    assert delta @ np.linalg.solve(problem.pop.cov, delta) == pytest.approx(16.0, rel=1e-12)
    assert np.allclose(problem.pop.means.sum(axis=0), 0.0) and problem.optimum()[1] == 0.0
    # L* is the course data's (Mahalanobis distance 4 there too), for every κ.
    course = pm.optimal_loss(pm.correlated(0.0), n=None)
    assert problem.optimal_loss == pytest.approx(course, abs=1e-12)
    assert problem.optimal_loss == pytest.approx(0.0604269868, abs=1e-10)
    w, b = problem.optimum()
    assert np.abs(problem.gradient_stats(w, b)[0]).max() < 1e-10
    # H* = h₀ diag(λ, 1): a power law with geometric mean 1, the bias's h₀ inside its range.
    H = problem.hessian_at_optimum
    h0, _ = pr.separation_curvatures()
    np.testing.assert_allclose(H - np.diag(np.diag(H)), 0.0, atol=1e-14)
    lam = np.diag(H)[:-1] / h0
    assert np.mean(np.log(lam)) == pytest.approx(0.0, abs=1e-12) and H[-1, -1] == pytest.approx(h0)
    if kappa > 1:
        slopes = np.diff(np.log(lam)) / np.diff(np.log(np.arange(1, 17)))
        np.testing.assert_allclose(slopes, -np.log(kappa) / np.log(16))


def test_conditioned_in_other_dimensions_and_its_refusals():
    assert pr.conditioned(300, 31).kappa == pytest.approx(300, rel=1e-9)
    assert pr.conditioned(300, 31).optimal_loss == pytest.approx(pr.conditioned(1).optimal_loss, abs=1e-12)
    assert pr.conditioned(2.5, 4).name == "kappa_2.5_d4"
    for kappa, dim in ((0.5, 16), (float("nan"), 16), (10, 1)):
        with pytest.raises(ValueError, match=r"kappa|dim"):
            pr.conditioned(kappa, dim)


def test_a_diagonal_power_law_alone_stops_at_kappa_3_17():
    """Why the family has a rank-one term: with C = Λ (equal whitened components) κ(H*) ≥ h₀/h_s."""
    h0, hs = pr.separation_curvatures()
    assert h0 / hs == pytest.approx(3.1677, abs=1e-4)
    d, kappas = 16, []
    for alpha in (-0.3, -0.1, 0.0, 0.1, 0.3):
        lam = np.arange(1, d + 1) ** -alpha
        delta = 4.0 * np.sqrt(lam / d)
        plain = pr.GaussianProblem("plain", pm.Population(np.stack([-delta / 2, delta / 2]), np.diag(lam)))
        kappas.append(plain.kappa)
    assert min(kappas) == pytest.approx(h0 / hs, rel=1e-9) == kappas[2]


def test_dataset_moments_are_direct_sums(cancer):
    W, b = near_optimum(cancer, 1, seed=2)
    w, b = W[0], float(b[0])
    lam, loss, grads, H = cancer.ridge, 0.0, [], np.diag(np.append(np.full(30, cancer.ridge), 0.0))
    for x, y in zip(cancer.X, cancer.y):
        z, xt = x @ w + b, np.append(x, 1.0)
        p = 1.0 / (1.0 + np.exp(-z))
        loss += (np.log1p(np.exp(z)) - y * z) / 569
        grads.append((p - y) * xt + lam * np.append(w, 0.0))
        H += p * (1 - p) * np.outer(xt, xt) / 569
    loss += 0.5 * lam * w @ w
    G, Sigma, H_got = cancer.gradient_stats(w, b)
    assert cancer.loss(W, np.array([b]))[0] == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(G, np.mean(grads, axis=0), atol=1e-15)
    np.testing.assert_allclose(Sigma, np.cov(np.array(grads).T, bias=True), atol=1e-15)
    np.testing.assert_allclose(H_got, H, atol=1e-15)


def test_breast_cancer_is_separable_so_it_needs_a_ridge(cancer):
    assert cancer.X.shape == (569, 30) and cancer.y.sum() == 357
    np.testing.assert_allclose(cancer.X.mean(axis=0), 0.0, atol=1e-14)
    np.testing.assert_allclose(cancer.X.std(axis=0), 1.0, rtol=1e-14)
    # A certificate: damped Newton on the unregularised loss classifies every example correctly.
    plain = pr.DatasetProblem("plain", cancer.X, cancer.y)
    theta = np.zeros(31)
    for _ in range(20):
        G, _, H = plain.gradient_stats(theta[:-1], theta[-1])
        step = np.linalg.solve(H, G)
        t = 1.0
        while (
            plain.loss(theta[None, :-1] - t * step[:-1], theta[-1:] - t * step[-1:])[0]
            > plain.loss(theta[None, :-1], theta[-1:])[0]
        ):
            t /= 2
        theta -= t * step
        if np.all((cancer.Xt @ theta > 0) == cancer.y):
            break
    margins = (2 * cancer.y - 1) * (cancer.Xt @ theta)
    assert margins.min() > 0
    # With ridge 1/N (scikit-learn's default C = 1) θ* exists.
    w, b = cancer.optimum()
    assert cancer.ridge == 1 / 569 and np.linalg.norm(cancer.gradient_stats(w, b)[0]) < 1e-12
    assert cancer.optimal_loss == pytest.approx(0.066360186, abs=1e-9)
    assert cancer.kappa == pytest.approx(85.859, abs=1e-3)
    assert np.sum((cancer.X @ w + b > 0) == cancer.y) == 562


def test_newton_refuses_a_separable_set_without_a_ridge():
    X = np.array([[-2.0, 0.5], [-1.0, -0.5], [1.0, 0.3], [2.0, -0.2]])
    with pytest.raises(ValueError, match="separable"):
        pr.DatasetProblem("toy", X, np.array([0, 0, 1, 1])).optimum()
    w, _ = pr.DatasetProblem("toy", X, np.array([0, 0, 1, 1]), ridge=0.1).optimum()
    assert w[0] > 0


def test_dataset_optimum_is_where_accelerated_gradient_descent_and_scikit_learn_end(cancer):
    from sklearn.linear_model import LogisticRegression

    w, b = cancer.optimum()
    Xt, y, lam = cancer.Xt, cancer.y, cancer.ridge

    def grad(t):
        return Xt.T @ (pm.sigmoid(Xt @ t) - y) / 569 + lam * np.append(t[:-1], 0.0)

    # Nesterov's method for a μ-strongly convex loss: step 1/L with L = λ_max(X̃ᵀX̃)/(4N) + λ, which
    # bounds the Hessian everywhere, momentum (√(L/μ) − 1)/(√(L/μ) + 1) with μ = λ.
    L = np.linalg.eigvalsh(Xt.T @ Xt)[-1] / (4 * 569) + lam
    momentum = (np.sqrt(L / lam) - 1) / (np.sqrt(L / lam) + 1)
    theta = prev = np.zeros(31)
    for _ in range(1200):
        look = theta + momentum * (theta - prev)
        prev, theta = theta, look - grad(look) / L
    np.testing.assert_allclose(theta, np.append(w, b), atol=1e-9)
    assert cancer.loss(theta[None, :-1], theta[-1:])[0] == pytest.approx(cancer.optimal_loss, abs=1e-12)
    fit = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(cancer.X, cancer.y)
    np.testing.assert_allclose(np.append(fit.coef_[0], fit.intercept_), np.append(w, b), atol=1e-5)


def test_step_stats_equal_gradient_stats_member_by_member(problem):
    W, b = near_optimum(problem, 32, seed=5)
    W, b = np.vstack([W, problem.optimum()[0], np.zeros(problem.dim)]), np.append(b, [0.0, 0.0])
    stats = problem.step_stats(W, b)
    for key in ("loss", "G_sq", "GHG", "tr_HSigma", "tr_Sigma"):
        assert stats[key].shape == (34,)
    assert stats["G"].shape == (34, problem.dim + 1)
    np.testing.assert_allclose(stats["loss"], problem.loss(W, b), rtol=1e-13)
    for i in range(34):
        G, Sigma, H = problem.gradient_stats(W[i], b[i])
        np.testing.assert_allclose(stats["G"][i], G, rtol=1e-10, atol=1e-13)
        expected = (G @ G, G @ H @ G, np.trace(H @ Sigma), np.trace(Sigma))
        got = [stats[key][i] for key in ("G_sq", "GHG", "tr_HSigma", "tr_Sigma")]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-24)


def test_optimal_step_minimises_the_expected_quadratic_loss(problem):
    stats = problem.step_stats(*near_optimum(problem, 3, seed=6))
    for B in (1, 64, 4096):
        eps = pr.optimal_step(stats, B)
        curvature = stats["GHG"] + stats["tr_HSigma"] / B
        for scale in (0.9, 1.1):  # ΔL(ε) = −ε|G|² + ½ε²(GᵀHG + tr(HΣ)/B) is least at ε_opt
            change = [-e * stats["G_sq"] + 0.5 * e**2 * curvature for e in (eps, scale * eps)]
            assert np.all(change[0] < change[1])


def test_gaussian_draw_is_the_population_and_deterministic():
    problem = pr.by_name("kappa_100")
    x, y = problem.draw(np.random.default_rng(7), 100_000)
    same_x, same_y = pm.sample(problem.pop, np.random.default_rng(7), (100_000,))
    np.testing.assert_array_equal(x, same_x)
    np.testing.assert_array_equal(y, same_y)
    pair = [np.random.default_rng(s) for s in (1, 2)]
    x2, _ = problem.draw(pair, 10)
    x3, _ = problem.draw([np.random.default_rng(s) for s in (1, 2)], 10)
    np.testing.assert_array_equal(x2, x3)
    delta = problem.pop.means[1] - problem.pop.means[0]
    se = np.sqrt(np.diag(problem.pop.cov) / len(x))
    assert np.all(np.abs(x[y == 1].mean(axis=0) - delta / 2) < 5 * se * np.sqrt(2))
    assert abs(y.mean() - 0.5) < 5 * 0.5 / np.sqrt(len(y))
    cov = problem.pop.cov + np.outer(delta, delta) / 4
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.abs(np.cov(x.T) - cov).max() / scale.max() < 0.02


def test_dataset_draw_is_uniform_with_replacement(cancer):
    n = 569 * 100
    x, y = cancer.draw(np.random.default_rng(0), n)
    i = np.random.default_rng(0).integers(0, 569, size=n)  # the indices it drew
    np.testing.assert_array_equal(x, cancer.X[i])
    np.testing.assert_array_equal(y, cancer.y[i])
    again, _ = cancer.draw([np.random.default_rng(0), np.random.default_rng(9)], n)
    np.testing.assert_array_equal(x, again)
    counts = np.bincount(i, minlength=569)  # 100 each on average, sd 10
    assert counts.min() > 50 and counts.max() < 150
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=5 / np.sqrt(n))
    np.testing.assert_allclose(np.cov(x.T, bias=True), np.cov(cancer.X.T, bias=True), atol=0.05)


@pytest.mark.parametrize(
    ("name", "mean_excess"), [("kappa_1", 3.79), ("kappa_1000", 4.12), ("breast_cancer", 2.54)]
)
def test_initial_is_theta_star_plus_isotropic_noise_of_quadratic_excess_2_optimal_losses(name, mean_excess):
    problem = pr.by_name(name)
    H, L = problem.hessian_at_optimum, problem.optimal_loss
    assert 0.5 * problem.init_scale**2 * np.trace(H) == pytest.approx(2 * L, rel=1e-12)
    W, b = problem.initial(np.random.default_rng(0), 4000)
    theta, star = np.hstack([W, b[:, None]]), np.append(*problem.optimum())
    np.testing.assert_allclose(theta.mean(axis=0), star, atol=5 * problem.init_scale / np.sqrt(4000))
    assert theta.std(axis=0).mean() == pytest.approx(problem.init_scale, rel=0.02)
    excess = (problem.loss(W, b) - L) / L
    assert np.all(excess > 0)
    # The loss is quadratic only close to θ*: at a tenth of τ the mean excess is 2/100 of L*; at τ
    # itself it is larger and heavy-tailed (3.8 to 4.1 L* on the Gaussian family, 2.5 on the data set).
    near = (problem.loss(*_shrunk(problem, W, b, 0.1)) - L) / L
    assert near.mean() == pytest.approx(0.02, rel=0.05)
    assert excess.mean() == pytest.approx(mean_excess, abs=0.1)
    W0, b0 = problem.initial(np.random.default_rng(0), 3, kind="zeros")
    assert not W0.any() and not b0.any() and W0.shape == (3, problem.dim)
    again, _ = problem.initial(np.random.default_rng(0), 4000)
    np.testing.assert_array_equal(W, again)
    with pytest.raises(ValueError, match="random, zeros"):
        problem.initial(np.random.default_rng(0), 3, kind="ones")


def _shrunk(problem, W, b, factor):
    w, b_star = problem.optimum()
    return w + factor * (W - w), b_star + factor * (b - b_star)


def test_by_name_caches_and_refuses_what_it_does_not_know():
    assert pr.by_name("kappa_10") is pr.by_name("kappa_10") is pr.conditioned(10)
    assert pr.by_name("breast_cancer") is pr.by_name("breast_cancer")
    assert re.fullmatch(pr.PROBLEM_NAME_PATTERN, "kappa_1000")
    for bad in (
        "kappa_0",
        "kappa_07",
        "kappa_1.5",
        "kappa_",
        "kappa_-3",
        "rho_0.9",
        "breast-cancer",
        " kappa_1",
    ):
        assert not re.search(pr.PROBLEM_NAME_PATTERN, bad)
        with pytest.raises(ValueError, match=r"kappa_<k> .* or breast_cancer"):
            pr.by_name(bad)

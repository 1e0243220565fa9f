"""The critical-batch study: exact population quantities, the ensemble sweep, the fit, its params."""

from __future__ import annotations

import numpy as np
import pytest

from batchgraph import SGD, Parameter
from batchgraph.core.config import LrGrid, ParamsError, validate_params
from batchgraph.critical import population as pm
from batchgraph.critical.ensemble import train_ensemble
from batchgraph.critical.fit import fit_tradeoff
from helpers import default_params


@pytest.fixture(params=[0.0, 0.9])
def pop(request):
    return pm.correlated(request.param)


def test_loss_matches_a_large_monte_carlo_sample(pop):
    x, y = pm.sample(pop, np.random.default_rng(0), (400_000,))
    W, b = np.array([[0.7, -1.1], [0.0, 0.0]]), np.array([0.3, -0.2])
    z = x @ W.T + b
    mc = (pm.softplus(z) - y[:, None] * z).mean(axis=0)
    np.testing.assert_allclose(pm.loss(pop, W, b), mc, atol=3e-3)
    assert pm.loss(pop, W[1:], b[1:])[0] == pytest.approx(pm.softplus(-0.2) - 0.5 * -0.2, abs=1e-12)


def test_closed_form_optimum_is_where_gradient_descent_ends(pop):
    w, b = pm.optimum(pop)
    G, _, _ = pm.gradient_stats(pop, w, b, n=300)
    assert np.abs(G).max() < 1e-8
    theta = np.zeros(3)
    for _ in range(3000):
        G, _, H = pm.gradient_stats(pop, theta[:2], theta[2])
        theta -= G / np.linalg.eigvalsh(H)[-1]
    np.testing.assert_allclose(theta, [*w, b], atol=2e-2)
    # Mahalanobis separation 16 for every ρ, so the same L*.
    assert pm.optimal_loss(pop) == pytest.approx(pm.optimal_loss(pm.correlated(0.0)), abs=1e-10)


def test_gradient_and_hessian_match_finite_differences_of_the_loss(pop):
    theta, h = np.array([0.4, -0.8, 0.25]), 1e-5

    def f(t):
        return pm.loss(pop, t[None, :2], t[2:], n=300)[0]

    G, _, H = pm.gradient_stats(pop, theta[:2], theta[2], n=300)
    eye = np.eye(3) * h
    fd_g = np.array([(f(theta + e) - f(theta - e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(G, fd_g, atol=1e-8)
    g_of = lambda t: pm.gradient_stats(pop, t[:2], t[2], n=300)[0]  # noqa: E731
    fd_h = np.array([(g_of(theta + e) - g_of(theta - e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(H, fd_h, atol=1e-7)


def test_gradient_covariance_matches_monte_carlo(pop):
    w, b = np.array([0.4, -0.8]), 0.25
    x, y = pm.sample(pop, np.random.default_rng(1), (400_000,))
    xt = np.hstack([x, np.ones((len(x), 1))])
    g = (pm.sigmoid(xt @ np.append(w, b)) - y)[:, None] * xt
    G, Sigma, _ = pm.gradient_stats(pop, w, b)
    np.testing.assert_allclose(G, g.mean(axis=0), atol=5e-3)
    np.testing.assert_allclose(Sigma, np.cov(g.T), atol=2e-2 * np.abs(Sigma).max())


def test_zero_weights_use_the_direct_formula(pop):
    G, Sigma, H = pm.gradient_stats(pop, np.zeros(2), 0.0)
    mu0, mu1 = pop.means
    np.testing.assert_allclose(G, [*(0.25 * (mu0 - mu1)), 0.0], atol=1e-14)
    second = np.zeros((3, 3))
    for mu in (mu0, mu1):
        m = np.append(mu, 1.0)
        second += 0.5 * (np.outer(m, m) + np.pad(pop.cov, (0, 1)))
    np.testing.assert_allclose(H, 0.25 * second, atol=1e-12)
    np.testing.assert_allclose(Sigma, 0.25 * second - np.outer(G, G), atol=1e-12)


def test_noise_scales_follow_their_definitions_on_a_tiny_case():
    G = np.array([1.0, 2.0])
    Sigma = np.array([[2.0, 0.5], [0.5, 1.0]])
    H = np.diag([3.0, 1.0])
    b_simple, b_noise = pm.noise_scales(G, Sigma, H)
    assert b_simple == pytest.approx(3.0 / 5.0)
    assert b_noise == pytest.approx((6.0 + 1.0) / (3.0 + 4.0))


def test_sgd_with_one_learning_rate_per_member():
    p = Parameter(np.ones((2, 3, 1, 2)))
    p.grad = np.ones_like(p.value)
    lr = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    SGD([p], lr).step()
    np.testing.assert_allclose(p.value[..., 0, 0], 1.0 - lr)
    q = Parameter(np.ones(3))
    q.grad = np.ones(3)
    SGD([q], 0.5).step()
    np.testing.assert_allclose(q.value, 0.5)


def test_ensemble_equals_each_member_trained_alone():
    pop = pm.correlated(0.9)
    lrs = np.array([0.05, 0.2, 0.8])
    targets = pm.optimal_loss(pop) + np.array([0.1, 0.05])
    together = train_ensemble(pop, 8, lrs, [3, 7], targets, 60, stop_when_reached=False).steps
    for i, lr in enumerate(lrs):
        alone = train_ensemble(pop, 8, [lr], [3, 7], targets, 60, stop_when_reached=False).steps
        np.testing.assert_array_equal(together[:, i : i + 1], alone)


def test_broadcast_ensemble_gradient_is_each_members_batch_gradient():
    """x (S, 1, B, d) against A (S, L, 1, d): member (s, l) gets mean_b (σ(z) − y) x̃ of seed s's batch."""
    from batchgraph import BCE, Graph, Input, Linear, Sigmoid

    rng = np.random.default_rng(0)
    S, L, B, d = 2, 3, 5, 2
    X, Y = rng.normal(size=(S, 1, B, d)), (rng.random((S, 1, B, 1)) < 0.5).astype(float)
    A, b = Parameter(rng.normal(size=(S, L, 1, d))), Parameter(rng.normal(size=(S, L, 1)))
    x, y = Input(), Input()
    graph = Graph(BCE(y, Sigmoid(Linear(x, A, b)), per_model=2))
    loss = graph.forward({x: X, y: Y})
    graph.backward(np.ones((S, L)))
    for s in range(S):
        for l in range(L):
            z = X[s, 0] @ A.value[s, l, 0] + b.value[s, l, 0]
            p, t = pm.sigmoid(z), Y[s, 0, :, 0]
            assert loss[s, l] == pytest.approx(np.mean(pm.softplus(z) - t * z), rel=1e-12)
            np.testing.assert_allclose(A.grad[s, l, 0], ((p - t)[:, None] * X[s, 0]).mean(axis=0), rtol=1e-10)
            assert b.grad[s, l, 0] == pytest.approx(np.mean(p - t), rel=1e-10)


def test_divergence_is_contained():
    pop = pm.correlated(0.99)
    targets = pm.optimal_loss(pop) + np.array([0.1])
    res = train_ensemble(pop, 4, [0.05, 1e4], [0, 1], targets, 2000, diverge_loss=5.0)
    assert res.diverged_at[1] >= 1 and np.isnan(res.diverged_at[0])
    alone = train_ensemble(pop, 4, [0.05], [0, 1], targets, 2000)
    assert res.steps[0, 0] == alone.steps[0, 0] and np.isfinite(alone.steps[0, 0])


def test_lr_grid_is_half_octaves():
    grid = LrGrid(start=2.0**-6, stop=8.0, per_octave=2).values()
    assert len(grid) == 19
    np.testing.assert_allclose(grid[1:] / grid[:-1], np.sqrt(2.0))
    assert grid[-1] == pytest.approx(8.0)


def test_fit_recovers_known_s_min_and_b_crit():
    B = 2.0 ** np.arange(12)
    S = 40.0 * (1 + 150.0 / B) * np.exp(0.01 * np.sin(np.arange(12)))
    S[3] = np.nan  # unreached: left out
    fit = fit_tradeoff(B, S)
    assert fit.s_min == pytest.approx(40.0, rel=0.02)
    assert fit.b_crit == pytest.approx(150.0, rel=0.03)
    assert fit.points == 11
    assert fit.residual == pytest.approx(0.007, abs=0.004)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rhos": [0.0, 1.0]}, "params.yaml: critical.rhos.1 must be less than 1, got 1.0"),
        ({"batch_sizes": [4, 2]}, "params.yaml: critical.batch_sizes must be in ascending order, got [4, 2]"),
        (
            {"lr_grid": {"start": 1.0, "stop": 0.5, "per_octave": 2}},
            "critical.lr_grid stop must be at least start",
        ),
        ({"deltas": [0.1, -0.1]}, "critical.deltas.1 must be greater than 0"),
        ({"seeds": [0, 0]}, "critical.seeds must not repeat a value"),
        ({"warmup": 3}, "critical.warmup is not a known key"),
    ],
)
def test_bad_critical_params_are_one_line(change, message):
    params = default_params()
    params["critical"] |= change
    with pytest.raises(ParamsError) as info:
        validate_params(params)
    text = str(info.value)
    assert message in text and "\n" not in text

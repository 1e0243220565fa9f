"""Gradient noise: per-example gradients against the engine, and the minibatch variance formula."""

from __future__ import annotations

import numpy as np
import pytest

from batchgraph.study.models import logistic_regression
from batchgraph.study.noise import (
    measured_batch_variance,
    noise_stats,
    per_example_gradients,
    predicted_batch_variance,
)
from batchgraph.study.train import fit, steps_to_target


@pytest.fixture
def weights(rng):
    return rng.normal(0, 0.5, (1, 1, 2)), rng.normal(0, 0.5, (1, 1))


def test_per_example_gradients_match_the_engine(blobs, weights):
    """Each example as its own ensemble member: the engine's gradient of its own loss."""
    A, b = weights
    X, y = blobs.X_train[:20], blobs.y_train[:20]
    model = logistic_regression(2, n_models=len(X))
    model.set_weights(np.repeat(A, len(X), axis=0), np.repeat(b, len(X), axis=0))
    model.losses(X[:, None, :], y[:, None])
    model.graph.backward()
    gA, gb = model.gradients()
    engine = np.concatenate([gA[:, 0, :], gb], axis=1)
    np.testing.assert_allclose(per_example_gradients(A, b, X, y)[0], engine, rtol=1e-12, atol=1e-15)


def test_the_mean_of_per_example_gradients_is_the_full_batch_gradient(blobs, weights):
    A, b = weights
    model = logistic_regression(2)
    model.set_weights(A, b)
    model.losses(blobs.X_train[None], blobs.y_train[None])
    model.graph.backward()
    gA, gb = model.gradients()
    G = per_example_gradients(A, b, blobs.X_train, blobs.y_train)[0].mean(axis=0)
    np.testing.assert_allclose(G, np.concatenate([gA[0, 0], gb[0]]), rtol=1e-12)


@pytest.mark.parametrize("B", [1, 2, 149, 150])
def test_enumerated_batches_match_the_formula_to_round_off(blobs, weights, B):
    A, b = weights
    g = per_example_gradients(A, b, blobs.X_train, blobs.y_train)[0]
    _, trace, _ = noise_stats(A, b, blobs.X_train, blobs.y_train)
    measured, stderr, _, enumerated = measured_batch_variance(g, B, np.random.default_rng(0))
    assert enumerated and stderr == 0
    assert measured == pytest.approx(predicted_batch_variance(trace[0], 150, B), rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("B", [3, 8, 32, 100])
def test_sampled_batches_match_the_formula_within_sampling_error(blobs, weights, B):
    A, b = weights
    g = per_example_gradients(A, b, blobs.X_train, blobs.y_train)[0]
    _, trace, _ = noise_stats(A, b, blobs.X_train, blobs.y_train)
    measured, stderr, count, enumerated = measured_batch_variance(
        g, B, np.random.default_rng(B), samples=5000
    )
    assert not enumerated and count == 5000
    predicted = predicted_batch_variance(trace[0], 150, B)
    assert abs(measured - predicted) < 4 * stderr
    assert stderr < 0.05 * predicted  # the check has power: sampling error is a few percent


def test_without_the_finite_population_factor_the_check_fails(blobs, weights):
    """The test above can fail: at B = 100 the naive tr(Σ)/B is 3× the truth."""
    A, b = weights
    g = per_example_gradients(A, b, blobs.X_train, blobs.y_train)[0]
    _, trace, _ = noise_stats(A, b, blobs.X_train, blobs.y_train)
    measured, stderr, _, _ = measured_batch_variance(g, 100, np.random.default_rng(1), samples=5000)
    assert abs(measured - trace[0] / 100) > 10 * stderr


def test_history_records_the_noise_scale(blobs):
    h = fit(blobs, batch_size=1, lr=0.05, epochs=5, seeds=[0, 1])
    *_, b_simple = noise_stats(*[w[:1] for w in (h.A, h.b)], blobs.X_train, blobs.y_train)
    assert np.all(np.diff(h.b_simple[0]) > 0)  # |G| shrinks as training converges
    np.testing.assert_allclose(h.b_simple, h.grad_cov_trace / h.grad_sq_norm)
    assert b_simple[0] > h.b_simple[0, -1]  # after the last epoch it is larger still


def test_steps_to_target_counts_updates_until_the_loss_first_reaches_it(blobs):
    (steps,) = steps_to_target(blobs, batch_size=150, lrs=[0.5], target=0.3, max_steps=500, seeds=[0])
    h = fit(blobs, batch_size=150, lr=0.5, epochs=int(steps[0]), seeds=[0])
    assert h.train_loss[0, -1] <= 0.3 < h.train_loss[0, -2]  # full batch: one update per epoch
    (missed,) = steps_to_target(blobs, batch_size=150, lrs=[0.5], target=1e-6, max_steps=50, seeds=[0, 1])
    assert np.isnan(missed).all()


def test_steps_for_several_learning_rates_in_one_ensemble_equal_each_alone(blobs):
    lrs = [0.05, 0.4, 0.05 * 8**0.5]
    together = steps_to_target(blobs, batch_size=8, lrs=lrs, target=0.2, max_steps=3000, seeds=[0, 1])
    for lr, row in zip(lrs, together):
        (alone,) = steps_to_target(blobs, batch_size=8, lrs=[lr], target=0.2, max_steps=3000, seeds=[0, 1])
        np.testing.assert_array_equal(row, alone)
    assert together[1].max() < together[0].min()  # an 8× step reaches the target sooner


def test_best_only_stops_once_no_learning_rate_can_beat_the_best(blobs):
    lrs = [0.01, 1.0, 1e4]  # slow, fast, diverging
    full = steps_to_target(blobs, batch_size=4, lrs=lrs, target=0.2, max_steps=2000, seeds=[0, 1])
    best = steps_to_target(
        blobs, batch_size=4, lrs=lrs, target=0.2, max_steps=2000, seeds=[0, 1], best_only=True
    )
    np.testing.assert_array_equal(best[1], full[1])  # the best lr's steps are complete
    assert np.isnan(full[2]).all() and np.isnan(best[2]).all()  # the diverging lr never gets there
    assert np.nanmax(best) <= full[1].mean() + 1 < np.nanmax(full)  # stopped early

"""The two logistic-regression graphs of the course report agree to round-off (its Task 2 claim)."""

from __future__ import annotations

import numpy as np
import pytest

from batchgraph.study.models import LinearLogistic, ScalarLogistic, logistic_regression


@pytest.mark.parametrize("n_models", [1, 3])
@pytest.mark.parametrize("n_features", [1, 2, 5])
def test_linear_and_per_feature_graphs_agree(rng, n_models, n_features):
    A = rng.normal(size=(n_models, 1, n_features))
    b = rng.normal(size=(n_models, 1))
    X = rng.normal(size=(n_models, 16, n_features)) * 2
    y = rng.integers(0, 2, size=(n_models, 16)).astype(float)
    results = []
    for kind in ("linear", "scalar"):
        model = logistic_regression(n_features, n_models, kind)
        model.set_weights(A, b)
        losses = model.losses(X, y)
        model.graph.backward()
        results.append((losses, *model.gradients()))
        np.testing.assert_array_equal(model.weights()[0], A)
    for lin, sca in zip(*results):
        np.testing.assert_allclose(lin, sca, rtol=0, atol=1e-12)


def test_each_model_gets_the_gradient_of_its_own_mean_loss(rng):
    """Ensembling must not divide a model's gradient by the number of models."""
    A, b = rng.normal(size=(4, 1, 2)), rng.normal(size=(4, 1))
    X, y = rng.normal(size=(4, 8, 2)), rng.integers(0, 2, size=(4, 8)).astype(float)
    ens = logistic_regression(2, 4)
    ens.set_weights(A, b)
    ens.losses(X, y)
    ens.graph.backward()
    gA, gb = ens.gradients()
    for s in range(4):
        one = logistic_regression(2, 1)
        one.set_weights(A[s : s + 1], b[s : s + 1])
        one.losses(X[s : s + 1], y[s : s + 1])
        one.graph.backward()
        oA, ob = one.gradients()
        np.testing.assert_allclose(gA[s], oA[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(gb[s], ob[0], rtol=1e-13, atol=1e-15)


def test_unknown_graph_is_named():
    with pytest.raises(ValueError, match="unknown model graph 'deep'"):
        logistic_regression(2, 1, "deep")


def test_the_factory_builds_one_class_per_graph():
    assert isinstance(logistic_regression(2, 1, "linear"), LinearLogistic)
    assert isinstance(logistic_regression(2, 1, "scalar"), ScalarLogistic)

"""The train-loss landscape: Hessian against finite differences, Newton's optimum, the lr search."""

from __future__ import annotations

import numpy as np

from batchgraph.report.landscape import (
    loss_gradient,
    loss_hessian,
    newton_optimum,
    train_loss,
)
from batchgraph.study.measure import best_lr
from batchgraph.study.train import steps_to_target


def test_gradient_and_hessian_match_finite_differences(blobs, rng):
    X, y = blobs.X_train, blobs.y_train
    w, h = rng.normal(0, 0.5, 3), 1e-6
    eye = np.eye(3)
    fd_grad = [(train_loss(w + h * e, X, y) - train_loss(w - h * e, X, y)) / (2 * h) for e in eye]
    fd_hess = [(loss_gradient(w + h * e, X, y) - loss_gradient(w - h * e, X, y)) / (2 * h) for e in eye]
    np.testing.assert_allclose(loss_gradient(w, X, y), fd_grad, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(loss_hessian(w, X, y), np.array(fd_hess), rtol=1e-6, atol=1e-9)


def test_newton_finds_the_minimum(blobs):
    X, y = blobs.X_train, blobs.y_train
    w = newton_optimum(X, y)
    assert np.linalg.norm(loss_gradient(w, X, y)) < 1e-10
    assert all(train_loss(w + d, X, y) > train_loss(w, X, y) for d in 1e-3 * np.eye(3))


def test_the_tuned_lr_is_the_best_on_its_grid(blobs):
    grid = [0.1, 0.5, 1.0, 2.0, 4.0]
    kw = {"batch_size": 8, "target": 0.15, "max_steps": 500, "seeds": [0, 1]}
    pruned = steps_to_target(blobs, lrs=grid, best_only=True, **kw)
    full = steps_to_target(blobs, lrs=grid, **kw)
    means = [np.inf if np.isnan(row).any() else row.mean() for row in full]
    best = best_lr(pruned)
    assert best == int(np.argmin(means)) and pruned[best].mean() == min(means)

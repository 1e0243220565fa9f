"""fit(): it learns, it is deterministic, ensembles equal single runs, divergence is recorded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from batchgraph import BCE, Graph, Input, Linear, Sigmoid
from batchgraph.study.train import fit


def test_training_lowers_the_loss_and_classifies_the_test_split(blobs):
    h = fit(blobs, batch_size=1, lr=0.01, epochs=100, seeds=[0])
    assert h.train_loss[0, -1] < 0.5 * h.train_loss[0, 0]
    assert np.all(np.diff(h.train_loss[0]) < 0)
    assert h.test_accuracy[0, -1] >= 0.94


def test_updates_per_epoch_are_ceil_n_over_b(blobs):
    for B in (1, 4, 64, 150):
        h = fit(blobs, batch_size=B, lr=0.01, epochs=3, seeds=[0])
        assert h.updates[0].tolist() == [math.ceil(150 / B) * e for e in (1, 2, 3)]


def test_ensemble_equals_training_each_seed_alone(blobs):
    seeds = [0, 3, 7]
    for graph in ("linear", "scalar"):
        for B in (1, 16, 150):
            together = fit(blobs, batch_size=B, lr=0.05, epochs=4, seeds=seeds, graph=graph)
            for i, s in enumerate(seeds):
                alone = fit(blobs, batch_size=B, lr=0.05, epochs=4, seeds=[s], graph=graph)
                np.testing.assert_allclose(together.A[i], alone.A[0], rtol=0, atol=1e-12)
                for c in ("epoch_loss", "train_loss", "test_loss", "test_accuracy"):
                    np.testing.assert_allclose(getattr(together, c)[i], getattr(alone, c)[0], atol=1e-12)


def test_same_arguments_same_history(blobs):
    a = fit(blobs, batch_size=8, lr=0.05, epochs=5, seeds=[1, 2])
    b = fit(blobs, batch_size=8, lr=0.05, epochs=5, seeds=[1, 2])
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.A, b.A)


def test_zeros_and_no_shuffle_is_plain_minibatch_sgd_on_the_file_order(blobs):
    """With zero init and contiguous batches, the result is fixed by the data alone: compare with
    a loop written directly against the engine's nodes, one batch after another."""
    B, lr, epochs = 32, 0.1, 3
    h = fit(blobs, batch_size=B, lr=lr, epochs=epochs, seeds=[5], init="zeros", shuffle=False)
    h2 = fit(blobs, batch_size=B, lr=lr, epochs=epochs, seeds=[9], init="zeros", shuffle=False)
    np.testing.assert_array_equal(h.A, h2.A)  # the seed plays no part
    x, y = Input(), Input()
    from batchgraph import Parameter

    A, b = Parameter(np.zeros((1, 2))), Parameter(np.zeros(1))
    graph = Graph(BCE(y, Sigmoid(Linear(x, A, b))))
    X, Y = blobs.X_train, blobs.y_train
    for _ in range(epochs):
        for start in range(0, len(X), B):
            graph.forward({x: X[start : start + B], y: Y[start : start + B, None]})
            graph.backward()
            A.value -= lr * A.grad
            b.value -= lr * b.grad
    np.testing.assert_allclose(h.A[0], A.value, rtol=0, atol=1e-13)
    np.testing.assert_allclose(h.b[0], b.value, rtol=0, atol=1e-13)


def test_epoch_loss_is_the_size_weighted_mean_of_pre_update_batch_losses(blobs):
    """One epoch of full-batch training: its epoch loss is the loss at the initial weights."""
    h = fit(blobs, batch_size=150, lr=0.1, epochs=1, seeds=[0], init="zeros")
    assert h.epoch_loss[0, 0] == pytest.approx(math.log(2), rel=1e-12)


def test_lr_scaling_changes_the_step(blobs):
    h = fit(blobs, batch_size=50, lr=0.01, epochs=1, seeds=[0], lr_scaling="inverse")
    assert h.lr == pytest.approx(0.01 / 50)
    h = fit(blobs, batch_size=50, lr=0.01, epochs=1, seeds=[0], lr_scaling="sqrt", lr_ref_batch=2)
    assert h.lr == pytest.approx(0.01 * 5)


def test_divergence_is_recorded_not_raised(blobs):
    # pytest turns warnings into errors here: fit must contain its own overflow.
    h = fit(blobs, batch_size=1, lr=1e6, epochs=4, seeds=[0, 1])
    assert (h.diverged_epoch >= 1).all()
    first = h.diverged_epoch[0] - 1
    assert np.isnan(h.train_loss[0, first:]).all()
    assert np.isfinite(h.train_loss[0, :first]).all()
    overflow = fit(blobs, batch_size=1, lr=1e308, epochs=2, seeds=[0])
    assert overflow.diverged_epoch[0] == 1
    ok = fit(blobs, batch_size=1, lr=0.01, epochs=4, seeds=[0, 1])
    assert (ok.diverged_epoch == 0).all() and np.isfinite(ok.train_loss).all()


def test_epoch_loss_weights_each_batch_by_its_size_with_a_short_last_batch(blobs):
    """B = 64 on 150 rows: batches of 64, 64 and 22. The epoch loss is Σ loss_b · |b| / N over the
    engine's own per-batch losses before each update, recomputed here by hand for two seeds and
    two epochs (each epoch a fresh permutation drawn from the seed's generator after the init)."""
    from batchgraph import SGD, Parameter
    from batchgraph.study.train import init_weights

    B, lr, epochs, seeds = 64, 0.5, 2, [3, 4]
    h = fit(blobs, batch_size=B, lr=lr, epochs=epochs, seeds=seeds)
    X, Y = blobs.X_train, blobs.y_train
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        A0, b0 = init_weights(rng, 2, "normal", 0.1)
        x, y, A, b = Input(), Input(), Parameter(A0), Parameter(b0)
        graph = Graph(BCE(y, Sigmoid(Linear(x, A, b))))
        sgd = SGD([A, b], lr)
        for epoch in range(epochs):
            order = rng.permutation(len(X))
            losses, sizes = [], []
            for start in range(0, len(X), B):
                rows = order[start : start + B]
                losses.append(float(graph.forward({x: X[rows], y: Y[rows, None]})))
                sizes.append(len(rows))
                graph.backward()
                sgd.step()
            assert sizes == [64, 64, 22]
            by_hand = sum(loss * n for loss, n in zip(losses, sizes)) / len(X)
            assert h.epoch_loss[i, epoch] == pytest.approx(by_hand, rel=1e-12)
            # the unweighted mean of the batch losses is a different number: the weighting matters
            assert abs(np.mean(losses) - by_hand) > 1e-4
        np.testing.assert_allclose(h.A[i, 0], A.value[0], rtol=0, atol=1e-12)


def test_every_seed_and_every_epoch_draws_its_own_order():
    from batchgraph.study.train import epoch_order

    rngs = [np.random.default_rng(s) for s in (0, 1)]
    first, second = epoch_order(rngs, 150, True), epoch_order(rngs, 150, True)
    for order in (*first, *second):
        assert sorted(order.tolist()) == list(range(150))  # a permutation of the rows
    assert (first[0] != first[1]).any()  # across seeds
    assert (first[0] != second[0]).any() and (first[1] != second[1]).any()  # across epochs
    np.testing.assert_array_equal(first[0], np.random.default_rng(0).permutation(150))
    fixed = epoch_order(rngs, 5, False)
    assert fixed.tolist() == [[0, 1, 2, 3, 4]] * 2


def test_shuffling_changes_the_result_and_seeds_differ_only_through_it(blobs):
    """Zero init: the seed acts only through the row order, so two seeds end apart when shuffled
    and identical when not."""
    kw = dict(batch_size=10, lr=0.1, epochs=2, init="zeros")
    shuffled = fit(blobs, seeds=[0, 1], shuffle=True, **kw)
    fixed = fit(blobs, seeds=[0, 1], shuffle=False, **kw)
    assert abs(shuffled.A[0] - shuffled.A[1]).max() > 1e-4
    np.testing.assert_array_equal(fixed.A[0], fixed.A[1])


def test_labels_outside_0_1_are_refused_by_training(blobs):
    from dataclasses import replace

    bad = replace(blobs, y_train=blobs.y_train * 2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\], got 2\.0"):
        fit(bad, batch_size=8, lr=0.1, epochs=1)

"""Blob generation, the split and the batches of an epoch."""

from __future__ import annotations

import numpy as np

from batchgraph.core.data import batch_bounds, make_dataset


def test_default_blobs_have_the_course_shape():
    d = make_dataset(100, [[1, 2], [1, -2]], 1.0, 0.25, seed=0)
    assert d.X_train.shape == (150, 2) and d.X_test.shape == (50, 2)
    assert sorted(np.unique(np.concatenate([d.y_train, d.y_test]))) == [0.0, 1.0]
    assert (np.concatenate([d.y_train, d.y_test]) == 1).sum() == 100


def test_same_seed_same_data_other_seed_other_data():
    a = make_dataset(100, [[1, 2], [1, -2]], 1.0, 0.25, seed=3)
    b = make_dataset(100, [[1, 2], [1, -2]], 1.0, 0.25, seed=3)
    c = make_dataset(100, [[1, 2], [1, -2]], 1.0, 0.25, seed=4)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)


def test_class_means_are_where_asked():
    d = make_dataset(20_000, [[1, 2], [1, -2]], 0.5, 0.25, seed=1)
    X = np.concatenate([d.X_train, d.X_test])
    y = np.concatenate([d.y_train, d.y_test])
    np.testing.assert_allclose(X[y == 0].mean(axis=0), [1, 2], atol=0.02)
    np.testing.assert_allclose(X[y == 1].std(axis=0), [0.5, 0.5], atol=0.02)


def test_an_epoch_has_ceil_n_over_b_batches_the_last_may_be_short():
    assert batch_bounds(150, 64) == [(0, 64), (64, 128), (128, 150)]
    assert len(batch_bounds(150, 1)) == 150
    assert batch_bounds(150, 150) == [(0, 150)]
    assert batch_bounds(150, 4)[-1] == (148, 150)

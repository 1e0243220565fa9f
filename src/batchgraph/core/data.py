"""Two-class Gaussian blobs, a seeded train/test split, and the batches of an epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Features (N, d) float64 and labels (N,) in {0, 1}, split into train and test."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def make_blobs(n_per_class: int, means, std: float, rng: np.random.Generator):
    """``n_per_class`` points around each of the ``means``, isotropic ``std``; class i has label i."""
    means = np.asarray(means, dtype=np.float64)
    X = np.concatenate([rng.normal(mean, std, size=(n_per_class, means.shape[1])) for mean in means])
    y = np.repeat(np.arange(len(means), dtype=np.float64), n_per_class)
    return X, y


def train_test_split(X, y, test_fraction: float, rng: np.random.Generator) -> Dataset:
    """Shuffle the rows and hold out ``round(test_fraction · N)`` of them for test."""
    order = rng.permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(X[train], y[train], X[test], y[test])


def make_dataset(n_per_class: int, means, std: float, test_fraction: float, seed: int) -> Dataset:
    """The study's data: one generator seeded with ``seed`` draws the blobs, then the split."""
    rng = np.random.default_rng(seed)
    X, y = make_blobs(n_per_class, means, std, rng)
    return train_test_split(X, y, test_fraction, rng)


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """[start, stop) of each batch of an epoch: ceil(n / batch_size) batches, the last may be short."""
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]

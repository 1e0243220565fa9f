"""fit(): train an ensemble of logistic-regression models with minibatch SGD and return the history."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.columns import HISTORY_COLUMNS, NOISE_COLUMNS
from ..core.data import Dataset, batch_bounds
from ..engine import SGD
from .models import LogisticRegression, logistic_regression
from .noise import noise_stats

# Clipped BCE cannot overflow, so divergence shows as a loss that climbs past where training
# started: a run has diverged once its train loss exceeds this many times its initial loss.
DIVERGENCE_FACTOR = 2.0


LR_SCALINGS = ("none", "linear", "sqrt", "inverse")


def scaled_lr(lr: float, batch_size: int, rule: str = "none", ref_batch: int = 1) -> float:
    """The learning rate for ``batch_size`` under ``rule``, relative to ``ref_batch``.

    ``none``: lr;  ``linear``: lr·B/ref (Goyal et al. 2017);  ``sqrt``: lr·√(B/ref);
    ``inverse``: lr·ref/B — what dividing the gradient by the batch size twice amounts to.
    """
    ratio = batch_size / ref_batch
    if rule == "none":
        return lr
    if rule == "linear":
        return lr * ratio
    if rule == "sqrt":
        return lr * math.sqrt(ratio)
    if rule == "inverse":
        return lr / ratio
    raise ValueError(f"unknown lr scaling {rule!r}; allowed: {', '.join(LR_SCALINGS)}")


@dataclass
class History:
    """Per-epoch records of S runs: every array is (S, epochs); ``updates`` is cumulative.

    A run has diverged once its weights or loss stop being finite or its train loss exceeds
    ``DIVERGENCE_FACTOR`` × its initial train loss: ``diverged_epoch[s]`` is the first epoch
    (1-based) where that happened, 0 if never; its records from that epoch on are NaN.
    """

    seeds: list[int]
    batch_size: int
    lr: float
    updates: np.ndarray
    epoch_loss: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    grad_sq_norm: np.ndarray
    grad_cov_trace: np.ndarray
    b_simple: np.ndarray
    diverged_epoch: np.ndarray
    A: np.ndarray
    b: np.ndarray

    @property
    def epochs(self) -> int:
        return self.updates.shape[1]


def init_weights(rng, n_features: int, init: str, init_std: float):
    """A (1, d) and b (1,): zeros, or N(0, init_std²) drawn from ``rng``."""
    if init == "zeros":
        return np.zeros((1, n_features)), np.zeros(1)
    if init == "normal":
        return rng.normal(0.0, init_std, (1, n_features)), rng.normal(0.0, init_std, 1)
    raise ValueError(f"unknown init {init!r}; allowed: normal, zeros")


def init_ensemble(n_features: int, seeds, graph: str, init: str, init_std: float):
    """One model per seed, initialised from ``default_rng(seed)``; returns the model and the
    generators, which go on to draw each model's shuffle orders."""
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    model = logistic_regression(n_features, len(rngs), graph)
    inits = [init_weights(rng, n_features, init, init_std) for rng in rngs]
    model.set_weights(np.stack([a for a, _ in inits]), np.stack([b for _, b in inits]))
    return model, rngs


def epoch_order(rngs, n: int, shuffle: bool) -> np.ndarray:
    """Each model's row order for one epoch (S, n): a fresh permutation, or the file order."""
    if shuffle:
        return np.stack([rng.permutation(n) for rng in rngs])
    return np.broadcast_to(np.arange(n), (len(rngs), n))


def sgd_update(model: LogisticRegression, sgd: SGD, X, y) -> np.ndarray:
    """One SGD update of every model on its batch X (S, B, d) / y (S, B); returns each model's
    loss on that batch before the update."""
    model.set_batch(X, y)
    losses = model.graph.forward()
    model.graph.backward()
    sgd.step()
    return losses


def epoch_batches(X, y, rngs, bounds, shuffle: bool):
    """The batches of one epoch for every model: (X (S, B, d), y (S, B)) in each model's order."""
    order = epoch_order(rngs, len(X), shuffle)
    Xe, ye = X[order], y[order]
    for start, stop in bounds:
        yield Xe[:, start:stop], ye[:, start:stop]


def fit(
    data: Dataset,
    *,
    batch_size: int,
    lr: float,
    epochs: int,
    seeds=(0,),
    graph: str = "linear",
    init: str = "normal",
    init_std: float = 0.1,
    shuffle: bool = True,
    lr_scaling: str = "none",
    lr_ref_batch: int = 1,
) -> History:
    """Train one model per seed, all in one ensemble pass; pure: data in, history out.

    Seed s draws the model's initial weights, then one permutation of the training rows per
    epoch (when ``shuffle``), from ``np.random.default_rng(s)``: the ensemble result equals
    training each seed alone.
    """
    X, y = data.X_train, data.y_train
    N = len(X)
    model, rngs = init_ensemble(X.shape[1], seeds, graph, init, init_std)
    S = len(rngs)
    step_lr = scaled_lr(lr, batch_size, lr_scaling, lr_ref_batch)
    sgd = SGD(model.parameters, step_lr)
    bounds = batch_bounds(N, batch_size)

    shape = (S, epochs)
    rec = {name: np.full(shape, np.nan) for name in HISTORY_COLUMNS}
    updates = np.zeros(shape, dtype=np.int64)
    diverged = np.zeros(S, dtype=np.int64)
    noise = np.empty((len(NOISE_COLUMNS), S, epochs))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        limit = DIVERGENCE_FACTOR * model.evaluate(X, y)[0]
        for epoch in range(epochs):
            noise[:, :, epoch] = noise_stats(*model.weights(), X, y)
            total = np.zeros(S)
            for Xb, yb in epoch_batches(X, y, rngs, bounds, shuffle):
                total += sgd_update(model, sgd, Xb, yb) * Xb.shape[1]
            updates[:, epoch] = (epoch + 1) * len(bounds)
            train_loss, _ = model.evaluate(X, y)
            test_loss, p_test = model.evaluate(data.X_test, data.y_test)
            A, b = model.weights()
            finite = np.isfinite(total) & np.isfinite(A).all(axis=(1, 2)) & np.isfinite(b).all(axis=1)
            healthy = finite & (train_loss <= limit)
            diverged[(diverged == 0) & ~healthy] = epoch + 1
            ok = diverged == 0
            rec["epoch_loss"][ok, epoch] = total[ok] / N
            rec["train_loss"][ok, epoch] = train_loss[ok]
            rec["test_loss"][ok, epoch] = test_loss[ok]
            accuracy = ((p_test >= 0.5) == (data.y_test == 1)).mean(axis=1)
            rec["test_accuracy"][ok, epoch] = accuracy[ok]
    noise[:, diverged > 0, :] = np.nan
    rec |= dict(zip(NOISE_COLUMNS, noise))
    A, b = model.weights()
    return History(
        [int(s) for s in seeds], batch_size, step_lr, updates, diverged_epoch=diverged, A=A, b=b, **rec
    )


def steps_to_target(
    data: Dataset,
    *,
    batch_size: int,
    lrs,
    target: float,
    max_steps: int,
    seeds=(0,),
    graph: str = "linear",
    init: str = "normal",
    init_std: float = 0.1,
    shuffle: bool = True,
    best_only: bool = False,
) -> np.ndarray:
    """SGD updates until each model's full-train loss first reaches ``target`` (Shallue et al.
    2018), at most ``max_steps``, for every learning rate in ``lrs`` and seed. Returns the steps
    (lrs, seeds), NaN where the budget ran out or the run diverged.

    Every (lr, seed) is one member of a single ensemble with its own learning rate; member
    (l, s) has the model, batches and seeding of ``fit`` with seed s, so the result equals
    running each learning rate alone. With ``best_only`` training stops as soon as no learning
    rate still running can beat the best seed-mean so far (its unfinished seeds would take at
    least one more step each); only the best learning rate's steps are then complete."""
    X, y = data.X_train, data.y_train
    model, rngs = init_ensemble(X.shape[1], [s for _ in lrs for s in seeds], graph, init, init_std)
    sgd = SGD(model.parameters, np.repeat(np.asarray(lrs, dtype=np.float64), len(seeds)))
    bounds = batch_bounds(len(X), batch_size)
    steps = np.full(len(rngs), np.nan)
    step = 0

    def done() -> bool:
        if step >= max_steps or not np.isnan(steps).any():
            return True
        if not best_only:
            return False
        grid = steps.reshape(len(lrs), len(seeds))
        finished = ~np.isnan(grid).any(axis=1)
        if not finished.any():
            return False
        best = grid[finished].mean(axis=1).min()
        bound = np.where(np.isnan(grid), step + 1, grid).mean(axis=1)
        return bool((bound[~finished] > best).all())

    with np.errstate(over="ignore", invalid="ignore"):
        while not done():
            for Xb, yb in epoch_batches(X, y, rngs, bounds, shuffle):
                sgd_update(model, sgd, Xb, yb)
                step += 1
                steps[np.isnan(steps) & (model.evaluate(X, y)[0] <= target)] = step
                if done():
                    break
    return steps.reshape(len(lrs), len(seeds))

"""The rows of the `noise` and `steps` tables: measurements at fixed weights and steps to a
target loss, from the params and the data (the stages only read and write)."""

from __future__ import annotations

import numpy as np

from ..core.config import Params
from ..core.data import Dataset
from ..core.io import fmt
from .noise import measured_batch_variance, noise_stats, per_example_gradients, predicted_batch_variance
from .train import init_ensemble, scaled_lr, steps_to_target

NOISE_HEADER = ("weights", "batch_size", "measured_variance", "measured_stderr", "predicted_variance",
                "batches", "enumerated", "grad_sq_norm", "grad_cov_trace", "b_simple")  # fmt: skip
STEPS_HEADER = ("batch_size", "lr_scaling", "lr", "steps_mean", "steps_std", "reached", "seeds")


def noise_rows(params: Params, data: Dataset, trained_A, trained_b) -> list[list]:
    """Minibatch-gradient variance, measured and predicted, for every study batch size at the
    baseline seed's initial weights and at the Task 2 weights (A (1, d), b (1,))."""
    X, y = data.X_train, data.y_train
    N = len(X)
    model, _ = init_ensemble(X.shape[1], [params.baseline.seed], **params.model.model_dump())
    points = {
        "initial": model.weights(),
        "trained": (np.asarray(trained_A)[None], np.asarray(trained_b)[None]),
    }
    rng = np.random.default_rng(params.noise.seed)
    rows = []
    for name, (A, b) in points.items():
        g_sq, trace, b_simple = (float(v[0]) for v in noise_stats(A, b, X, y))
        g = per_example_gradients(A, b, X, y)[0]
        for B in params.study.batch_sizes:
            measured, stderr, count, enumerated = measured_batch_variance(
                g, B, rng, params.noise.samples, params.noise.enumerate_up_to
            )
            predicted = predicted_batch_variance(trace, N, B)
            rows.append([name, B, fmt(measured), fmt(stderr), fmt(predicted), count, int(enumerated),
                         fmt(g_sq), fmt(trace), fmt(b_simple)])  # fmt: skip
    return rows


def _steps_row(B: int, rule: str, lr: float, steps: np.ndarray) -> list:
    reached = steps[~np.isnan(steps)]
    mean = float(reached.mean()) if len(reached) else float("nan")
    std = float(reached.std(ddof=1)) if len(reached) > 1 else float("nan")
    return [B, rule, fmt(lr), fmt(mean), fmt(std), len(reached), len(steps)]


def best_lr(steps: np.ndarray) -> int:
    """The learning rate (row of ``steps``, (lrs, seeds)) whose seeds reached the target most
    often, then in the fewest steps on average; the smaller learning rate on a tie."""
    reached = (~np.isnan(steps)).sum(axis=1)
    total = np.where(np.isnan(steps), 0.0, steps).sum(axis=1)
    mean = np.where(reached > 0, total / np.maximum(reached, 1), np.inf)
    candidates = np.flatnonzero(reached == reached.max())
    return int(candidates[np.argmin(mean[candidates])])


def steps_rows(params: Params, data: Dataset, log=None) -> list[list]:
    """Steps to ``steps.target`` per batch size under each of ``steps.rules`` (the base lr scaled,
    untuned), and at each batch size's best lr of ``steps.tuned_lrs`` (rule ``tuned``). Every
    rule and seed of a batch size trains as one ensemble, and so does the tuning grid."""
    cfg, train = params.steps, params.train
    settings = params.model.model_dump() | {"shuffle": train.shuffle}
    grid = cfg.tuned_lrs.values()
    rows = {rule: [] for rule in [*cfg.rules, "tuned"]}
    for B in params.study.batch_sizes:
        lrs = [scaled_lr(train.lr, B, rule, train.lr_ref_batch) for rule in cfg.rules]
        common = {"batch_size": B, "target": cfg.target, "max_steps": cfg.max_steps, "seeds": cfg.seeds}
        for rule, lr, per_seed in zip(cfg.rules, lrs, steps_to_target(data, lrs=lrs, **common, **settings)):
            rows[rule].append(_steps_row(B, rule, lr, per_seed))
        tuned = steps_to_target(data, lrs=grid, best_only=True, **common, **settings)
        best = best_lr(tuned)
        rows["tuned"].append(_steps_row(B, "tuned", grid[best], tuned[best]))
        if log:
            log(f"steps@{B}: " + ", ".join(f"{rule} {part[-1][3]}" for rule, part in rows.items()))
    return [row for part in rows.values() for row in part]

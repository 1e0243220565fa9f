"""The rows of the `noise` and `steps` tables: measurements at fixed weights and steps to a
target loss, from the params and the data (the stages only read and write)."""

from __future__ import annotations

import numpy as np

from .config import Params
from .data import Dataset
from .io import fmt
from .landscape import tune_lr
from .noise import measured_batch_variance, noise_stats, per_example_gradients, predicted_batch_variance
from .train import init_ensemble, steps_to_target

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


def steps_rows(params: Params, data: Dataset, log=None) -> list[list]:
    """Steps to ``steps.target`` per batch size under each of ``steps.rules`` (the base lr scaled,
    untuned), then at each batch size's best constant lr (rule ``tuned``)."""
    cfg = params.steps
    settings = params.model.model_dump() | params.train.model_dump(exclude={"lr_scaling", "epochs"})
    common = {"target": cfg.target, "max_steps": cfg.max_steps, "seeds": cfg.seeds}
    rows = []
    for rule in cfg.rules:
        for B in params.study.batch_sizes:
            steps, lr = steps_to_target(data, batch_size=B, lr_scaling=rule, **common, **settings)
            rows.append(_steps_row(B, rule, lr, steps))
    fixed = {k: v for k, v in settings.items() if k not in ("lr", "lr_ref_batch")}
    for B in params.study.batch_sizes:
        lr, steps = tune_lr(data, batch_size=B, **common, **fixed)
        rows.append(_steps_row(B, "tuned", lr, steps))
    if log:
        for rule in (*cfg.rules, "tuned"):
            log(f"steps@{rule}: " + ", ".join(f"B={r[0]} {r[3]} (lr {r[2]})" for r in rows if r[1] == rule))
    return rows

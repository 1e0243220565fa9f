"""Stage `noise`: minibatch-gradient variance at fixed weights (the initial ones, the Task 2 run's
and the train optimum), measured against tr(Σ)/B · (N − B)/(N − 1) for every study batch size,
with the train loss and the Hessian's largest eigenvalue there -> a CSV table."""

from __future__ import annotations

import argparse

import numpy as np

from ..study.config import load_params
from ..study.io import csv_text, fmt, read_dataset, read_weights, write_text
from ..study.noise import (
    loss_gradient_hessian,
    measured_batch_variance,
    noise_stats,
    per_example_gradients,
    predicted_batch_variance,
    train_optimum,
)
from ..study.train import init_ensemble


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages noise", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True, help="the data CSV")
    parser.add_argument("--weights", required=True, help="the Task 2 run's weights.json")
    parser.add_argument("--out", required=True, help="the CSV to write")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    data = read_dataset(args.data)
    X, y = data.X_train, data.y_train
    N = len(X)
    model, _ = init_ensemble(X.shape[1], [params.baseline.seed], **params.model.model_dump())
    trained = read_weights(args.weights, X.shape[1])
    initial = model.weights()
    points = {
        "initial": initial,
        "trained": (np.array(trained["A"])[None], np.array(trained["b"])[None]),
        "optimum": train_optimum(X, y, *initial),
    }
    rng = np.random.default_rng(params.noise.seed)
    rows = []
    for name, (A, b) in points.items():
        g_sq, trace, b_simple = (float(v[0]) for v in noise_stats(A, b, X, y))
        loss, _, H = loss_gradient_hessian(A, b, X, y)
        curvature = [fmt(float(loss[0])), fmt(float(np.linalg.eigvalsh(H[0])[-1]))]
        g = per_example_gradients(A, b, X, y)[0]
        for B in params.study.batch_sizes:
            measured, stderr, count, enumerated = measured_batch_variance(
                g, B, rng, params.noise.samples, params.noise.enumerate_up_to
            )
            predicted = predicted_batch_variance(trace, N, B)
            rows.append([name, B, fmt(measured), fmt(stderr), fmt(predicted), count, int(enumerated),
                         fmt(g_sq), fmt(trace), fmt(b_simple), *curvature])  # fmt: skip
    header = ["weights", "batch_size", "measured_variance", "measured_stderr", "predicted_variance",
              "batches", "enumerated", "grad_sq_norm", "grad_cov_trace", "b_simple", "train_loss",
              "hessian_max_eig"]  # fmt: skip
    write_text(args.out, csv_text(header, rows))
    print(f"wrote {args.out}: {len(rows)} rows")

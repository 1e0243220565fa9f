"""Stage `noise`: minibatch-gradient variance at fixed weights, measured against
tr(Σ)/B · (N − B)/(N − 1), for every study batch size -> reports/noise.csv."""

from __future__ import annotations

import numpy as np

from ..config import load_params
from ..noise import measured_batch_variance, noise_stats, per_example_gradients, predicted_batch_variance
from ..train import init_ensemble
from ._io import REPORTS_DIR, RUNS_DIR, csv_text, fmt, main_guard, read_dataset, write_text
from .aggregate import read_json


def main() -> None:
    params = load_params()
    data = read_dataset()
    X, y = data.X_train, data.y_train
    N = len(X)
    model, _ = init_ensemble(X.shape[1], [params.baseline.seed], **params.model.model_dump())
    trained = read_json(RUNS_DIR / "baseline" / "weights.json")
    points = {
        "initial": model.weights(),
        "trained": (np.array(trained["A"])[None], np.array(trained["b"])[None]),
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
    header = ["weights", "batch_size", "measured_variance", "measured_stderr", "predicted_variance",
              "batches", "enumerated", "grad_sq_norm", "grad_cov_trace", "b_simple"]  # fmt: skip
    write_text(REPORTS_DIR / "noise.csv", csv_text(header, rows))
    print(f"wrote {REPORTS_DIR / 'noise.csv'}: {len(rows)} rows")


if __name__ == "__main__":
    main_guard(main)

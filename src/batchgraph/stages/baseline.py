"""Stage `baseline`: Task 2 of the course report, one run with the baseline.* settings."""

from __future__ import annotations

import json

from ..config import load_params
from ..train import fit
from ._io import RUNS_DIR, history_csv, main_guard, read_dataset, rounded, write_dir


def main() -> None:
    params = load_params()
    base, model = params.baseline, params.model
    data = read_dataset()
    history = fit(
        data,
        batch_size=base.batch_size,
        lr=base.lr,
        epochs=base.epochs,
        seeds=[base.seed],
        graph=model.graph,
        init=model.init,
        init_std=model.init_std,
    )
    metrics = {
        c: rounded(float(getattr(history, c)[0, -1]))
        for c in ("epoch_loss", "train_loss", "test_loss", "test_accuracy")
    }
    metrics["diverged_at_epoch"] = int(history.diverged_epoch[0])
    weights = {
        "A": [[rounded(v) for v in row] for row in history.A[0]],
        "b": [rounded(v) for v in history.b[0]],
    }
    write_dir(
        RUNS_DIR / "baseline",
        {
            "history.csv": history_csv(history),
            "metrics.json": json.dumps(metrics, indent=2) + "\n",
            "weights.json": json.dumps(weights, indent=2) + "\n",
        },
    )
    print(f"baseline: train loss {metrics['train_loss']}, test accuracy {metrics['test_accuracy']}")


if __name__ == "__main__":
    main_guard(main)

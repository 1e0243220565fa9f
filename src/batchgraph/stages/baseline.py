"""Stage `baseline`: Task 2 of the course report, one run with the baseline.* settings."""

from __future__ import annotations

import json

from ..core.io import read_dataset, rounded, write_dir
from ..core.stage import StageParser
from ..study.runs import history_csv
from ..study.train import fit


def main(argv=None) -> None:
    parser = StageParser("baseline", __doc__, "--data", "--out", data="the data CSV", out="the run folder")
    args, params = parser.parse(argv)
    base, model = params.baseline, params.model
    data = read_dataset(args.data, params.data.splits)
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
        args.out,
        {
            "history.csv": history_csv(history),
            "metrics.json": json.dumps(metrics, indent=2) + "\n",
            "weights.json": json.dumps(weights, indent=2) + "\n",
        },
    )
    print(f"baseline: train loss {metrics['train_loss']}, test accuracy {metrics['test_accuracy']}")

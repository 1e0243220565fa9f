"""Stage `train@B`: every seed of the study at one batch size, as one ensemble -> runs/bs_<B>/."""

from __future__ import annotations

import argparse
import json

from ..config import Params, load_params
from ..train import History, fit
from ._io import RUNS_DIR, final_metrics, history_csv, main_guard, read_dataset, write_dir


def train_study(params: Params, data, batch_size: int, **overrides) -> History:
    """All of ``study.seeds`` at ``batch_size`` with the model.* and train.* settings (or overrides)."""
    settings = params.model.model_dump() | params.train.model_dump() | overrides
    return fit(data, batch_size=batch_size, seeds=params.study.seeds, **settings)


def run_files(history: History) -> dict[str, str]:
    """The files of ``runs/bs_<B>/``: the history (one row per seed and epoch) and the final metrics."""
    metrics = final_metrics(history)
    return {
        "history.csv": history_csv(history),
        "metrics.json": json.dumps({"batch_size": history.batch_size, **metrics}, indent=2) + "\n",
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages.train", description=__doc__)
    parser.add_argument("--batch-size", type=int, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    B = args.batch_size
    if B not in params.study.batch_sizes:
        parser.error(f"--batch-size {B} is not in study.batch_sizes {params.study.batch_sizes}")
    history = train_study(params, read_dataset(), B)
    write_dir(RUNS_DIR / f"bs_{B}", run_files(history))
    metrics = final_metrics(history)
    print(
        f"train@{B}: {len(history.seeds)} seeds, {metrics['updates']} updates, "
        f"train loss {metrics['train_loss']}, diverged runs {metrics['diverged_runs']}"
    )


if __name__ == "__main__":
    main_guard(main)

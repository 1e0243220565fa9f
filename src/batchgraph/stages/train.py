"""Stage `train@B`: every seed of the study at one batch size, as one ensemble -> runs/bs_<B>/."""

from __future__ import annotations

import argparse

from ..study.config import load_params
from ..study.io import read_dataset, write_dir
from ..study.runs import final_metrics, run_files, train_study


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages train", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--data", required=True, help="the data CSV")
    parser.add_argument("--out", required=True, help="the run folder to write")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    B = args.batch_size
    if B not in params.study.batch_sizes:
        parser.error(f"--batch-size {B} is not in study.batch_sizes {params.study.batch_sizes}")
    history = train_study(params, read_dataset(args.data), B)
    write_dir(args.out, run_files(history))
    metrics = final_metrics(history)
    print(
        f"train@{B}: {len(history.seeds)} seeds, {metrics['updates']} updates, "
        f"train loss {metrics['train_loss']}, diverged runs {metrics['diverged_runs']}"
    )

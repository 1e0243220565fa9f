"""Stage `steps`: SGD steps to reach steps.target for each batch size and lr-scaling rule
-> reports/steps_to_target.csv."""

from __future__ import annotations

import argparse

import numpy as np

from ..study.config import load_params
from ..study.io import csv_text, fmt, read_dataset, write_text
from ..study.train import steps_to_target


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages steps", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True, help="the data CSV")
    parser.add_argument("--out", required=True, help="the CSV to write")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    data = read_dataset(args.data)
    cfg = params.steps
    settings = params.model.model_dump() | params.train.model_dump(exclude={"lr_scaling", "epochs"})
    rows = {rule: [] for rule in cfg.rules}
    for B in params.study.batch_sizes:
        steps, lrs = steps_to_target(
            data, batch_size=B, target=cfg.target, max_steps=cfg.max_steps, seeds=cfg.seeds,
            rules=cfg.rules, **settings,
        )  # fmt: skip
        for rule, lr, per_seed in zip(cfg.rules, lrs, steps):
            reached = per_seed[~np.isnan(per_seed)]
            mean = float(reached.mean()) if len(reached) else float("nan")
            std = float(reached.std(ddof=1)) if len(reached) > 1 else float("nan")
            rows[rule].append([B, rule, fmt(lr), fmt(mean), fmt(std), len(reached), len(per_seed)])
    for rule, part in rows.items():
        print(f"steps@{rule}: " + ", ".join(f"B={r[0]} {r[3]}" for r in part))
    header = ["batch_size", "lr_scaling", "lr", "steps_mean", "steps_std", "reached", "seeds"]
    write_text(args.out, csv_text(header, [row for part in rows.values() for row in part]))

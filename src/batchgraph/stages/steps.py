"""Stage `steps`: SGD steps to reach steps.target for each batch size, under each lr-scaling rule
and with the lr tuned per batch size over steps.tuned_lrs (the rule `tuned`) -> a CSV table."""

from __future__ import annotations

import argparse

import numpy as np

from ..engine.optim import lr_grid, scaled_lr
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
    cfg, train = params.steps, params.train
    settings = params.model.model_dump() | {"shuffle": train.shuffle}
    grid = lr_grid(cfg.tuned_lrs.start, cfg.tuned_lrs.stop, cfg.tuned_lrs.per_octave)
    rows = {rule: [] for rule in [*cfg.rules, "tuned"]}
    for B in params.study.batch_sizes:
        lrs = [scaled_lr(train.lr, B, rule, train.lr_ref_batch) for rule in cfg.rules]
        common = {"batch_size": B, "target": cfg.target, "max_steps": cfg.max_steps, "seeds": cfg.seeds}
        for rule, lr, per_seed in zip(cfg.rules, lrs, steps_to_target(data, lrs=lrs, **common, **settings)):
            rows[rule].append(row(B, rule, lr, per_seed))
        tuned = steps_to_target(data, lrs=grid, best_only=True, **common, **settings)
        best = best_lr(tuned)
        rows["tuned"].append(row(B, "tuned", grid[best], tuned[best]))
        print(f"steps@{B}: " + ", ".join(f"{r} {part[-1][3]}" for r, part in rows.items()), flush=True)
    header = ["batch_size", "lr_scaling", "lr", "steps_mean", "steps_std", "reached", "seeds"]
    write_text(args.out, csv_text(header, [r for part in rows.values() for r in part]))


def row(B: int, rule: str, lr: float, per_seed: np.ndarray) -> list:
    """One row of the table: the mean and std over the seeds that reached the target."""
    reached = per_seed[~np.isnan(per_seed)]
    mean = float(reached.mean()) if len(reached) else float("nan")
    std = float(reached.std(ddof=1)) if len(reached) > 1 else float("nan")
    return [B, rule, fmt(lr), fmt(mean), fmt(std), len(reached), len(per_seed)]


def best_lr(steps: np.ndarray) -> int:
    """The learning rate (row) whose seeds reached the target most often, then in the fewest
    steps on average; the smaller learning rate on a tie."""
    reached = (~np.isnan(steps)).sum(axis=1)
    total = np.where(np.isnan(steps), 0.0, steps).sum(axis=1)
    mean = np.where(reached > 0, total / np.maximum(reached, 1), np.inf)
    candidates = np.flatnonzero(reached == reached.max())
    return int(candidates[np.argmin(mean[candidates])])

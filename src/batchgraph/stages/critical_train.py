"""Stage `critical_train`: steps to each target L* + δ for every lr, at one ρ and batch size
-> critical/runs/rho_<ρ>/bs_<B>/ (steps.csv, run.json)."""

from __future__ import annotations

import json
import time

from ..core.io import csv_text, fmt, rounded, write_dir
from ..core.stage import StageParser
from ..critical import population
from ..critical.ensemble import train_ensemble


def main(argv=None) -> None:
    parser = StageParser("critical_train", __doc__, "--out", out="the run folder to write")
    parser.add_argument("--rho", type=float, required=True, help="the class-covariance correlation ρ")
    parser.add_argument("--batch-size", type=int, required=True)
    args, params = parser.parse(argv)
    cfg = params.critical
    if args.rho not in cfg.rhos:
        parser.refuse(f"--rho must be one of critical.rhos {cfg.rhos}, got {args.rho}")
    if args.batch_size not in cfg.batch_sizes:
        parser.refuse(f"--batch-size must be one of critical.batch_sizes, got {args.batch_size}")
    pop = population.correlated(args.rho)
    loss_star = population.optimal_loss(pop)
    lrs = cfg.lr_grid.values()
    targets = [loss_star + d for d in cfg.deltas]
    label = f"critical_train rho={args.rho} B={args.batch_size}"
    started = time.perf_counter()
    result = train_ensemble(
        pop, args.batch_size, lrs, cfg.seeds, targets, cfg.max_steps, cfg.diverge_loss,
        progress=lambda t, alive: print(f"{label}: step {t}, {alive} lrs alive", flush=True),
    )  # fmt: skip
    rows = [
        [fmt(delta), fmt(lr), fmt(steps)]
        for delta, row in zip(cfg.deltas, result.steps)
        for lr, steps in zip(lrs, row)
    ]
    run = {
        "rho": args.rho,
        "batch_size": args.batch_size,
        "loss_star": rounded(loss_star),
        "steps_run": result.steps_run,
        "diverged": [{"lr": rounded(lr), "step": int(t)} for lr, t in zip(lrs, result.diverged_at) if t == t],
    }
    write_dir(args.out, {
        "steps.csv": csv_text(["delta", "lr", "steps"], rows),
        "run.json": json.dumps(run, indent=2, allow_nan=False) + "\n",
    })  # fmt: skip
    best = ", ".join(f"δ={d}: {fmt(s)}" for d, (s, _, _) in zip(cfg.deltas, result.best))
    print(f"{label}: {result.steps_run} steps in {time.perf_counter() - started:.1f} s; fewest {best}")

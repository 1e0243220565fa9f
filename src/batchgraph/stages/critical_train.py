"""Stage `critical_train`: every seed's fractional first passage below each target (1 + δ)·L*, for one
problem and batch size, in both regimes (constant lr, tuned in two passes; the noise-optimal step),
and at constant lr from the other start (regime ``constant_<init>``, for the sensitivity table)
-> critical/runs/<problem>/bs_<B>/ (passages.csv, seed_mean.csv, run.json)."""

from __future__ import annotations

import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ..core.io import csv_text, fmt, rounded, write_dir
from ..core.stage import StageParser
from ..critical import problems
from ..critical.ensemble import PASSAGE_COLUMNS, SEED_MEAN_COLUMNS, train_optimal, tune


def passage_rows(regime: str, deltas, seeds, result):
    """The long-format rows of one pass: (regime, δ, lr, seed, steps) and (regime, δ, lr, steps)."""
    rows = [
        [regime, fmt(delta), fmt(lr), seed, fmt(result.passages[j, s, l])]
        for j, delta in enumerate(deltas)
        for l, lr in enumerate(result.lrs)
        for s, seed in enumerate(seeds)
    ]
    means = [
        [regime, fmt(delta), fmt(lr), fmt(result.mean_passages[j, l])]
        for j, delta in enumerate(deltas)
        for l, lr in enumerate(result.lrs)
    ]
    return rows, means


def _diverged(result):
    s, l = np.nonzero(~np.isnan(result.diverged))
    return [
        {"seed_index": int(i), "lr": rounded(result.lrs[k]), "step": int(result.diverged[i, k])}
        for i, k in zip(s, l)
    ]


def main(argv=None) -> None:
    parser = StageParser("critical_train", __doc__, "--out", out="the run folder to write")
    parser.add_argument("--problem", required=True, help="one of critical.problems")
    parser.add_argument("--batch-size", type=int, required=True)
    args, params = parser.parse(argv)
    cfg = params.critical
    if args.problem not in cfg.problems:
        parser.refuse(f"--problem must be one of critical.problems {cfg.problems}, got {args.problem!r}")
    if args.batch_size not in cfg.batch_sizes:
        parser.refuse(f"--batch-size must be one of critical.batch_sizes, got {args.batch_size}")
    problem = problems.by_name(args.problem)
    loss_star = problem.optimal_loss
    targets = [(1.0 + d) * loss_star for d in cfg.deltas]
    label = f"critical_train {args.problem} B={args.batch_size}"
    started = time.perf_counter()

    def progress(name, t, alive):
        print(f"{label} {name}: step {t}, {alive} alive", flush=True)

    common = (problem, args.batch_size)
    # One BLAS thread: the ensemble's products are small and many, and threads contending for two
    # cores made a stage up to 2.2× slower (benchmarks/critical.py); every stage of a `dvc repro`
    # runs alone anyway.
    blas = threadpool_limits(limits=1, user_api="blas")
    grid = cfg.lr_grid.values() * problem.lr_unit
    cell = tune(
        *common, grid, cfg.seeds, targets, cfg.max_steps, cfg.diverge_loss,
        per_octave=cfg.refine_per_octave, init=cfg.init, progress=progress,
    )  # fmt: skip
    other = None
    if args.problem in cfg.init_problems:
        other = tune(
            *common, grid, cfg.seeds, targets, cfg.max_steps, cfg.diverge_loss,
            per_octave=cfg.refine_per_octave, init=cfg.other_init,
            progress=lambda name, t, alive: progress(f"{cfg.other_init} {name}", t, alive),
        )  # fmt: skip
    optimal = None
    if args.problem in cfg.optimal_problems:
        optimal = train_optimal(
            *common, cfg.seeds, targets, cfg.max_steps, cfg.diverge_loss, init=cfg.init,
            progress=lambda t, alive: progress("optimal", t, alive),
        )  # fmt: skip
    blas.restore_original_limits()
    rows, means = passage_rows("constant", cfg.deltas, cfg.seeds, cell.fine)
    more_rows, more_means = passage_rows("optimal", cfg.deltas, cfg.seeds, optimal) if optimal else ([], [])
    if other:
        init_rows, init_means = passage_rows(f"constant_{cfg.other_init}", cfg.deltas, cfg.seeds, other.fine)
        more_rows, more_means = more_rows + init_rows, more_means + init_means
    run = {
        "problem": args.problem,
        "batch_size": args.batch_size,
        "loss_star": rounded(loss_star),
        "coarse": {
            "seeds": len(cell.coarse.passages[0]),
            "steps_run": cell.coarse.steps_run,
            "best_lr": [rounded(x) for x in cell.coarse_best],
            "diverged": _diverged(cell.coarse),
        },
        "fine": {
            "lrs": len(cell.fine.lrs),
            "steps_run": cell.fine.steps_run,
            "diverged": _diverged(cell.fine),
        },
        "optimal": {"steps_run": optimal.steps_run, "diverged": _diverged(optimal)} if optimal else None,
        f"constant_{cfg.other_init}": (
            {"coarse_steps_run": other.coarse.steps_run, "fine_steps_run": other.fine.steps_run}
            if other
            else None
        ),
    }
    write_dir(args.out, {
        "passages.csv": csv_text(PASSAGE_COLUMNS, rows + more_rows),
        "seed_mean.csv": csv_text(SEED_MEAN_COLUMNS, means + more_means),
        "run.json": json.dumps(run, indent=2, allow_nan=False) + "\n",
    })  # fmt: skip
    fine = cell.fine.steps().min(axis=1)
    best = ", ".join(f"δ={d}: {fmt(s, 4)}" for d, s in zip(cfg.deltas, fine))
    print(
        f"{label}: {cell.coarse.steps_run} + {cell.fine.steps_run} + {optimal.steps_run if optimal else 0} "
        f"+ {other.coarse.steps_run + other.fine.steps_run if other else 0} steps in "
        f"{time.perf_counter() - started:.1f} s; fewest (median over seeds) {best}"
    )

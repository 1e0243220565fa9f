"""The critical study's cells on disk: one folder per (problem, regime, batch size), and what its
three training stages share (arguments, progress lines, the long-format tables, the write).

Each regime is a stage of its own, a ``matrix`` over its own list of problems, so that adding a
problem to ``critical.optimal_problems`` or ``critical.init_problems`` runs only that problem's
new cells (DVC tracks a stage, not one entry of a list):

==================  =========================  ======================================  =====================
stage               problems                   folder                                  regime (in its rows)
==================  =========================  ======================================  =====================
critical_train      ``critical.problems``      ``<runs>/<problem>/bs_<B>/``            ``constant``
critical_optimal    ``optimal_problems``       ``<runs>/<problem>/optimal/bs_<B>/``    ``optimal``
critical_init       ``init_problems``          ``<runs>/<problem>/other_init/bs_<B>/`` ``constant_<init>``
==================  =========================  ======================================  =====================

Every folder holds passages.csv (each seed's fractional first passage per δ and lr), seed_mean.csv
(the seed-mean criterion's steps per δ and lr) and run.json (what was run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..core.config import Params
from ..core.io import csv_text, fmt, rounded, write_dir
from ..core.stage import StageParser
from . import problems
from .ensemble import PASSAGE_COLUMNS, SEED_MEAN_COLUMNS, tune

# stage -> (the params list of its problems, its folder under <runs>/<problem>/ or "" for none)
STAGES = {
    "critical_train": ("problems", ""),
    "critical_optimal": ("optimal_problems", "optimal"),
    "critical_init": ("init_problems", "other_init"),
}


def cell_dir(runs, problem: str, batch_size: int, stage: str = "critical_train") -> Path:
    """The folder ``stage`` writes for (problem, batch size) under ``runs``."""
    sub = STAGES[stage][1]
    folder = Path(runs) / problem
    return (folder / sub if sub else folder) / f"bs_{batch_size}"


def regime_of(stage: str, params: Params) -> str:
    """The regime name ``stage``'s rows carry."""
    return {"critical_train": "constant", "critical_optimal": "optimal"}.get(
        stage, f"constant_{params.critical.other_init}"
    )


def stages_of(problem: str, params: Params) -> list[str]:
    """The training stages that have a cell for ``problem``, in table order."""
    c = params.critical
    return [s for s, (key, _) in STAGES.items() if problem in getattr(c, key)]


@dataclass
class Job:
    """One training stage's cell, parsed and checked: its params, problem and targets."""

    stage: str
    out: str
    params: Params
    problem: object  # problems.Problem
    name: str
    batch_size: int
    targets: list[float]
    started: float

    @property
    def label(self) -> str:
        return f"{self.stage} {self.name} B={self.batch_size}"

    def progress(self, prefix: str) -> Callable:
        """A progress callback printing ``<label> <prefix> <pass>: step t, n alive``."""

        def report(*args):
            *name, t, alive = args
            what = " ".join(filter(None, [prefix, *name]))
            print(f"{self.label} {what}: step {t}, {alive} alive", flush=True)

        return report

    def tune(self, init: str, prefix: str = ""):
        """The constant-lr regime from ``init``, tuned in two passes (one BLAS thread): the fine
        pass and run.json's record of both."""
        cfg = self.params.critical
        with one_blas_thread():
            cell = tune(
                self.problem, self.batch_size, cfg.lr_grid.values() * self.problem.lr_unit, cfg.seeds,
                self.targets, cfg.max_steps, cfg.diverge_loss, per_octave=cfg.refine_per_octave,
                init=init, progress=self.progress(prefix),
            )  # fmt: skip
        return cell.fine, tuned_run(cell)

    def write(self, regime: str, result, run: dict) -> None:
        """Write the cell's passages.csv, seed_mean.csv and run.json (``result``: an ensemble Pass)."""
        cfg = self.params.critical
        rows, means = passage_rows(regime, cfg.deltas, cfg.seeds, result)
        run = {"problem": self.name, "batch_size": self.batch_size, "regime": regime,
               "loss_star": rounded(self.problem.optimal_loss), **run}  # fmt: skip
        write_dir(self.out, {
            "passages.csv": csv_text(PASSAGE_COLUMNS, rows),
            "seed_mean.csv": csv_text(SEED_MEAN_COLUMNS, means),
            "run.json": json.dumps(run, indent=2, allow_nan=False) + "\n",
        })  # fmt: skip
        fewest = result.steps().min(axis=1)
        best = ", ".join(f"δ={d}: {fmt(s, 4)}" for d, s in zip(cfg.deltas, fewest))
        print(
            f"{self.label}: {run_steps(run)} steps in {time.perf_counter() - self.started:.1f} s; "
            f"fewest (median over seeds) {best}"
        )


def parse_job(stage: str, doc: str | None, argv=None) -> Job:
    """The stage's arguments and params; a problem or batch size outside its grid is refused."""
    key = STAGES[stage][0]
    parser = StageParser(stage, doc, "--out", out="the cell folder to write")
    parser.add_argument("--problem", required=True, help=f"one of critical.{key}")
    parser.add_argument("--batch-size", type=int, required=True)
    args, params = parser.parse(argv)
    cfg = params.critical
    allowed = getattr(cfg, key)
    if args.problem not in allowed:
        parser.refuse(f"--problem must be one of critical.{key} {allowed}, got {args.problem!r}")
    if args.batch_size not in cfg.batch_sizes:
        parser.refuse(f"--batch-size must be one of critical.batch_sizes, got {args.batch_size}")
    problem = problems.by_name(args.problem)
    targets = [(1.0 + d) * problem.optimal_loss for d in cfg.deltas]
    return Job(stage, args.out, params, problem, args.problem, args.batch_size, targets, time.perf_counter())


def one_blas_thread():
    """A context with one BLAS thread: the ensemble's products are small and many, and threads
    contending for two cores made a stage up to 2.2× slower (benchmarks/critical.py); every stage of
    a `dvc repro` runs alone anyway."""
    return threadpool_limits(limits=1, user_api="blas")


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


def diverged(result) -> list[dict]:
    """The members of a pass that diverged: seed index, lr and the step."""
    s, l = np.nonzero(~np.isnan(result.diverged))
    return [
        {"seed_index": int(i), "lr": rounded(result.lrs[k]), "step": int(result.diverged[i, k])}
        for i, k in zip(s, l)
    ]


def tuned_run(cell) -> dict:
    """run.json's record of a constant-lr cell tuned in two passes (an ensemble Cell)."""
    return {
        "coarse": {
            "seeds": len(cell.coarse.passages[0]),
            "steps_run": cell.coarse.steps_run,
            "best_lr": [rounded(x) for x in cell.coarse_best],
            "diverged": diverged(cell.coarse),
        },
        "fine": {
            "lrs": len(cell.fine.lrs),
            "steps_run": cell.fine.steps_run,
            "diverged": diverged(cell.fine),
        },
    }


def run_steps(run: dict) -> str:
    """The updates a run.json records, e.g. ``120 + 400`` (coarse + fine) or ``300``."""
    if "coarse" in run:
        return f"{run['coarse']['steps_run']} + {run['fine']['steps_run']}"
    return str(run["steps_run"])

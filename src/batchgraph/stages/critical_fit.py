"""Stage `critical_fit`: fewest steps over lr per (ρ, δ, B), the fit S = S_min(1 + B_crit/B) and the
noise scales along the full-batch path -> reports/critical/ (critical.csv, steps.csv, metrics.json)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from ..core.io import DataError, csv_text, fmt, rounded, write_json, write_text
from ..core.stage import StageParser
from ..critical.fit import CRITICAL_COLUMNS, STEPS_COLUMNS, summarize


def read_steps(path: Path, deltas, lrs) -> np.ndarray:
    """A run's steps.csv as (n_delta, n_lr); a DataError if it is missing or not this grid."""
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro critical_train` to compute it") from None
    try:
        table = {(float(r["delta"]), float(r["lr"])): float(r["steps"]) for r in rows}
        return np.array([[table[(d, float(fmt(lr)))] for lr in lrs] for d in deltas])
    except (KeyError, ValueError, TypeError):
        raise DataError(f"{path}: does not hold steps for critical.deltas × the lr grid; re-run it") from None


def _cell(value) -> str:
    return fmt(value) if isinstance(value, float) else str(value)


def main(argv=None) -> None:
    parser = StageParser(
        "critical_fit", __doc__, "--runs", "--out",
        runs="the folder holding rho_<ρ>/bs_<B>/", out="the folder to write the tables into",
    )  # fmt: skip
    args, params = parser.parse(argv)
    cfg = params.critical
    lrs = cfg.lr_grid.values()
    steps_rows, critical_rows = [], []
    for rho in cfg.rhos:
        started = time.perf_counter()
        runs = [Path(args.runs) / f"rho_{rho}" / f"bs_{B}" / "steps.csv" for B in cfg.batch_sizes]
        steps, rows = summarize(
            rho, cfg.deltas, cfg.batch_sizes, lrs, [read_steps(p, cfg.deltas, lrs) for p in runs]
        )
        steps_rows += steps
        critical_rows += rows
        knees = ", ".join(f"δ={r['delta']}: {fmt(r['b_crit'], 3)}" for r in rows)
        print(f"critical_fit rho={rho}: B_crit {knees} ({time.perf_counter() - started:.1f} s)")
    out = Path(args.out)
    for name, columns, rows in (
        ("steps.csv", STEPS_COLUMNS, steps_rows),
        ("critical.csv", CRITICAL_COLUMNS, critical_rows),
    ):
        write_text(out / name, csv_text(columns, [[_cell(r[c]) for c in columns] for r in rows]))
    # The headline for `dvc exp show`: B_crit per problem at the tightest target (keys free of
    # dots); every (ρ, δ) cell is in critical.csv.
    tight = min(cfg.deltas)
    write_json(out / "metrics.json", {
        "delta": tight,
        "b_crit": {
            f"rho_{fmt(r['rho']).replace('.', 'p')}": rounded(r["b_crit"])
            for r in critical_rows if r["delta"] == tight
        },
    })  # fmt: skip

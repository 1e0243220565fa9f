"""Stage `critical_fit`: steps per (problem, regime, δ, B), the fit S = S_min(1 + B_crit/B) with its
interval, the predictors, convergence in seeds and sensitivity -> reports/critical/ (critical.csv,
steps.csv, convergence.csv, sensitivity.csv, metrics.json)."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np

from ..core.io import DataError, csv_text, fmt, rounded, write_json, write_text
from ..core.stage import StageParser
from ..critical import fit, problems
from ..critical.cells import cell_dir, regime_of
from ..critical.ensemble import PASSAGE_COLUMNS, SEED_MEAN_COLUMNS, initial_weights


def _rows(path: Path, columns) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to compute it") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file; remove it and run `dvc repro`") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: is not UTF-8 text; remove it and run `dvc repro`") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); re-run it") from None
    if text and not text.endswith("\n"):  # a cut "12.5" would still read as the number 12
        raise DataError(f"{path}: ends mid-line; the file is truncated, re-run it")
    reader = csv.DictReader(text.splitlines())
    try:
        if tuple(reader.fieldnames or ()) != columns:
            raise DataError(
                f"{path}: must have the columns {', '.join(columns)}, got {reader.fieldnames}; re-run it"
            )
        rows = list(reader)
    except csv.Error as exc:  # a NUL byte, a field over csv.field_size_limit()
        raise DataError(f"{path}: line {reader.line_num}: {exc}; the file is damaged, re-run it") from None
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise DataError(f"{path}: line {number} does not have the {len(columns)} fields; re-run it")
    return rows


def _number(path, row, key) -> float:
    try:
        value = float(row[key])
    except (TypeError, ValueError):
        raise DataError(f"{path}: {key} must be a number, got {row[key]!r}; re-run it") from None
    if key == "steps" and value < 0:
        raise DataError(f"{path}: steps must be ≥ 0 or nan, got {row[key]}; re-run it")
    if key in ("lr", "delta") and value <= 0:
        raise DataError(f"{path}: {key} must be > 0 (or nan for the lr), got {row[key]}; re-run it")
    return value


def read_cell(folder: Path, regime: str, deltas, seeds):
    """One run folder's regime: lrs (n_lr,), passages (n_delta, n_seed, n_lr), seed_mean (n_delta, n_lr)."""
    path = folder / "passages.csv"
    table: dict = {}
    for row in _rows(path, PASSAGE_COLUMNS):
        if row["regime"] != regime:
            continue
        key = (_number(path, row, "delta"), _lr(path, row), row["seed"])
        if key in table:
            raise DataError(
                f"{path}: the row {regime}, {row['delta']}, {row['lr']}, {row['seed']} repeats; re-run it"
            )
        table[key] = _number(path, row, "steps")
    lrs = sorted({lr for _, lr, _ in table}, key=lambda v: (v is None, v or 0.0))
    mean_path = folder / "seed_mean.csv"
    means: dict = {}
    for row in _rows(mean_path, SEED_MEAN_COLUMNS):
        if row["regime"] != regime:
            continue
        key = (_number(mean_path, row, "delta"), _lr(mean_path, row))
        if key in means:
            raise DataError(f"{mean_path}: the row {regime}, {row['delta']}, {row['lr']} repeats; re-run it")
        means[key] = _number(mean_path, row, "steps")
    try:
        P = np.array([[[table[(float(fmt(d)), lr, str(s))] for lr in lrs] for s in seeds] for d in deltas])
        M = np.array([[means[(float(fmt(d)), lr)] for lr in lrs] for d in deltas])
    except KeyError:
        raise DataError(
            f"{folder}: does not hold {regime} passages for critical.deltas × critical.seeds; re-run it"
        ) from None
    if not lrs:
        raise DataError(f"{path}: holds no {regime} rows; re-run it")
    return np.array([np.nan if lr is None else lr for lr in lrs]), P, M


def read_runs(runs, name: str, stage: str, params) -> fit.Runs:
    """One problem's cells of one training stage, every batch size, stacked."""
    c = params.critical
    regime = regime_of(stage, params)
    folders = [cell_dir(runs, name, B, stage) for B in c.batch_sizes]
    return fit.Runs.stack([read_cell(f, regime, c.deltas, c.seeds) for f in folders])


def _lr(path, row) -> float | None:
    """The row's lr; None (a dict key equal to itself, unlike NaN) for the noise-optimal regime's ``nan``."""
    value = _number(path, row, "lr")
    return None if math.isnan(value) else value


def _cell(value) -> str:
    return fmt(value) if isinstance(value, float | np.floating) else str(value)


def main(argv=None) -> None:
    parser = StageParser(
        "critical_fit", __doc__, "--runs", "--out",
        runs="the folder of the cells (critical.cells)", out="the folder to write the tables into",
    )  # fmt: skip
    args, params = parser.parse(argv)
    cfg = params.critical
    n = len(cfg.seeds)
    counts = sorted({c for c in (4, 8, 16, 32, 64, 128) if c < n} | {n})
    tables = {"steps": [], "critical": [], "convergence": [], "sensitivity": []}
    for name in cfg.problems:
        started = time.perf_counter()
        problem = problems.by_name(name)
        runs = {"constant": read_runs(args.runs, name, "critical_train", params)}
        if name in cfg.optimal_problems:
            runs["optimal"] = read_runs(args.runs, name, "critical_optimal", params)
        other = None
        if name in cfg.init_problems:
            other = (cfg.other_init, read_runs(args.runs, name, "critical_init", params))
        inits = initial_weights(problem, cfg.seeds[: fit.predictors.PATH_SEEDS], cfg.init)
        coarse = cfg.lr_grid.values() * problem.lr_unit
        rows = fit.summarize(
            name, problem, problem.kappa, cfg.deltas, cfg.batch_sizes, runs, coarse, inits, counts, other
        )
        for key, value in rows.items():
            tables[key] += value
        knees = ", ".join(
            f"{r[2]} δ={r[3]}: {fmt(r[7], 3)} [{fmt(r[8], 3)}, {fmt(r[9], 3)}]" for r in rows["critical"]
        )
        print(f"critical_fit {name}: B_crit {knees} ({time.perf_counter() - started:.1f} s)", flush=True)
    out = Path(args.out)
    for key, columns in (
        ("steps", fit.STEPS_COLUMNS),
        ("critical", fit.CRITICAL_COLUMNS),
        ("convergence", fit.CONVERGENCE_COLUMNS),
        ("sensitivity", fit.SENSITIVITY_COLUMNS),
    ):
        write_text(out / f"{key}.csv", csv_text(columns, [[_cell(v) for v in r] for r in tables[key]]))
    # The headline for `dvc exp show`: B_crit per problem, constant lr, at the tightest target.
    tight = min(cfg.deltas)
    col = {c: i for i, c in enumerate(fit.CRITICAL_COLUMNS)}
    write_json(out / "metrics.json", {
        "delta": tight,
        "b_crit": {
            r[col["problem"]]: rounded(float(r[col["b_crit"]]))
            for r in tables["critical"] if r[col["delta"]] == tight and r[col["regime"]] == "constant"
        },
    })  # fmt: skip

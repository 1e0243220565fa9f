"""The course study's tables: the long run history, the summary per batch size, the curves for plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..study.columns import HISTORY_COLUMNS, NOISE_COLUMNS
from ..study.io import DataError, read_json, rounded

FLOAT_FORMAT = "%.6g"

# Task 4 of the course report, final loss per batch size, as printed there.
PUBLISHED_LOSSES = {
    1: 0.090,
    2: 0.121,
    4: 0.218,
    8: 0.434,
    16: 0.559,
    32: 0.656,
    64: 0.734,
    128: 0.718,
    150: 0.703,
}
METRICS = list(HISTORY_COLUMNS)


def final_epoch(history: pd.DataFrame) -> pd.DataFrame:
    """The last epoch's row of every (batch_size, seed) run."""
    last = history.groupby(["batch_size", "seed"])["epoch"].transform("max")
    return history[history["epoch"] == last]


def summary_table(history: pd.DataFrame, lrs: dict[int, float]) -> pd.DataFrame:
    """One row per batch size: updates, lr, and each metric's mean and std over seeds.

    ``history`` is the long table of every run (``batch_size, seed, epoch, updates, …``);
    diverged runs (NaN) are left out of the mean and counted in ``diverged``.
    """
    final = final_epoch(history)
    grouped = final.groupby("batch_size")
    table = pd.DataFrame({"updates": grouped["updates"].max()})
    table["lr"] = pd.Series(lrs)
    for metric in METRICS:
        table[f"{metric}_mean"] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    table["seeds"] = grouped["seed"].count()
    table["diverged"] = grouped[METRICS[1]].apply(lambda s: int(s.isna().sum()))
    return table.reset_index()


def curves_table(history: pd.DataFrame, n_train: int) -> pd.DataFrame:
    """Long format for plots: per batch size and epoch, each loss's mean and std over seeds."""
    grouped = history.groupby(["batch_size", "epoch"])
    table = grouped[["updates"]].max()
    table.insert(1, "samples", table.index.get_level_values("epoch") * n_train)
    for metric in [*METRICS, *(c for c in NOISE_COLUMNS if c in history)]:
        table[metric] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return table.reset_index()


def markdown_table(table: pd.DataFrame, digits: int = 4, nan: str | dict = "diverged") -> str:
    """A pipe table; floats with ``digits`` significant digits. NaN reads ``nan``: one label, or
    a label per column (``diverged`` where a column is missing from it)."""

    def label(column) -> str:
        return nan.get(column, "diverged") if isinstance(nan, dict) else nan

    def cell(v, column) -> str:
        if isinstance(v, float | np.floating):
            return label(column) if np.isnan(v) else f"{v:.{digits}g}"
        return str(v)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += [
        "| " + " | ".join(cell(v, c) for v, c in zip(row, table.columns)) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def table_csv(table: pd.DataFrame) -> str:
    """A table as CSV text, floats with 6 significant digits: the one float format of every table."""
    return table.to_csv(index=False, float_format=FLOAT_FORMAT)


def read_csv(path: str | Path) -> pd.DataFrame:
    """A CSV table; a DataError names the file and what is wrong with it."""
    path = Path(path)
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to compute it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: is damaged ({str(exc).splitlines()[0]})") from None


def study_history(batch_sizes, runs_dir: str | Path) -> tuple[pd.DataFrame, dict[int, float]]:
    """Every run of the study as one long table, and each batch size's learning rate."""
    frames, lrs = [], {}
    for B in batch_sizes:
        run = Path(runs_dir) / f"bs_{B}"
        frames.append(read_csv(run / "history.csv").assign(batch_size=B))
        lrs[B] = read_json(run / "metrics.json")["lr"]
    return pd.concat(frames, ignore_index=True), lrs


def metrics_json(summary: pd.DataFrame, baseline: dict) -> dict:
    """reports/metrics.json: the Task 2 run and each batch size's final means, for `dvc metrics show`."""
    out = {"baseline": {k: baseline[k] for k in ("train_loss", "test_loss", "test_accuracy")}}
    for row in summary.itertuples(index=False):
        out[f"bs_{row.batch_size}"] = {
            m: rounded(getattr(row, f"{m}_mean"), 6)
            for m in ("epoch_loss", "train_loss", "test_loss", "test_accuracy")
        } | {"diverged": int(row.diverged)}
    return out

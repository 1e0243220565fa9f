"""The course study's tables: the long run history, the summary per batch size, the curves for plots."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.columns import (
    CONVERGENCE_COLUMNS,
    CRITICAL_COLUMNS,
    HISTORY_COLUMNS,
    HISTORY_HEADER,
    NOISE_COLUMNS,
    SENSITIVITY_COLUMNS,
    STEPS_COLUMNS,
)
from ..core.io import DataError, read_metrics, rounded

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

# The contracts of the tables the stages write and read back: (columns, text columns, integer
# columns[, free columns]); every other column holds numbers, NaN allowed (a diverged run, a std
# of one seed). A free column is read as it is (the critical table's lists of batch sizes, often empty).
SUMMARY = (
    [
        "batch_size",
        "updates",
        "lr",
        *(f"{m}_{s}" for m in METRICS for s in ("mean", "std")),
        "seeds",
        "diverged",
    ],
    (),
    ("batch_size", "updates", "seeds", "diverged"),
)
CURVES = (
    [
        "batch_size",
        "epoch",
        "updates",
        "samples",
        *(c for m in (*METRICS, *NOISE_COLUMNS) for c in (m, f"{m}_std")),
    ],
    (),
    ("batch_size", "epoch", "updates", "samples"),
)
NOISE = (
    ["weights", "batch_size", "measured_variance", "measured_stderr", "predicted_variance", "batches",
     "enumerated", "grad_sq_norm", "grad_cov_trace", "b_simple"],
    ("weights",),
    ("batch_size", "batches", "enumerated"),
)  # fmt: skip
STEPS = (
    ["batch_size", "lr_scaling", "lr", "steps_mean", "steps_std", "reached", "seeds"],
    ("lr_scaling",),
    ("batch_size", "reached", "seeds"),
)
# reports/critical/
CRITICAL = (
    CRITICAL_COLUMNS,
    ("problem", "regime"),
    ("small_s_min", "halving_inside", "fit_points"),
    ("unreached_batch_sizes", "edge_batch_sizes"),
)
CRITICAL_STEPS = (STEPS_COLUMNS, ("problem", "regime"), ("batch_size", "best_lr_at_edge"))
CONVERGENCE = (CONVERGENCE_COLUMNS, ("problem", "regime"), ("seeds",))
SENSITIVITY = (SENSITIVITY_COLUMNS, ("problem", "regime", "variant"), ("inside_interval",))


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


def read_csv(path: str | Path, contract=None) -> pd.DataFrame:
    """A CSV table; a DataError names the file and what is wrong with it.

    ``contract`` = (columns, text columns, integer columns), e.g. ``SUMMARY``: then the header
    must be exactly ``columns``, there must be at least one row, a text column must not be empty,
    an integer column must hold whole numbers and every other column numbers (NaN allowed).
    """
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
        table = pd.read_csv(io.StringIO(content))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to compute it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: is damaged ({str(exc).strip().splitlines()[0]})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    if not content.endswith("\n"):  # cut mid-row: "12.5" would read as 12, a cut row as NaN
        raise DataError(f"{path}: ends mid-line; the file is truncated, run `dvc repro`")
    _check_row_lengths(path, content)
    if contract is None:
        return table
    columns, text, integers, *free = contract
    free = free[0] if free else ()
    if list(table.columns) != list(columns):
        raise DataError(
            f"{path}: columns must be {', '.join(columns)}, got {', '.join(map(str, table.columns))}"
        )
    if table.empty:
        raise DataError(f"{path}: has a header but no rows; the file is truncated, run `dvc repro`")
    limit = csv.field_size_limit()
    for column in columns:
        values = table[column]
        if column in free:
            continue
        if pd.api.types.is_numeric_dtype(values) and column not in text:
            numbers = values
        else:
            cells = values.astype(object)
            long = cells.map(lambda v: isinstance(v, str) and len(v) > limit)
            if long.any():
                _refuse(path, long, column, f"holds a field over {limit} characters")
            if column in text:
                _refuse(path, cells.isna(), column, "must not be empty")
                continue
            numbers = pd.to_numeric(cells, errors="coerce")
            _refuse(path, numbers.isna() & cells.notna(), column, "must be a number, got {value!r}", cells)
            table[column] = numbers
        if column in integers:
            whole = numbers.notna() & np.isfinite(numbers) & (numbers == np.round(numbers))
            _refuse(path, ~whole, column, "must be a whole number, got {value!r}", values)
            table[column] = numbers.astype(np.int64)
    return table


def _check_row_lengths(path: Path, content: str) -> None:
    """DataError for the first line with fewer fields than the header (pandas fills them with NaN)."""
    reader = csv.reader(io.StringIO(content))
    try:
        width = len(next(reader, []))
        for row in reader:
            if row and len(row) < width:
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} fields, the header {width}; "
                    f"the file is damaged, run `dvc repro`"
                )
    except csv.Error:  # a field over the limit, a NUL byte: the column checks name it
        return


def _refuse(path, bad: pd.Series, column: str, message: str, values: pd.Series | None = None) -> None:
    """DataError for the first row where ``bad`` holds, naming its line (the header is line 1)."""
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = None if values is None else values.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(value, str) and len(value) > 40:
            value = value[:40] + "…"
        raise DataError(f"{path}: line {row + 2}, column {column} " + message.format(value=value))


def read_history(path: str | Path, expect: dict[str, list] | None = None) -> pd.DataFrame:
    """A run history (``HISTORY_HEADER``, led by the columns of ``expect`` that are not in it, e.g.
    batch_size). With ``expect`` (column -> values), its rows must be every combination once:
    a missing seed or epoch is an error, never a run silently left out of the summary."""
    expect = expect or {}
    extra = [c for c in expect if c not in HISTORY_HEADER]
    columns = [*extra, *HISTORY_HEADER]
    table = read_csv(path, (columns, (), (*extra, "seed", "epoch", "updates")))
    if expect:
        keys = list(expect)
        rows = list(table[keys].itertuples(index=False, name=None))
        wanted = set(itertools.product(*expect.values()))
        if len(set(rows)) != len(rows):
            raise DataError(
                f"{path}: repeats a ({', '.join(keys)}) row; the file is damaged, run `dvc repro`"
            )
        missing = sorted(wanted - set(rows))
        if missing or len(rows) != len(wanted):
            what = (
                f"lacks the row {dict(zip(keys, missing[0]))}"
                if missing
                else "has rows params.yaml does not ask for"
            )
            raise DataError(f"{path}: {what}; it is stale or damaged, run `dvc repro`")
    return table


def study_history(
    batch_sizes, runs_dir: str | Path, seeds=None, epochs: int | None = None
) -> tuple[pd.DataFrame, dict[int, float]]:
    """Every run of the study as one long table, and each batch size's learning rate. With
    ``seeds`` and ``epochs``, each run must hold exactly those (see ``read_history``)."""
    expect = None if seeds is None or epochs is None else {"seed": list(seeds), "epoch": range(1, epochs + 1)}
    frames, lrs = [], {}
    for B in batch_sizes:
        run = Path(runs_dir) / f"bs_{B}"
        frames.append(read_history(run / "history.csv", expect).assign(batch_size=B))
        lrs[B] = read_metrics(run / "metrics.json", ["lr"])["lr"]
    return pd.concat(frames, ignore_index=True), lrs


def metrics_json(summary: pd.DataFrame, baseline: dict) -> dict:
    """reports/metrics.json: the handful of numbers compared between experiments (`dvc exp show`,
    `dvc metrics diff`): the Task 2 run, and the smallest and largest batch size's final means.
    Every batch size's numbers are in summary.csv and its plots."""
    out = {"task2": {k: baseline[k] for k in ("train_loss", "test_loss", "test_accuracy")}}
    rows = summary.sort_values("batch_size")
    for name, row in (("smallest_batch", rows.iloc[0]), ("largest_batch", rows.iloc[-1])):
        out[name] = {"batch_size": int(row["batch_size"])} | {
            m: rounded(float(row[f"{m}_mean"]), 6) for m in ("train_loss", "test_accuracy")
        }
    out["diverged_runs"] = int(summary["diverged"].sum())
    return out

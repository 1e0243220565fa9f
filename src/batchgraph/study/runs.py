"""A study run and its files: every seed at one batch size, its history as CSV (one row per seed and
epoch) and its final metrics."""

from __future__ import annotations

import json

from ..core.columns import HISTORY_COLUMNS, HISTORY_HEADER, NOISE_COLUMNS
from ..core.config import Params
from ..core.data import Dataset
from ..core.io import csv_text, fmt, rounded
from .train import History, fit

RECORDED = (*HISTORY_COLUMNS, *NOISE_COLUMNS)


def history_csv(history: History, extra: dict | None = None) -> str:
    """One row per seed and epoch; ``extra`` columns (e.g. batch_size) go first."""
    extra = extra or {}
    rows = []
    for i, seed in enumerate(history.seeds):
        for e in range(history.epochs):
            values = [fmt(getattr(history, c)[i, e]) for c in RECORDED]
            rows.append([*extra.values(), seed, e + 1, int(history.updates[i, e]), *values])
    return csv_text([*extra, *HISTORY_HEADER], rows)


def final_metrics(history: History) -> dict:
    """Final-epoch means over the runs that did not diverge, and which runs diverged."""
    ok = history.diverged_epoch == 0
    out = {}
    for c in HISTORY_COLUMNS:
        values = getattr(history, c)[ok, -1]
        out[c] = rounded(float(values.mean())) if len(values) else None
    out["updates"] = int(history.updates[0, -1])
    out["lr"] = rounded(history.lr)
    out["diverged_runs"] = int((~ok).sum())
    out["diverged_at_epoch"] = {str(s): int(e) for s, e in zip(history.seeds, history.diverged_epoch) if e}
    return out


def train_study(params: Params, data: Dataset, batch_size: int, **overrides) -> History:
    """All of ``study.seeds`` at ``batch_size`` with the model.* and train.* settings (or overrides)."""
    settings = params.model.model_dump() | params.train.model_dump() | overrides
    return fit(data, batch_size=batch_size, seeds=params.study.seeds, **settings)


def run_files(history: History) -> dict[str, str]:
    """The files of ``runs/bs_<B>/``: the history (one row per seed and epoch) and the final metrics."""
    metrics = final_metrics(history)
    return {
        "history.csv": history_csv(history),
        "metrics.json": json.dumps({"batch_size": history.batch_size, **metrics}, indent=2) + "\n",
    }

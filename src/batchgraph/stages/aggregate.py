"""Stage `aggregate`: runs/bs_<B>/ for every study batch size -> reports/ tables and DVC metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..config import load_params
from ..report import curves_table, markdown_table, summary_table
from ._io import REPORTS_DIR, RUNS_DIR, DataError, main_guard, rounded, write_json, write_text

FLOAT_FORMAT = "%.6g"


def read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to train it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: is damaged ({str(exc).splitlines()[0]})") from None


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to train it") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: is not valid JSON ({exc})") from None


def study_history(batch_sizes, runs_dir: Path = RUNS_DIR) -> tuple[pd.DataFrame, dict[int, float]]:
    """Every run of the study as one long table, and each batch size's learning rate."""
    frames, lrs = [], {}
    for B in batch_sizes:
        run = Path(runs_dir) / f"bs_{B}"
        frames.append(read_csv(run / "history.csv").assign(batch_size=B))
        lrs[B] = read_json(run / "metrics.json")["lr"]
    return pd.concat(frames, ignore_index=True), lrs


def table_csv(table: pd.DataFrame) -> str:
    """A summary or curves table as CSV text, floats with 6 significant digits."""
    return table.to_csv(index=False, float_format=FLOAT_FORMAT)


def metrics_json(summary: pd.DataFrame, baseline: dict) -> dict:
    """reports/metrics.json: the Task 2 run and each batch size's final means, for `dvc metrics show`."""
    out = {"baseline": {k: baseline[k] for k in ("train_loss", "test_loss", "test_accuracy")}}
    for row in summary.itertuples(index=False):
        out[f"bs_{row.batch_size}"] = {
            m: rounded(getattr(row, f"{m}_mean"), 6)
            for m in ("epoch_loss", "train_loss", "test_loss", "test_accuracy")
        } | {"diverged": int(row.diverged)}
    return out


def main() -> None:
    params = load_params()
    history, lrs = study_history(params.study.batch_sizes)
    summary = summary_table(history, lrs)
    curves = curves_table(history, params.data.n_train)
    published = read_csv(RUNS_DIR / "published" / "history.csv")
    published_lrs = {
        int(key.removeprefix("bs_")): m["lr"]
        for key, m in read_json(RUNS_DIR / "published" / "metrics.json").items()
    }
    baseline = read_json(RUNS_DIR / "baseline" / "metrics.json")

    write_text(REPORTS_DIR / "summary.csv", table_csv(summary))
    write_text(REPORTS_DIR / "summary.md", markdown_table(summary))
    write_text(REPORTS_DIR / "curves.csv", table_csv(curves))
    write_text(
        REPORTS_DIR / "published_summary.csv",
        table_csv(summary_table(published, published_lrs)),
    )
    write_json(REPORTS_DIR / "metrics.json", metrics_json(summary, baseline))
    print(
        markdown_table(
            summary[
                [
                    "batch_size",
                    "updates",
                    "lr",
                    "train_loss_mean",
                    "train_loss_std",
                    "test_accuracy_mean",
                    "diverged",
                ]
            ]
        ),
        end="",
    )


if __name__ == "__main__":
    main_guard(main)

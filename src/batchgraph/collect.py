"""Gather a sweep of ``python -m batchgraph.sweep`` into one summary table and figures.

    python -m batchgraph.collect sweeps/<date>

One row per grid point and batch size, the point's overrides as columns, then the columns of
reports/summary.csv, recomputed from each point's runs/ with the pipeline's code. Writes
``summary.csv``, ``summary.md`` and ``figures/`` into the sweep dir.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from .report import figures as rep
from .study.config import load_params
from .study.io import DataError, main_guard, write_dir, write_text
from .tables.summary import curves_table, markdown_table, study_history, summary_table, table_csv


def find_points(sweep_dir: Path) -> list[Path]:
    """Every job dir under ``sweep_dir`` (it has params.yaml and runs/), in job order."""
    points = [p.parent for p in sweep_dir.rglob("params.yaml") if (p.parent / "runs").is_dir()]

    def order(path: Path):
        rel = path.relative_to(sweep_dir)
        return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in rel.parts]

    return sorted(points, key=order)


def point_overrides(point: Path) -> dict[str, str]:
    """The job's command-line overrides (``.hydra/overrides.yaml``) as {key: value}."""
    path = point / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    try:
        overrides = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError:
        raise DataError(f"{path}: is not valid YAML") from None
    return dict(o.split("=", 1) for o in overrides if "=" in o)


def collect(sweep_dir: str | Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], list[str]]:
    """The sweep's summary table, each point's curves table, and the override columns."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise DataError(f"{sweep_dir}: not a directory")
    points = find_points(sweep_dir)
    if not points:
        raise DataError(f"{sweep_dir}: has no grid points (job dirs with params.yaml and runs/)")
    tables, curves, overrides = [], {}, {}
    for point in points:
        name = point.relative_to(sweep_dir).as_posix()
        params = load_params(point / "params.yaml")
        history, lrs = study_history(params.study.batch_sizes, point / "runs")
        overrides[name] = point_overrides(point)
        tables.append(summary_table(history, lrs).assign(point=name))
        curves[name] = curves_table(history, params.data.n_train)
    columns = list(dict.fromkeys(k for o in overrides.values() for k in o))
    summary = pd.concat(tables, ignore_index=True)
    for key in columns:
        summary[key] = summary["point"].map(lambda name, key=key: overrides[name].get(key, ""))
    front = ["point", *columns]
    return summary[front + [c for c in summary.columns if c not in front]], curves, columns


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.collect", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep's output dir, e.g. sweeps/<date>")
    args = parser.parse_args(argv)
    summary, curves, columns = collect(args.sweep_dir)
    out = args.sweep_dir
    write_text(out / "summary.csv", table_csv(summary))
    write_text(out / "summary.md", markdown_table(summary))
    figures = {"final_vs_batch.png": rep.png(rep.sweep_figure(summary, columns))}
    for name, c in curves.items():
        rows = summary[summary["point"] == name]
        note = ", ".join(f"{k}={rows.iloc[0][k]}" for k in columns) or name
        figures[f"{name}/loss_curves.png"] = rep.png(rep.loss_curves_figure(c, title_note=f" ({note})"))
        figures[f"{name}/final_vs_batch.png"] = rep.png(rep.final_figure(rows))
        figures[f"{name}/loss_vs_updates.png"] = rep.png(rep.updates_figure(c))
    write_dir(out / "figures", figures)
    shown = ["point", *columns, "batch_size", "lr", "train_loss_mean", "test_accuracy_mean", "diverged"]
    print(markdown_table(summary[shown]), end="")
    print(f"wrote summary.csv, summary.md and {len(figures)} figures in {out}")


if __name__ == "__main__":
    main_guard(main)

"""Stage `report`: figures and report.md from the study's tables and the Task 2 run."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..report import figures as fig
from ..report.writeup import Results, render_report
from ..study.config import load_params
from ..study.io import read_dataset, read_metrics, read_weights, write_dir, write_text
from ..study.landscape import landscape
from ..tables.summary import CURVES, NOISE, STEPS, SUMMARY, read_csv, read_history


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.stages report", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True, help="the data CSV")
    parser.add_argument("--baseline", required=True, help="the Task 2 run folder")
    parser.add_argument("--tables", required=True, help="the folder of the aggregated tables")
    parser.add_argument("--critical", help="the critical-batch study's table, for its section")
    parser.add_argument("--out", required=True, help="the folder to write report.md and figures/ into")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    data = read_dataset(args.data)
    tables, baseline, out = Path(args.tables), Path(args.baseline), Path(args.out)
    summary = read_csv(tables / "summary.csv", SUMMARY)
    curves = read_csv(tables / "curves.csv", CURVES)
    published = read_csv(tables / "published_summary.csv", SUMMARY)
    noise = read_csv(tables / "noise.csv", NOISE)
    steps = read_csv(tables / "steps_to_target.csv", STEPS)
    base = params.baseline
    base_history = read_history(
        baseline / "history.csv", {"seed": [base.seed], "epoch": range(1, base.epochs + 1)}
    )
    base_metrics = read_metrics(
        baseline / "metrics.json", nullable=["epoch_loss", "train_loss", "test_loss", "test_accuracy"]
    )
    weights = read_weights(baseline / "weights.json", data.X_train.shape[1])
    A, b = np.array(weights["A"]), np.array(weights["b"])
    critical = read_csv(args.critical) if args.critical else None
    results = Results(
        params=params,
        data=data,
        summary=summary,
        curves=curves,
        published=published,
        baseline=base_metrics,
        baseline_history=base_history,
        baseline_weights=(A, b),
        noise=noise,
        steps=steps,
        landscape=landscape(data, (A, b), params.steps.seeds, **params.model.model_dump()),
        figures=fig.FIGURES,
        critical=critical,
    )
    figures = fig.report_figures(results)
    write_dir(out / "figures", {name: fig.png(f) for name, f in figures.items()})
    write_text(out / "report.md", render_report(results))
    print(f"wrote {out / 'report.md'} and {len(figures)} figures in {out / 'figures'}")

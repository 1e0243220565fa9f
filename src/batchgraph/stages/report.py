"""Stage `report`: figures and report.md from the study's tables and the Task 2 run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.io import read_dataset, read_metrics, read_weights, write_dir, write_text
from ..core.stage import StageParser
from ..report import figures as fig
from ..report.writeup import build_results, render_report
from ..tables.summary import CRITICAL, CURVES, NOISE, STEPS, SUMMARY, read_csv, read_history


def main(argv=None) -> None:
    parser = StageParser(
        "report", __doc__, "--data", "--baseline", "--tables", "--out",
        data="the data CSV", baseline="the Task 2 run folder", tables="the folder of the aggregated tables",
        out="the folder to write report.md and figures/ into",
    )  # fmt: skip
    parser.add_argument("--critical", help="the critical-batch study's table, for its section")
    args, params = parser.parse(argv)
    data = read_dataset(args.data, params.data.splits)
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
    critical = read_csv(args.critical, CRITICAL) if args.critical else None
    results = build_results(
        params, data, summary=summary, curves=curves, published=published, baseline=base_metrics,
        baseline_history=base_history, baseline_weights=(A, b), noise=noise, steps=steps,
        critical=critical,
    )  # fmt: skip
    figures = fig.report_figures(results)
    write_dir(out / "figures", {name: fig.png(f) for name, f in figures.items()})
    write_text(out / "report.md", render_report(results))
    print(f"wrote {out / 'report.md'} and {len(figures)} figures in {out / 'figures'}")

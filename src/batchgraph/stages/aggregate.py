"""Stage `aggregate`: the runs of every study batch size, the published-code runs, the gradient-noise
and steps-to-target measurements -> the tables in reports/ and DVC metrics."""

from __future__ import annotations

from pathlib import Path

from ..core.io import read_metrics, read_published_metrics, write_json, write_text
from ..core.stage import StageParser
from ..tables.summary import (
    NOISE,
    STEPS,
    curves_table,
    markdown_table,
    metrics_json,
    read_csv,
    read_history,
    study_history,
    summary_table,
    table_csv,
)


def main(argv=None) -> None:
    parser = StageParser(
        "aggregate", __doc__, "--runs", "--out",
        runs="the folder of the runs and measurements", out="the folder of the tables and metrics.json",
    )  # fmt: skip
    args, params = parser.parse(argv)
    runs, out = Path(args.runs), Path(args.out)
    study, epochs = params.study, params.train.epochs
    history, lrs = study_history(study.batch_sizes, runs, study.seeds, epochs)
    summary = summary_table(history, lrs)
    curves = curves_table(history, params.data.n_train)
    expect = {"batch_size": study.batch_sizes, "seed": study.seeds, "epoch": range(1, epochs + 1)}
    published = read_history(runs / "published" / "history.csv", expect)
    published_lrs = {
        int(key.removeprefix("bs_")): m["lr"]
        for key, m in read_published_metrics(runs / "published" / "metrics.json").items()
    }
    baseline = read_metrics(
        runs / "baseline" / "metrics.json", nullable=["train_loss", "test_loss", "test_accuracy"]
    )
    base = params.baseline
    baseline_history = read_history(
        runs / "baseline" / "history.csv", {"seed": [base.seed], "epoch": range(1, base.epochs + 1)}
    )

    write_text(out / "summary.csv", table_csv(summary))
    write_text(out / "summary.md", markdown_table(summary))
    write_text(out / "curves.csv", table_csv(curves))
    write_text(out / "published_summary.csv", table_csv(summary_table(published, published_lrs)))
    write_json(out / "metrics.json", metrics_json(summary, baseline))
    write_text(out / "baseline_history.csv", table_csv(baseline_history))  # git-kept, for the plots
    for name, contract in (("noise.csv", NOISE), ("steps_to_target.csv", STEPS)):  # checked, kept as they are
        read_csv(runs / name, contract)
        write_text(out / name, (runs / name).read_text(encoding="utf-8"))
    shown = [
        "batch_size",
        "updates",
        "lr",
        "train_loss_mean",
        "train_loss_std",
        "test_accuracy_mean",
        "diverged",
    ]
    print(markdown_table(summary[shown]), end="")

"""Stage `report`: figures in reports/figures/ and reports/report.md from the study's results."""

from __future__ import annotations

import io

import numpy as np

from .. import report as rep
from ..config import load_params
from ..writeup import render_report
from ._io import REPORTS_DIR, RUNS_DIR, main_guard, read_dataset, write_dir, write_text
from .aggregate import read_csv, read_json


def png(fig) -> bytes:
    """The figure as PNG bytes without the matplotlib version stamp, so re-runs are byte-identical."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def main() -> None:
    params = load_params()
    data = read_dataset()
    summary = read_csv(REPORTS_DIR / "summary.csv")
    curves = read_csv(REPORTS_DIR / "curves.csv")
    published = read_csv(REPORTS_DIR / "published_summary.csv")
    base_history = read_csv(RUNS_DIR / "baseline" / "history.csv")
    base_metrics = read_json(RUNS_DIR / "baseline" / "metrics.json")
    weights = read_json(RUNS_DIR / "baseline" / "weights.json")
    A, b = np.array(weights["A"]), np.array(weights["b"])
    noise = read_csv(REPORTS_DIR / "noise.csv")
    steps = read_csv(REPORTS_DIR / "steps_to_target.csv")

    figures = {
        "data.png": rep.data_figure(data.X_train, data.y_train, data.X_test, data.y_test),
        "baseline.png": rep.baseline_figure(
            data.X_train, data.y_train, data.X_test, data.y_test, A, b, base_history
        ),
        "loss_curves.png": rep.loss_curves_figure(curves, title_note=f" ({params.study.name})"),
        "final_vs_batch.png": rep.final_figure(summary),
        "loss_vs_updates.png": rep.updates_figure(curves),
        "published_vs_corrected.png": rep.published_figure(summary, published, params.train.epochs),
        "gradient_noise.png": rep.noise_figure(noise, curves),
        "steps_to_target.png": rep.steps_figure(steps, params.steps.target),
    }
    write_dir(REPORTS_DIR / "figures", {name: png(fig) for name, fig in figures.items()})
    text = render_report(params, data, summary, curves, published, base_metrics, noise, steps, list(figures))
    write_text(REPORTS_DIR / "report.md", text)
    print(f"wrote {REPORTS_DIR / 'report.md'} and {len(figures)} figures in {REPORTS_DIR / 'figures'}")


if __name__ == "__main__":
    main_guard(main)

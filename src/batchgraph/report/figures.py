"""The report's figures (matplotlib) from the study's tables; no training and no file I/O here."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..tables.summary import PUBLISHED_LOSSES


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def png(fig) -> bytes:
    """The figure as PNG bytes without the matplotlib version stamp, so re-runs are byte-identical."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _batch_colors(batch_sizes):
    plt = _plt()
    cmap = plt.get_cmap("viridis")
    logs = np.log2(np.asarray(batch_sizes, dtype=float))
    span = max(logs.max() - logs.min(), 1.0)
    return {b: cmap(0.82 * (lb - logs.min()) / span) for b, lb in zip(batch_sizes, logs)}


def _log2_batch_axis(ax, batch_sizes):
    """A log₂ batch-size axis with a tick at every batch size; a label that would touch its
    left neighbour (128 and 150) drops to a second line."""
    ticks = sorted(int(b) for b in batch_sizes)
    labels = [("\n" if i and np.log2(b / ticks[i - 1]) < 0.5 else "") + str(b) for i, b in enumerate(ticks)]
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    ax.minorticks_off()
    ax.set_xlabel("batch size B (log₂ scale)")


def data_figure(X_train, y_train, X_test, y_test):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    for label, color in ((0, "tab:blue"), (1, "tab:orange")):
        tr, te = X_train[y_train == label], X_test[y_test == label]
        ax.scatter(tr[:, 0], tr[:, 1], s=18, color=color, label=f"class {label}, train ({len(tr)})")
        ax.scatter(
            te[:, 0],
            te[:, 1],
            s=36,
            facecolors="none",
            edgecolors=color,
            linewidths=1.4,
            label=f"class {label}, test ({len(te)})",
        )
    ax.set(title="Generated data: two Gaussian blobs", xlabel="x₁", ylabel="x₂")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def baseline_figure(X_train, y_train, X_test, y_test, A, b, history: pd.DataFrame):
    """Task 2: the probability contour with the data, and the loss per epoch."""
    from ..engine.nodes import sigmoid

    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    X = np.vstack([X_train, X_test])
    lo, hi = X.min(axis=0) - 1, X.max(axis=0) + 1
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    A = np.asarray(A, dtype=float).reshape(-1)
    p = sigmoid(g1 * A[0] + g2 * A[1] + float(np.ravel(b)[0]))
    filled = ax.contourf(g1, g2, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(g1, g2, p, levels=[0.5], colors="black", linewidths=1.5)
    fig.colorbar(filled, ax=ax, label="p(class 1 | x)")
    for label, marker in ((0, "o"), (1, "s")):
        ax.scatter(
            *X_train[y_train == label].T,
            s=16,
            marker=marker,
            color="k",
            alpha=0.7,
            label=f"class {label}, train",
        )
        ax.scatter(
            *X_test[y_test == label].T,
            s=30,
            marker=marker,
            facecolors="none",
            edgecolors="k",
            label=f"class {label}, test",
        )
    ax.set(
        title="Task 2: decision boundary (p = 0.5, black line)",
        xlabel="x₁",
        ylabel="x₂",
        xlim=(lo[0], hi[0]),
        ylim=(lo[1], hi[1]),
    )
    ax.legend(loc="lower left", fontsize=7)
    ax2.plot(history["epoch"], history["epoch_loss"], label="epoch loss (mean over its batches)")
    ax2.plot(history["epoch"], history["train_loss"], label="train loss after the epoch")
    ax2.plot(history["epoch"], history["test_loss"], label="test loss after the epoch")
    ax2.set_yscale("log")
    ax2.set(title="Task 2: loss per epoch (batch size 1)", xlabel="epoch", ylabel="BCE loss (log scale)")
    ax2.legend()
    fig.tight_layout()
    return fig


def _mean_band(ax, x, mean, std, color, label):
    ax.plot(x, mean, color=color, label=label, lw=1.6)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, lw=0)


def loss_curves_figure(curves: pd.DataFrame, metric: str = "train_loss", title_note: str = ""):
    """One line per batch size: mean over seeds, band ±1 std."""
    plt = _plt()
    batch_sizes = sorted(curves["batch_size"].unique())
    colors = _batch_colors(batch_sizes)
    fig, ax = plt.subplots(figsize=(8, 5))
    for B in batch_sizes:
        c = curves[curves["batch_size"] == B]
        _mean_band(ax, c["epoch"], c[metric], c[f"{metric}_std"].fillna(0), colors[B], f"B = {B}")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set(
        title=f"Training loss per epoch, mean ± 1 std over seeds{title_note}",
        xlabel="epoch",
        ylabel="train BCE loss after the epoch",
    )
    ax.legend(title="batch size", ncol=2, fontsize=8)
    fig.tight_layout()
    return fig


def final_figure(summary: pd.DataFrame):
    """Final train/test loss and test accuracy against batch size, error bars ±1 std."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    B = summary["batch_size"]
    for metric, marker in (("train_loss", "o"), ("test_loss", "s")):
        ax.errorbar(
            B,
            summary[f"{metric}_mean"],
            yerr=summary[f"{metric}_std"],
            marker=marker,
            capsize=3,
            label=metric.replace("_", " "),
        )
    ax.set(title="Final loss after the last epoch (mean ± 1 std over seeds)", ylabel="BCE loss")
    ax.legend()
    acc, spread = 100 * summary["test_accuracy_mean"], 100 * summary["test_accuracy_std"].fillna(0)
    ax2.errorbar(
        B,
        acc,
        yerr=[spread, np.minimum(spread, 100 - acc)],  # an accuracy cannot pass 100 %
        marker="o",
        capsize=3,
        color="tab:green",
    )
    ax2.set(
        title="Final test accuracy (mean ± 1 std over seeds, capped at 100 %)", ylabel="test accuracy (%)"
    )
    for a in (ax, ax2):
        _log2_batch_axis(a, B)
    fig.tight_layout()
    return fig


def updates_figure(curves: pd.DataFrame):
    """Loss against updates and against samples seen: bigger batches made fewer updates."""
    plt = _plt()
    batch_sizes = sorted(curves["batch_size"].unique())
    colors = _batch_colors(batch_sizes)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for B in batch_sizes:
        c = curves[curves["batch_size"] == B]
        ax.plot(c["updates"], c["train_loss"], marker=".", color=colors[B], label=f"B = {B}")
        ax2.plot(c["samples"], c["train_loss"], marker=".", color=colors[B], label=f"B = {B}")
    ax.set_xscale("log")
    ax.set(
        title="Train loss against SGD updates",
        xlabel="updates (log scale)",
        ylabel="train BCE loss (mean over seeds)",
    )
    ax2.set(title="Train loss against training samples seen", xlabel="samples seen (epochs × N)")
    ax.legend(title="batch size", ncol=2, fontsize=8)
    fig.tight_layout()
    return fig


def published_figure(
    default: pd.DataFrame, published: pd.DataFrame, epochs: int, published_losses=PUBLISHED_LOSSES
):
    """Final train loss against batch size: the printed curve, our reproduction, the corrected default."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    printed = pd.Series(published_losses).sort_index()
    ax.plot(printed.index, printed.values, "k--", marker="x", label="course report, as printed")
    ax.errorbar(
        published["batch_size"],
        published["train_loss_mean"],
        yerr=published["train_loss_std"],
        marker="o",
        capsize=3,
        color="tab:red",
        label="reproduced: lr·1/B (gradient divided twice)",
    )
    ax.errorbar(
        default["batch_size"],
        default["train_loss_mean"],
        yerr=default["train_loss_std"],
        marker="s",
        capsize=3,
        color="tab:blue",
        label="corrected: mean gradient, lr fixed",
    )
    ax.axhline(np.log(2), color="grey", lw=1, ls=":", label="ln 2 (an untrained classifier)")
    _log2_batch_axis(ax, sorted(set(printed.index) | set(default["batch_size"])))
    ax.set(
        title=f"Final train loss after a fixed {epochs} epochs: published vs corrected",
        ylabel="train BCE loss",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def noise_figure(noise: pd.DataFrame, curves: pd.DataFrame):
    """Left: minibatch-gradient variance, measured against the exact prediction, at two weight
    settings. Right: the simple noise scale B_simple along training, one line per batch size."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for (name, part), color in zip(noise.groupby("weights", sort=False), ("tab:purple", "tab:green")):
        part = part[part["batch_size"] < part["batch_size"].max()]  # B = N has no variance to plot
        ax.plot(
            part["batch_size"],
            part["predicted_variance"],
            color=color,
            lw=1.5,
            label=f"predicted tr(Σ)/B·(N−B)/(N−1), {name} weights",
        )
        ax.errorbar(
            part["batch_size"],
            part["measured_variance"],
            yerr=2 * part["measured_stderr"],
            fmt="o",
            color=color,
            mfc="none",
            capsize=3,
            label=f"measured over batches (±2 s.e.), {name} weights",
        )
    ax.set_yscale("log")
    _log2_batch_axis(ax, sorted(noise["batch_size"].unique()))
    ax.set(title="Minibatch gradient variance E|g_B − G|² at fixed weights", ylabel="variance (log scale)")
    ax.legend(fontsize=7)
    batch_sizes = sorted(curves["batch_size"].unique())
    colors = _batch_colors(batch_sizes)
    for B in batch_sizes:
        c = curves[curves["batch_size"] == B]
        ax2.plot(c["epoch"], c["b_simple"], color=colors[B], marker=".", label=f"B = {B}")
    ax2.set_yscale("log")
    ax2.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax2.set(
        title="Simple noise scale B_simple = tr(Σ)/|G|²\nat the start of each epoch",
        xlabel="epoch",
        ylabel="B_simple (log scale, mean over seeds)",
    )
    ax2.legend(title="batch size", ncol=2, fontsize=7)
    fig.tight_layout()
    return fig


def steps_figure(steps: pd.DataFrame, target: float):
    """Steps to reach the target loss against batch size (log-log), one line per lr rule,
    with the perfect-scaling line (steps ∝ 1/B) through the smallest batch."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    batch_sizes = sorted(steps["batch_size"].unique())
    for (rule, part), marker in zip(steps.groupby("lr_scaling", sort=False), "os^dv"):
        ax.errorbar(
            part["batch_size"],
            part["steps_mean"],
            yerr=part["steps_std"].fillna(0),
            marker=marker,
            capsize=3,
            label=f"lr scaling: {rule}",
        )
    first = steps[steps["batch_size"] == batch_sizes[0]]["steps_mean"].iloc[0]
    B = np.array(batch_sizes, dtype=float)
    ax.plot(B, first * B[0] / B, "k:", lw=1.2, label="perfect scaling (steps ∝ 1/B)")
    ax.set_yscale("log")
    _log2_batch_axis(ax, batch_sizes)
    ax.set(
        title=f"SGD steps until the full-train loss first reaches {target}",
        ylabel="steps (log scale, mean ± 1 std over seeds)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sweep_figure(summary: pd.DataFrame, point_columns: list[str]):
    """A sweep's final train loss against batch size, one line per grid point (± 1 std over seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 5))
    for point, rows in summary.groupby("point", sort=False):
        first = rows.iloc[0]
        label = ", ".join(f"{c}={first[c]}" for c in point_columns) or str(point)
        ax.errorbar(
            rows["batch_size"],
            rows["train_loss_mean"],
            yerr=rows["train_loss_std"],
            marker="o",
            capsize=3,
            label=label,
        )
    _log2_batch_axis(ax, sorted(summary["batch_size"].unique()))
    ax.set(title="Final train loss per grid point (mean ± 1 std over seeds)", ylabel="train BCE loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

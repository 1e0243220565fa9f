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
    """A log₂ batch-size axis with a tick at every batch size; two labels that would touch (128
    and 150) lean apart: the left one ends at its tick, the right one starts at its own."""
    ticks = sorted(int(b) for b in batch_sizes)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(b) for b in ticks])
    ax.minorticks_off()
    labels = ax.get_xticklabels()
    for i in range(1, len(ticks)):
        if np.log2(ticks[i] / ticks[i - 1]) < 0.5:
            labels[i - 1].set_horizontalalignment("right")
            labels[i].set_horizontalalignment("left")
    if len(ticks) == 1:  # one batch size: a decade around it, not matplotlib's default span
        ax.set_xlim(ticks[0] / 2, ticks[0] * 2)
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
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    X = np.vstack([X_train, X_test])
    lo, hi = X.min(axis=0) - 1, X.max(axis=0) + 1
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    A = np.asarray(A, dtype=float).reshape(-1)
    z = g1 * A[0] + g2 * A[1] + float(np.ravel(b)[0])
    p = np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))  # σ(z), no exponent overflows
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


def final_figure(summary: pd.DataFrame, n_test: int | None = None, bayes_test: float | None = None):
    """Final train/test loss and test accuracy against batch size, error bars ±1 std.

    The accuracy axis is fixed at 90–100 % (lower only if a mean falls below), so that one test
    point (100/n_test %) does not fill the axis; the optimal rule's accuracy on the same split
    is drawn for reference."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    B = summary["batch_size"]
    for metric, marker in (("train_loss", "o"), ("test_loss", "s")):
        ax.errorbar(
            B,
            summary[f"{metric}_mean"],
            yerr=summary[f"{metric}_std"].fillna(0),
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
        label="test accuracy",
    )
    if bayes_test is not None:
        ax2.axhline(100 * bayes_test, color="grey", ls="--", lw=1, label="optimal rule on this test split")
    low = np.nanmin(acc - spread) if acc.notna().any() else 90.0
    ax2.set_ylim(90.0 if low >= 90 else max(0.0, 10 * np.floor(low / 10)), 101)
    note = f"\n(n_test = {n_test}: one test point = {100 / n_test:.2g} %)" if n_test else ""
    ax2.set(title=f"Final test accuracy, mean ± 1 std over seeds{note}", ylabel="test accuracy (%)")
    ax2.legend(loc="lower left", fontsize=8)
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


def _variance_panel(ax, noise: pd.DataFrame):
    """Measured against predicted minibatch-gradient variance; B = N (exactly 0) sits on the floor."""
    positive = noise.loc[noise["predicted_variance"] > 0, ["predicted_variance", "measured_variance"]]
    values = positive.to_numpy().ravel()
    values = values[np.isfinite(values) & (values > 0)]
    floor = values.min() / 5 if len(values) else 1e-6
    for (name, part), color in zip(
        noise.groupby("weights", sort=False), ("tab:purple", "tab:green", "tab:red")
    ):
        inner = part[part["predicted_variance"] > 0]
        ax.plot(inner["batch_size"], inner["predicted_variance"], color=color, lw=1.5,
                label=f"predicted tr(Σ)/B·(N−B)/(N−1), {name} weights")  # fmt: skip
        ax.errorbar(inner["batch_size"], inner["measured_variance"], yerr=2 * inner["measured_stderr"],
                    fmt="o", color=color, mfc="none", capsize=3,
                    label=f"measured over batches (±2 s.e.), {name} weights")  # fmt: skip
        zero = part[part["predicted_variance"] <= 0]
        ax.plot(zero["batch_size"], np.full(len(zero), floor), "v", color=color, ms=9, clip_on=False)
    full = noise.loc[noise["predicted_variance"] <= 0, "batch_size"]
    if len(full):
        ax.annotate(f"B = N = {int(full.max())}: variance exactly 0\n(drawn at the axis floor)",
                    (full.max(), floor), xytext=(-60, 10), textcoords="offset points", ha="right",
                    fontsize=8, arrowprops={"arrowstyle": "->", "lw": 0.8})  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)
    _log2_batch_axis(ax, sorted(noise["batch_size"].unique()))
    ax.set(title="Minibatch gradient variance E|g_B − G|² at fixed weights", ylabel="variance (log scale)")
    ax.legend(fontsize=7, loc="upper right")


def noise_figure(noise: pd.DataFrame, curves: pd.DataFrame, optimum_loss: float | None = None):
    """Left: minibatch-gradient variance, measured against the exact prediction, at two weight
    settings. Right: the simple noise scale B_simple against the train loss of the weights it was
    measured at. It is a function of the weights alone, so every batch size's run lies on one curve."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    _variance_panel(ax, noise)
    batch_sizes = sorted(curves["batch_size"].unique())
    colors = _batch_colors(batch_sizes)
    drawn = False
    for B in batch_sizes:
        c = curves[curves["batch_size"] == B].sort_values("epoch")
        # B_simple is taken at the start of epoch e, i.e. at the weights whose train loss closed e − 1.
        loss, b_simple = c["train_loss"].to_numpy()[:-1], c["b_simple"].to_numpy()[1:]
        ok = np.isfinite(loss) & np.isfinite(b_simple) & (loss > 0) & (b_simple > 0)
        drawn |= bool(ok.any())
        ax2.plot(loss[ok], b_simple[ok], color=colors[B], marker=".", lw=1, label=f"B = {B}")
    if optimum_loss is not None and np.isfinite(optimum_loss) and optimum_loss > 0:
        ax2.axvline(optimum_loss, color="k", ls=":", lw=1.2, label="train optimum: |G| = 0, B_simple → ∞")
    if drawn:
        ax2.set_xscale("log")
        ax2.set_yscale("log")
    else:
        ax2.text(0.5, 0.5, "no finite B_simple after the first epoch", ha="center", transform=ax2.transAxes)
    ax2.set(
        title="Simple noise scale B_simple = tr(Σ)/|G|² against the train loss\n"
        "(a property of the weights: every batch size on one curve)",
        xlabel="train BCE loss at the weights (log scale; training moves right to left)",
        ylabel="B_simple (log scale, mean over seeds)",
    )
    ax2.legend(title="run's batch size", ncol=2, fontsize=7)
    fig.tight_layout()
    return fig


def steps_figure(
    steps: pd.DataFrame,
    target: float,
    base_lr: float | None = None,
    ref_batch: int = 1,
    lr_limit: float | None = None,
):
    """Left: steps to reach the target loss against batch size (log-log), one line per lr rule, with
    the perfect-scaling line (steps ∝ 1/B) through the smallest batch. Right: the samples those steps
    use (steps × B). The rules scale an untuned base lr; `tuned` is the best constant lr per B."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5.5))
    batch_sizes = sorted(steps["batch_size"].unique())
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:brown", "tab:pink")
    for i, (rule, part) in enumerate(steps.groupby("lr_scaling", sort=False)):
        part = part.sort_values("batch_size")
        tuned = rule == "tuned"
        label = "tuned: best constant lr per B" if tuned else f"lr scaling: {rule} (untuned)"
        style = {"marker": "os^dvP"[i % 6], "capsize": 3, "label": label, "lw": 2.2 if tuned else 1.5,
                 "color": "tab:purple" if tuned else colors[i % len(colors)]}  # fmt: skip
        mean, std, B = part["steps_mean"], part["steps_std"].fillna(0), part["batch_size"]
        low = np.minimum(std, mean - 1).clip(lower=0)  # no run takes fewer than one step
        ax.errorbar(B, mean, yerr=[low, std], **style)
        ax2.errorbar(B, mean * B, yerr=[low * B, std * B], **style)
        if lr_limit is not None and rule == "linear":
            over = part[part["lr"] > lr_limit]
            ax.plot(over["batch_size"], over["steps_mean"], "o", ms=14, mfc="none", mec="red",
                    label=f"linear rule's lr > 2/λ_max = {lr_limit:.2f} (initial weights)")  # fmt: skip
    first = steps.loc[steps["batch_size"] == batch_sizes[0], "steps_mean"].dropna()
    if len(first):
        B = np.array(batch_sizes, dtype=float)
        ax.plot(B, first.iloc[0] * B[0] / B, "k:", lw=1.2, label="perfect scaling (steps ∝ 1/B)")
    base = f"lr {base_lr:g} at B = {ref_batch}, scaled by each rule, never tuned" if base_lr else "untuned lr"
    for a in (ax, ax2):
        a.set_yscale("log")
        _log2_batch_axis(a, batch_sizes)
    # Room below one step, so a bar cut at one step (no run takes fewer) shows its cap.
    ax.set_ylim(bottom=min(ax.get_ylim()[0], 0.5))
    ax.set(title=f"SGD steps until the train loss first reaches {target}\n(rules: {base})",
           ylabel="steps (log scale, mean ± 1 std over seeds, cut at 1 step)")  # fmt: skip
    ax2.set(title=f"Samples used to reach {target}: steps × B", ylabel="samples (log scale, mean ± 1 std)")
    ax.legend(fontsize=7)
    ax2.legend(fontsize=7)
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


FIGURES = (
    "data.png",
    "baseline.png",
    "loss_curves.png",
    "final_vs_batch.png",
    "loss_vs_updates.png",
    "published_vs_corrected.png",
    "gradient_noise.png",
    "steps_to_target.png",
)


def report_figures(r) -> dict:
    """Every figure of the report, by file name (``FIGURES``), from one ``writeup.Results``."""
    d, p = r.data, r.params
    A, b = r.baseline_weights
    limit = 2 / max(r.landscape.sharpness_init) if r.landscape.sharpness_init else None
    return {
        "data.png": data_figure(d.X_train, d.y_train, d.X_test, d.y_test),
        "baseline.png": baseline_figure(d.X_train, d.y_train, d.X_test, d.y_test, A, b, r.baseline_history),
        "loss_curves.png": loss_curves_figure(r.curves, title_note=f" ({p.study.name})"),
        "final_vs_batch.png": final_figure(r.summary, len(d.X_test), r.bayes_test),
        "loss_vs_updates.png": updates_figure(r.curves),
        "published_vs_corrected.png": published_figure(r.summary, r.published, p.train.epochs),
        "gradient_noise.png": noise_figure(r.noise, r.curves, r.landscape.optimum_loss),
        "steps_to_target.png": steps_figure(r.steps, p.steps.target, p.train.lr, p.train.lr_ref_batch, limit),
    }

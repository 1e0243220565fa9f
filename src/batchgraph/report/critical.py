"""The critical-batch study's figures and report section, from reports/critical/{critical,steps}.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..tables.summary import markdown_table
from .figures import _plt, png

__all__ = ["critical_figures", "critical_section", "png"]


def _delta_colors(deltas):
    cmap = _plt().get_cmap("viridis")
    return {d: cmap(0.85 * i / max(len(deltas) - 1, 1)) for i, d in enumerate(sorted(deltas, reverse=True))}


def _rho_label(rho) -> str:
    return f"ρ = {rho:g}"


def steps_figure(table: pd.DataFrame, steps: pd.DataFrame):
    """(a) Fewest steps (best lr) against B, log-log, a panel per ρ, a curve per δ with its fit,
    a dot at B_crit on the fit (where S = 2 S_min) and a triangle at B_simple."""
    plt = _plt()
    rhos = list(dict.fromkeys(table["rho"]))
    colors = _delta_colors(table["delta"].unique())
    fig, axes = plt.subplots(1, len(rhos), figsize=(5.2 * len(rhos), 4.8), squeeze=False)
    for ax, rho in zip(axes[0], rhos):
        for _, row in table[table["rho"] == rho].iterrows():
            part = steps[(steps["rho"] == rho) & (steps["delta"] == row["delta"])]
            color = colors[row["delta"]]
            ax.plot(part["batch_size"], part["steps"], "o", ms=4, color=color, label=f"δ = {row['delta']:g}")
            top = max(part["batch_size"].max(), row["b_simple"] if np.isfinite(row["b_simple"]) else 0)
            B = np.geomspace(1, top, 200)
            if np.isfinite(row["b_crit"]):
                ax.plot(B, row["s_min"] * (1 + row["b_crit"] / B), "-", lw=1, color=color, alpha=0.8)
                ax.plot([row["b_crit"]], [2 * row["s_min"]], "o", ms=9, mfc="none", mec=color, mew=2)
                if np.isfinite(row["b_simple"]):
                    s_at = row["s_min"] * (1 + row["b_crit"] / row["b_simple"])
                    ax.plot([row["b_simple"]], [s_at], "^", ms=8, color=color, mec="k", mew=0.5)
        ax.set_xscale("log", base=2)
        reached = steps.loc[steps["rho"] == rho, "steps"]
        if (reached > 0).any():
            ax.set_yscale("log")
        else:  # nothing reached any target within the step budget: say so instead of plotting
            ax.text(0.5, 0.5, "no batch size reached a target\nwithin critical.max_steps",
                    ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        ax.set(title=_rho_label(rho), xlabel="batch size B (log₂ scale)")
    axes[0][0].set_ylabel("steps to L* + δ (best lr, seed-mean loss)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    marker = plt.Line2D([], [], ls="-", color="gray", lw=1)
    ring = plt.Line2D([], [], ls="", marker="o", ms=9, mfc="none", mec="gray", mew=2)
    tri = plt.Line2D([], [], ls="", marker="^", ms=8, color="gray", mec="k", mew=0.5)
    fig.legend(
        [*handles, marker, ring, tri],
        [*labels, "fit S_min(1 + B_crit/B)", "B_crit (S = 2 S_min)", "B_simple on the fit"],
        loc="lower center", ncol=len(handles) + 3, fontsize=9, frameon=False,
    )  # fmt: skip
    fig.suptitle("Steps to reach L* + δ against batch size, learning rate tuned per batch size")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def pareto_figure(table: pd.DataFrame, steps: pd.DataFrame):
    """(b) The steps–examples trade-off, S/S_min against E/E_min (E = S·B), every (ρ, δ), against
    McCandlish et al.'s (S/S_min − 1)(E/E_min − 1) = 1."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    markers = dict(zip(dict.fromkeys(table["rho"]), "os^D"))
    colors = _delta_colors(table["delta"].unique())
    for _, row in table.iterrows():
        if not np.isfinite(row["b_crit"]):
            continue
        part = steps[(steps["rho"] == row["rho"]) & (steps["delta"] == row["delta"])]
        ax.plot(part["examples"] / row["e_min"], part["steps"] / row["s_min"], markers[row["rho"]],
                ms=5, color=colors[row["delta"]], alpha=0.85, ls="")  # fmt: skip
    x = np.geomspace(1 + 1e-3, 1e3, 400)
    ax.plot(x, 1 + 1 / (x - 1), "k-", lw=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="examples E/E_min  (E = steps × B)", ylabel="steps S/S_min",
           title="Steps–examples trade-off against (S/S_min − 1)(E/E_min − 1) = 1")  # fmt: skip
    handles = [
        plt.Line2D([], [], ls="", marker=m, color="gray", label=_rho_label(r)) for r, m in markers.items()
    ]
    handles += [plt.Line2D([], [], ls="", marker="s", color=c, label=f"δ = {d:g}") for d, c in colors.items()]
    handles.append(plt.Line2D([], [], color="k", lw=1.2, label="(S/S_min − 1)(E/E_min − 1) = 1"))
    ax.legend(handles=handles, fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def noise_scale_figure(table: pd.DataFrame):
    """(c) Fitted B_crit against B_simple and B_noise (read off the full-batch path), with y = x."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    colors = dict(zip(dict.fromkeys(table["rho"]), ("C0", "C1", "C3", "C2")))
    ok = table[np.isfinite(table["b_crit"])]
    for rho, part in ok.groupby("rho", sort=False):
        ax.plot(
            part["b_simple"], part["b_crit"], "o", color=colors[rho], label=f"B_simple, {_rho_label(rho)}"
        )
        ax.plot(part["b_noise"], part["b_crit"], "s", mfc="none", color=colors[rho], mew=1.5,
                label=f"B_noise, {_rho_label(rho)}")  # fmt: skip
        for _, row in part.iterrows():  # join each δ's two scales
            ax.plot([row["b_simple"], row["b_noise"]], [row["b_crit"]] * 2, "-", color=colors[rho], lw=0.6)
    values = np.concatenate([ok["b_simple"], ok["b_noise"], ok["b_crit"]])
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        ax.text(0.5, 0.5, "no (ρ, δ) with a fitted B_crit", ha="center", va="center", transform=ax.transAxes)
        values = np.array([1.0, 10.0])
    lo, hi = values.min() / 2, values.max() * 2
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="noise scale (along the full-batch path, where its loss is L* + δ)",
           ylabel="fitted B_crit", title="Critical batch size against the gradient-noise scales")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def critical_figures(table: pd.DataFrame, steps: pd.DataFrame) -> dict:
    """The three figures by file name."""
    return {
        "critical_steps.png": steps_figure(table, steps),
        "critical_pareto.png": pareto_figure(table, steps),
        "critical_noise_scales.png": noise_scale_figure(table),
    }


def _span(values) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "n/a"
    lo, hi = min(values), max(values)
    return f"{lo:.3g}" if np.isclose(lo, hi, rtol=0.005) else f"{lo:.3g}–{hi:.3g}"


def headline(table: pd.DataFrame) -> str:
    """The first paragraph: where the knee is, how it moves with δ and ρ, how far the noise scales are."""
    deltas = sorted(table["delta"].unique(), reverse=True)
    per_rho = []
    for rho, part in table.groupby("rho", sort=False):
        part = part.set_index("delta").loc[deltas]
        knees = ", ".join(f"{b:.3g}" for b in part["b_crit"])
        per_rho.append(f"{_rho_label(rho)}: {knees}")
    ratio_s, ratio_n = table["b_crit_over_b_simple"], table["b_crit_over_b_noise"]
    edges = int(table["best_lr_at_edge"].sum())
    unreached = int(table["unreached_batch_sizes"].notna().sum())  # empty cells read as NaN
    first, last = table[table["delta"] == deltas[0]], table[table["delta"] == deltas[-1]]
    medians = table.groupby("rho", sort=True)[["b_crit_over_b_simple", "b_crit_over_b_noise"]].median()
    falling = bool((np.diff(medians.to_numpy(), axis=0) < 0).all())
    trend = "; both fall as ρ grows (median over δ)" if falling else ""
    ratios = pd.concat([ratio_s, ratio_n])
    if (ratios < 1).all():
        verdict = "The noise scales overestimate the knee"
    elif (ratios > 1).all():
        verdict = "The noise scales underestimate the knee"
    else:
        verdict = "The noise scales bracket the knee"
    low, high = table[table["rho"] == table["rho"].min()], table[table["rho"] == table["rho"].max()]
    grows = (last["b_crit"].to_numpy() > first["b_crit"].to_numpy()).sum()
    return (
        f"**Result.** With the learning rate tuned per batch size, steps to the target fall as 1/B up "
        f"to a knee and then flatten, and S = S_min(1 + B_crit/B) fits them with an RMS log-residual of "
        f"{_span(table['fit_residual'])}. The knee B_crit (for δ = {', '.join(f'{d:g}' for d in deltas)}) is "
        f"{'; '.join(per_rho)}. Tightening the target from δ = {deltas[0]:g} to δ = {deltas[-1]:g} moves "
        f"the knee to larger batches for {grows} of {len(first)} values of ρ; across ρ the knee stays "
        f"within {_span(table['b_crit'])} while S_min goes from {_span(low['s_min'])} "
        f"(ρ = {low['rho'].iloc[0]:g}) to {_span(high['s_min'])} (ρ = {high['rho'].iloc[0]:g}). "
        f"{verdict}: B_crit/B_simple is {_span(ratio_s)} and B_crit/B_noise {_span(ratio_n)}{trend}. "
        f"The best lr sat at the edge of the lr grid in {edges} (ρ, δ, B) cells and "
        f"{unreached} (ρ, δ) fits left out unreached batch sizes."
    )


def critical_section(table: pd.DataFrame, steps: pd.DataFrame, figure_dir: str = "figures") -> str:
    """The critical-batch study as a Markdown section; every number comes from ``table``/``steps``."""
    cols = ["rho", "delta", "s_min", "e_min", "b_crit", "b_simple", "b_noise", "b_crit_over_b_simple",
            "b_crit_over_b_noise", "fit_residual", "best_lr_at_edge"]  # fmt: skip
    return "\n\n".join([
        "## Critical batch size (McCandlish et al. 2018; Shallue et al. 2018)",
        headline(table),
        "**Setup.** Examples are streamed from the population itself: two classes with equal priors, "
        "means (1, 2) and (1, −2), shared covariance s²[[1, ρ], [ρ, 1]] with s² = 1/(1 − ρ²), so the "
        "Mahalanobis separation (16), the Bayes error and the optimal loss L* do not depend on ρ while "
        "the conditioning worsens. Weights start at zero. For every batch size each learning rate of a "
        "half-octave grid trains one model per seed on the same stream (common random numbers); the "
        "exact population loss (Gauss–Hermite quadrature) is evaluated after every update, and an lr "
        "reaches L* + δ at the first step where its seed-mean loss does. Steps to target is the minimum "
        "over lr. B_simple = tr Σ/|G|² and B_noise = tr(HΣ)/(GᵀHG) are exact population quantities "
        "read off the full-batch gradient-descent path (step 1/λ_max(H)) where its loss crosses L* + δ.",
        "**Caveats.** At ρ = 0 the zero init makes the first full-batch gradient point exactly at w*, "
        "so one step of a well-chosen lr nearly solves the problem (S_min ≈ 1): the knee there is a "
        "property of this start. The noise scales assume the step is re-tuned along G every step "
        "(ε_opt = |G|²/GᵀHG), which a constant lr cannot follow on an ill-conditioned problem, one "
        "reason B_noise sits far above the measured knee.",
        markdown_table(table[cols]).rstrip("\n"),
        f"![steps against batch size]({figure_dir}/critical_steps.png)",
        f"![steps–examples trade-off]({figure_dir}/critical_pareto.png)",
        f"![B_crit against the noise scales]({figure_dir}/critical_noise_scales.png)",
    ]) + "\n"  # fmt: skip

"""The critical-batch study's figures and page, from the tables in reports/critical/.

Every sentence is computed from those tables: a statement the tables do not support is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..tables.summary import markdown_table
from .figures import _plt, png

__all__ = ["CriticalTables", "critical_figures", "critical_page", "headline", "png"]

REGIME_LABEL = {"constant": "constant lr (tuned per B)", "optimal": "noise-optimal step"}
PREDICTORS = {"b_simple": "B_simple", "b_noise": "B_noise", "b_noise_path": "⟨B_noise⟩", "b_nqm": "B_nqm"}
# The figures' font has no ⟨⟩.
FIGURE_LABEL = PREDICTORS | {"b_noise_path": "B_noise, path mean"}


@dataclass
class CriticalTables:
    critical: pd.DataFrame
    steps: pd.DataFrame
    convergence: pd.DataFrame
    sensitivity: pd.DataFrame

    def headline_delta(self) -> float:
        """The tightest δ: the target the headline quotes."""
        return float(self.critical["delta"].min())

    def cells(self, regime: str, delta: float | None = None) -> pd.DataFrame:
        t = self.critical[self.critical["regime"] == regime]
        return t if delta is None else t[t["delta"] == delta]


def _g(x, digits: int = 3) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.{digits}g}"


def _interval(row) -> str:
    return f"{_g(row['b_crit'])} [{_g(row['b_crit_lo'])}, {_g(row['b_crit_hi'])}]"


def _problems(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["problem"]))


def _delta_colors(deltas):
    cmap = _plt().get_cmap("viridis")
    ordered = sorted(deltas, reverse=True)
    return {d: cmap(0.85 * i / max(len(ordered) - 1, 1)) for i, d in enumerate(ordered)}


def _log_or_empty(ax, drew: bool, **labels) -> None:
    """Log-log axes when something was drawn, else the same labels and a note instead of a plot."""
    if drew:
        ax.set(xscale="log", yscale="log")
    else:
        ax.text(0.5, 0.5, "no fitted B_crit to show", ha="center", va="center", transform=ax.transAxes)
    ax.set(**labels)


def _panels(n: int):
    plt = _plt()
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.7 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def steps_figure(t: CriticalTables):
    """Steps to (1 + δ)L* against B, a panel per problem: per δ the measured steps (median over
    seeds, interval from half-samples), the fit and B_crit with its interval; constant lr filled,
    the noise-optimal step hollow."""
    problems = _problems(t.critical)
    colors = _delta_colors(t.critical["delta"].unique())
    fig, axes = _panels(len(problems))
    for ax, name in zip(axes, problems):
        drew = False
        for _, row in t.critical[t.critical["problem"] == name].iterrows():
            part = t.steps[(t.steps["problem"] == name) & (t.steps["regime"] == row["regime"])
                           & (t.steps["delta"] == row["delta"])]  # fmt: skip
            ok = part[np.isfinite(part["steps"])]
            if not len(ok):
                continue
            drew = True
            color, hollow = colors[row["delta"]], row["regime"] == "optimal"
            lo = np.clip(ok["steps"] - ok["steps_lo"].fillna(ok["steps"]), 0, None)
            hi = np.clip(ok["steps_hi"].fillna(ok["steps"]) - ok["steps"], 0, None)
            hi = np.where(np.isfinite(hi), hi, 0)
            ax.errorbar(ok["batch_size"], ok["steps"], yerr=[lo, hi], fmt="o", ms=4, color=color, lw=0.8,
                        mfc="none" if hollow else color, capsize=2)  # fmt: skip
            if np.isfinite(row["b_crit"]):
                B = np.geomspace(part["batch_size"].min(), part["batch_size"].max(), 200)
                ax.plot(B, row["s_min"] * (1 + row["b_crit"] / B), "--" if hollow else "-", lw=1, color=color)
                lo_b, hi_b = row["b_crit_lo"], row["b_crit_hi"]
                if np.isfinite(lo_b) and np.isfinite(hi_b):
                    ax.plot([lo_b, hi_b], [2 * row["s_min"]] * 2, "-", lw=3, color=color, alpha=0.5)
                ax.plot([row["b_crit"]], [2 * row["s_min"]], "|", ms=12, mew=2, color=color)
        ax.set_xscale("log", base=2)
        if drew:
            ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "no batch size reached a target\nwithin critical.max_steps",
                    ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        kappa = t.critical.loc[t.critical["problem"] == name, "kappa"].iloc[0]
        ax.set(title=f"{name} (κ = {_g(kappa)})", xlabel="batch size B")
    axes[0].set_ylabel("steps to (1 + δ)·L*")
    plt = _plt()
    handles = [plt.Line2D([], [], ls="-", marker="o", color=c, label=f"δ = {d:g}") for d, c in colors.items()]
    handles += [
        plt.Line2D([], [], ls="-", marker="o", color="gray", label=REGIME_LABEL["constant"]),
        plt.Line2D([], [], ls="--", marker="o", mfc="none", color="gray", label=REGIME_LABEL["optimal"]),
        plt.Line2D([], [], ls="-", lw=3, alpha=0.5, color="gray", label="B_crit and its 95 % interval"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.suptitle("Steps to the target against batch size (median over seeds; fit S_min(1 + B_crit/B))")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def predicted_figure(t: CriticalTables):
    """Predicted against measured B_crit, log-log, with y = x and the 2× band: B_simple, B_noise and
    B_nqm for constant lr; B_noise and its mean along the path for the noise-optimal step. Flagged
    cells (S_min < 10) hollow."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6))
    series = [("constant", "b_simple", "^", "C0"), ("constant", "b_noise", "s", "C1"),
              ("constant", "b_nqm", "o", "C2"), ("optimal", "b_noise", "D", "C3"),
              ("optimal", "b_noise_path", "v", "C4")]  # fmt: skip
    values = []
    for regime, col, marker, color in series:
        part = t.cells(regime)
        part = part[np.isfinite(part["b_crit"]) & np.isfinite(part[col]) & (part[col] > 0)]
        for flagged, sub in part.groupby(part["small_s_min"] == 1):
            ax.plot(sub[col], sub["b_crit"], marker, ls="", color=color, ms=6,
                    mfc="none" if flagged else color, alpha=0.9)  # fmt: skip
        values += [*part[col], *part["b_crit"]]
        ax.plot([], [], marker, ls="", color=color, label=f"{FIGURE_LABEL[col]}, {REGIME_LABEL[regime]}")
    values = np.array([v for v in values if np.isfinite(v) and v > 0])
    if not len(values):
        ax.text(0.5, 0.5, "no cell with a fitted B_crit", ha="center", va="center", transform=ax.transAxes)
        values = np.array([1.0, 10.0])
    lo, hi = values.min() / 3, values.max() * 3
    x = np.array([lo, hi])
    ax.plot(x, x, "k-", lw=1, label="y = x")
    ax.fill_between(x, x / 2, x * 2, color="gray", alpha=0.15, label="within 2×")
    ax.plot([], [], "o", ls="", color="gray", mfc="none", label="S_min < 10 (flagged)")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="predicted critical batch size",
           ylabel="measured B_crit",
           title="Predicted against measured B_crit, every (problem, δ)")  # fmt: skip
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def seeds_figure(t: CriticalTables):
    """B_crit (constant lr, headline δ) against the number of seeds used, with its interval."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    conv = t.convergence[
        (t.convergence["regime"] == "constant") & (t.convergence["delta"] == t.headline_delta())
    ]
    conv = conv[np.isfinite(conv["b_crit"]) & (conv["b_crit"] > 0)]
    for i, (name, part) in enumerate(conv.groupby("problem", sort=False)):
        x = part["seeds"] * 1.04 ** (i - 3)  # a small offset per problem keeps the bars apart
        lo = np.clip(part["b_crit"] - part["b_crit_lo"], 0, None)
        hi = np.clip(part["b_crit_hi"] - part["b_crit"], 0, None)
        ax.errorbar(x, part["b_crit"], yerr=[lo.fillna(0), hi.fillna(0)], fmt="o-", ms=4, lw=1, capsize=2,
                    label=name)  # fmt: skip
    _log_or_empty(ax, len(conv) > 0, xlabel="seeds used (the first n)",
                  ylabel=f"B_crit at δ = {t.headline_delta():g} (constant lr)",
                  title="B_crit against the number of seeds, with 95 % intervals")  # fmt: skip
    if len(conv):
        ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def regimes_figure(t: CriticalTables):
    """B_crit over B_noise (at the target) and over ⟨B_noise⟩ (its mean along the full-batch path)
    against κ, both regimes, headline δ: McCandlish's B_crit ≈ B_noise is y = 1."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    lines = (("constant", "b_noise", "o-", "C0"), ("constant", "b_noise_path", "o:", "C0"),
             ("optimal", "b_noise", "D-", "C3"), ("optimal", "b_noise_path", "D:", "C3"))  # fmt: skip
    drew = False
    for regime, col, style, color in lines:
        part = t.cells(regime, t.headline_delta()).sort_values("kappa")
        ratio = part[f"b_crit_over_{col}"]
        part = part[np.isfinite(ratio) & (ratio > 0)]
        if not len(part):
            continue
        drew = True
        ax.plot(part["kappa"], part[f"b_crit_over_{col}"], style, color=color,
                label=f"{REGIME_LABEL[regime]}: B_crit / {FIGURE_LABEL[col]}")  # fmt: skip
        for _, row in part.iterrows():
            if np.isfinite(row["b_crit_lo"]) and np.isfinite(row["b_crit_hi"]):
                ax.plot([row["kappa"]] * 2, np.array([row["b_crit_lo"], row["b_crit_hi"]]) / row[col],
                        "-", color=color, lw=3, alpha=0.3)  # fmt: skip
    ax.axhline(1.0, color="k", lw=1, ls="--", label="B_crit = predictor")
    _log_or_empty(ax, drew, xlabel="κ(H*) of the problem", ylabel="B_crit / noise scale",
                  title=f"Both regimes against the conditioning, δ = {t.headline_delta():g}")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def critical_figures(t: CriticalTables) -> dict:
    """The four figures by file name."""
    return {
        "critical_steps.png": steps_figure(t),
        "critical_predicted.png": predicted_figure(t),
        "critical_seeds.png": seeds_figure(t),
        "critical_regimes.png": regimes_figure(t),
    }


def _within(part: pd.DataFrame, col: str) -> tuple[int, int]:
    ratio = part[f"b_crit_over_{col}"]
    ok = ratio[np.isfinite(ratio)]
    return int(((ok >= 0.5) & (ok <= 2.0)).sum()), len(ok)


def _span(values) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "n/a"
    lo, hi = _g(min(values)), _g(max(values))
    return lo if lo == hi else f"{lo}–{hi}"


def headline(table: pd.DataFrame) -> str:
    """One paragraph from critical.csv: the knee per problem with its interval, what predicts it,
    both regimes."""
    t = CriticalTables(table, *([pd.DataFrame()] * 3))
    delta = t.headline_delta()
    const = t.cells("constant", delta)
    good = const[(const["small_s_min"] == 0) & np.isfinite(const["b_crit"])]
    flagged = const[(const["small_s_min"] == 1) | ~np.isfinite(const["b_crit"])]
    parts = [f"**Result** (target (1 + δ)·L* with δ = {delta:g}, constant lr tuned per batch size)."]
    if len(good):
        knees = "; ".join(f"{r['problem']} {_interval(r)}" for _, r in good.iterrows())
        parts.append(f"B_crit with its 95 % interval: {knees}.")
        converged = int(good["halving_inside"].sum())
        parts.append(
            f"Halving the seeds keeps the estimate inside its interval for {converged} of {len(good)} of "
            f"these."
        )
    else:
        parts.append("No problem has a fitted knee with S_min of at least 10 steps at this target.")
    if len(flagged):
        parts.append(
            f"Left out for S_min under 10 steps or no knee on the grid: {', '.join(flagged['problem'])}."
        )
    all_const = t.cells("constant")
    all_const = all_const[all_const["small_s_min"] == 0]
    within = {}
    for col in ("b_nqm", "b_simple", "b_noise"):
        within[col] = hit, n = _within(all_const, col)
        if n:
            ratios = _span(all_const[f"b_crit_over_{col}"])
            parts.append(
                f"{PREDICTORS[col]} is within 2× of the measured knee in {hit} of {n} (problem, δ) cells "
                f"(B_crit/{PREDICTORS[col]} {ratios}){_misses(all_const, col)}."
            )
    opt = t.cells("optimal")
    opt = opt[opt["small_s_min"] == 0]
    for col in ("b_noise_path", "b_noise"):
        within[f"optimal_{col}"] = hit, n = _within(opt, col)
        if n:
            parts.append(
                f"With McCandlish's noise-optimal step instead, {PREDICTORS[col]} is within 2× of the knee "
                f"in "
                f"{hit} of {n} cells (B_crit/{PREDICTORS[col]} {_span(opt[f'b_crit_over_{col}'])})."
            )
    parts.append(_verdict(within))
    return " ".join(p for p in parts if p)


def _misses(cells: pd.DataFrame, col: str) -> str:
    """ "; outside: <problem> δ = <δ> (<ratio>), …" for the few cells a predictor misses by more than 2×."""
    ratio = cells[f"b_crit_over_{col}"]
    out = cells[np.isfinite(ratio) & ((ratio < 0.5) | (ratio > 2.0))]
    if not len(out) or 2 * len(out) > int(np.isfinite(ratio).sum()):
        return ""
    return "; outside: " + ", ".join(
        f"{r['problem']} δ = {r['delta']:g} ({_g(r[f'b_crit_over_{col}'])})" for _, r in out.iterrows()
    )


def _verdict(within: dict) -> str:
    """The answer to "is the knee the optimizer's or the noise's?", when the counts make one."""
    nqm, noise = within["b_nqm"], within["b_noise"]
    if not (nqm[1] and noise[1]) or 2 * nqm[0] <= nqm[1] or 2 * noise[0] > noise[1]:
        return ""
    text = (
        "So the knee of constant-lr SGD is set by the optimizer, by the stability-capped rate η∞ through "
        "B_nqm = η∞ tr Σ/(4δL*), not by the noise scale at the target"
    )
    path, point = within["optimal_b_noise_path"], within["optimal_b_noise"]
    if path[1] and 2 * path[0] > path[1] and 2 * point[0] <= point[1]:
        text += (
            "; with the step McCandlish's theory assumes, the knee follows the noise scale averaged along "
            "the path, as that theory predicts"
        )
    return text + "."


SETUP = (
    "**Setup.** Problems: `kappa_<k>`, two Gaussian classes in 16 dimensions with a shared covariance whose "
    "spectrum follows a power law, scaled so that the population Hessian at the optimum has condition number "
    "κ = k while the Mahalanobis separation (4) and L* stay fixed; and `breast_cancer`, scikit-learn's 569 "
    "× 30 "
    "data set, standardised, whose examples are drawn with replacement (its population loss is the full-data "
    "loss, L* its optimum by Newton's method). Every loss, gradient, Σ and H is exact (a trapezoid "
    "rule along wᵀx, exact to ~1e-9, or a sum over the data set). Each seed starts at θ* plus an "
    "isotropic draw with ½τ²·tr H* = 2L* and has its own stream of examples, shared by every learning "
    "rate and batch size. "
    "Per batch size the lr is tuned in two passes, in units of 1/λ_max(H*) (where gradient descent near θ* "
    "stops being stable at 2): a half-octave grid with 8 seeds, then every seed on "
    "`critical.refine_per_octave` rates per octave within half an octave of each target's best. Each seed's "
    "first passage below (1 + δ)·L* is interpolated between the two evaluations that bracket it (the "
    "population loss is evaluated after every update up to 64, then every t/64 updates); steps at "
    "(B, lr) is the median over seeds, S(B) the minimum over lr. S = S_min(1 + B_crit/B) is fitted in log "
    "space, one equal-weight point per batch size. The 95 % interval comes from half-sampling the seeds "
    "(200 random halves, seeds as the unit: the half-sample deviation of log B_crit, scaled by √(m/(n − m)), "
    "is distributed like the estimate's error; the interval is the estimate ± the 95th percentile of its "
    "size, which covered 95 % of a known B_crit in simulation, where the asymmetric basic interval "
    "covered 88 %). The noise-optimal regime replaces the tuned lr by "
    "ε = ε_max/(1 + B_noise/B), ε_max = |G|²/GᵀHG, at every update and for every member."
)

NQM = (
    "**Why constant-lr SGD has its own predictor.** Near the optimum, SGD with lr η on a quadratic "
    "with Hessian H and per-example gradient covariance Σ has the stationary covariance P = (I − ηH)P(I − "
    "ηH) "
    "+ η²Σ/B (the noisy quadratic model of Zhang et al. 2019). In H's eigenbasis, P_ii = ηΣ̃_ii/(Bλ_i(2 − "
    "ηλ_i)), "
    "so the excess loss it settles at is F(η, B) = ½ tr(HP) = (η/2B) Σ_i Σ̃_ii/(2 − ηλ_i). The best "
    "large-batch rate η∞ is set by stability (η∞λ_max ≲ 2), not by noise; a batch small enough that "
    "F(η∞, B) > δ·L* must lower its rate and take more steps. The knee is where F(η∞, B) = δ·L*; "
    "in the small-η form F ≈ η tr Σ/(4B) that is B_nqm = η∞ tr Σ/(4δL*), with Σ at the optimum and η∞ the "
    "measured best rate at the largest batch size (the exact form, with 2 − η∞λ_i in the denominators, "
    "diverges at the stability edge where η∞ sits, and a large batch reaches the target in too few steps "
    "to settle anyway). McCandlish's B_noise = tr(HΣ)/GᵀHG instead assumes the step ε_max/(1 + B_noise/B), "
    "with which a batch of B makes 1/(1 + B_noise/B) of the full-batch progress per step; summed over the "
    "S_min steps of the full-batch path (step ε_max), S = S_min(1 + ⟨B_noise⟩/B): the knee is B_noise "
    "averaged along that path, ⟨B_noise⟩, not its value at the target (which grows without bound as G → 0). "
    "Near the target ε_max ≈ 1/λ along G, which a constant lr capped near 2/λ_max cannot follow on an "
    "ill-conditioned problem."
)


def _cell_table(t: CriticalTables) -> str:
    cols = ["problem", "kappa", "regime", "delta", "s_min", "b_crit", "b_crit_lo", "b_crit_hi", "b_nqm",
            "b_simple", "b_noise", "b_noise_path", "b_crit_over_b_nqm", "b_crit_over_b_noise",
            "b_crit_over_b_noise_path", "small_s_min", "halving_inside"]  # fmt: skip
    return markdown_table(t.critical[cols], digits=3, nan="n/a").rstrip("\n")


def _sensitivity_table(t: CriticalTables) -> str:
    s = t.sensitivity[
        (t.sensitivity["regime"] == "constant") & (t.sensitivity["delta"] == t.headline_delta())
    ]
    if not len(s):
        return ""
    wide = s.pivot(index="problem", columns="variant", values="b_crit")
    wide = wide.reindex(index=list(dict.fromkeys(s["problem"])), columns=list(dict.fromkeys(s["variant"])))
    return markdown_table(wide.reset_index(), digits=3, nan="n/a").rstrip("\n")


def sensitivity_sentence(t: CriticalTables) -> str:
    s = t.sensitivity[
        (t.sensitivity["regime"] == "constant") & (t.sensitivity["delta"] == t.headline_delta())
    ]
    s = s[s["variant"] != "per-run median (headline)"]
    if not len(s):
        return ""
    # A value without a fit, or a problem without a headline interval, is neither inside nor outside.
    head = t.cells("constant", t.headline_delta())
    bounded = head[np.isfinite(head["b_crit_lo"]) & np.isfinite(head["b_crit_hi"])]["problem"]
    compared = np.isfinite(s["b_crit"]) & s["problem"].isin(set(bounded))
    kept, rest = s[compared], s[~compared]
    texts = []
    if len(kept):
        outside = kept[kept["inside_interval"] == 0]
        texts.append(
            f"Of {len(kept)} (problem, variant) values, {len(kept) - len(outside)} fall inside the headline "
            f"interval."
        )
        if len(outside):
            where = "; ".join(f"{r['problem']}: {r['variant']}" for _, r in outside.iterrows())
            texts.append(f"Outside it: {where}.")
    if len(rest):
        where = "; ".join(f"{r['problem']}: {r['variant']}" for _, r in rest.iterrows())
        texts.append(f"Not compared, for no fit or no headline interval: {where}.")
    return " ".join(texts)


def critical_page(t: CriticalTables, figure_dir: str = "figures") -> str:
    """The critical-batch study as a Markdown page; every number comes from the tables."""
    sens = _sensitivity_table(t)
    return "\n\n".join(filter(None, [
        "# Critical batch size",
        "The course report's question asked as the large-batch literature asks it (McCandlish et al. 2018; "
        "Shallue et al. 2018): data streamed from the population, the learning rate tuned per batch size, "
        "steps until the loss reaches a target.",
        headline(t.critical),
        f"![steps against batch size]({figure_dir}/critical_steps.png)",
        SETUP,
        NQM,
        f"![predicted against measured]({figure_dir}/critical_predicted.png)",
        f"![both regimes against κ]({figure_dir}/critical_regimes.png)",
        "**Convergence in the number of seeds.** B_crit from the first n seeds, with the interval each n "
        "gives; "
        "`halving_inside` in the table says whether the estimate from half the seeds lies inside the full "
        "interval.",
        f"![B_crit against seeds]({figure_dir}/critical_seeds.png)",
        "**Every cell.** S_min and B_crit of the fit, the 95 % interval, the predictors and their ratios; "
        "`small_s_min` = 1 marks S_min under 10 steps (one step more or less moves B_crit by a third), kept "
        "out of the headline.",
        _cell_table(t),
        (f"**Sensitivity** (δ = {t.headline_delta():g}, constant lr). B_crit under other choices of the "
         f"method and from the other start. {sensitivity_sentence(t)}") if sens else "",
        sens,
    ])) + "\n"  # fmt: skip

"""report.md as text: the course report's sections, with every number taken from the results."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine import Graph, Input, Linear, Parameter
from ..tables.summary import PUBLISHED_LOSSES, markdown_table
from .critical import headline as critical_headline
from .figures import FIGURES
from .landscape import Landscape, landscape

# Task 1 of the course report: its mock data and the values it printed (its Figure 1.2).
MOCK = {
    "A": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
    "b": [0.1, 0.2, 0.3],
    "x": [1.0, 2.0],
    "grad": [0.5, -0.5, 1.0],
}
MOCK_PRINTED = {
    "y": [0.6, 1.3, 2.0],
    "A": [[0.5, 1.0], [-0.5, -1.0], [1.0, 2.0]],
    "b": [0.5, -0.5, 1.0],
    "x": [0.4, 0.5],
}
PUBLISHED_TASK2 = {"loss": 0.0457, "accuracy": 0.98}


def linear_mock() -> dict[str, np.ndarray]:
    """Task 1 on the engine: forward and backward of one Linear node on the report's mock data."""
    x, A, b = Input(MOCK["x"]), Parameter(MOCK["A"]), Parameter(MOCK["b"])
    graph = Graph(Linear(x, A, b))
    y = graph.forward()
    graph.backward(MOCK["grad"])
    return {"y": y, "A": A.grad, "b": b.grad, "x": x.grad}


def _f(x: float, digits: int = 3, missing: str = "diverged") -> str:
    if x is None or not math.isfinite(x):
        return missing if x is None or math.isnan(x) else "∞"
    return f"{x:#.{digits}g}".rstrip(".")


def _pct(x: float) -> str:
    return "diverged" if x is None or math.isnan(x) else f"{100 * x:.1f} %"


def _range(values, digits: int = 3) -> str:
    """``lo–hi`` of the finite values (one value if they agree), ``n/a`` if there are none."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if not len(v):
        return "n/a"
    lo, hi = _f(v.min(), digits), _f(v.max(), digits)
    return lo if lo == hi else f"{lo}–{hi}"


def _n(x: float) -> str:
    """A count or a mean of counts: 3 significant digits, no padding zeros."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"


def rule_column(steps: pd.DataFrame, rule: str, field: str, batch_sizes) -> np.ndarray:
    """One field of one lr rule's rows of the steps table, per batch size (NaN where absent)."""
    part = steps[steps["lr_scaling"] == rule].set_index("batch_size")[field]
    return part.reindex(batch_sizes).to_numpy(dtype=float)


def bayes_accuracy(means, std: float) -> float:
    """Accuracy of the optimal classifier for two equal, isotropic Gaussians: Φ(|μ₁ − μ₀| / 2σ)."""
    distance = float(np.linalg.norm(np.subtract(means[1], means[0])))
    return 0.5 * (1 + math.erf(distance / (2 * std) / math.sqrt(2)))


def bayes_split_accuracy(X, y, means) -> float:
    """Accuracy of the optimal rule (nearer mean, for equal isotropic Gaussians) on one split."""
    d = [np.linalg.norm(X - np.asarray(m, dtype=float), axis=1) for m in means]
    return float(np.mean((d[1] < d[0]) == (y == 1)))


def equal_update_losses(curves: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """The train loss of every batch size that has a record after exactly U updates, where U is
    the largest batch size's total: the comparison at equal work per model rather than equal epochs."""
    largest = curves["batch_size"].max()
    U = int(curves.loc[curves["batch_size"] == largest, "updates"].max())
    rows = curves[curves["updates"] == U].sort_values("batch_size")
    return U, rows[["batch_size", "epoch", "train_loss", "train_loss_std"]]


def doubling_gains(steps: pd.DataFrame, rule: str) -> list[tuple[int, int, float]]:
    """(B, B', steps(B) / steps(B')) for consecutive batch sizes under ``rule``, scaled to a
    doubling: a gain of 2 is perfect scaling, 1 is none."""
    part = steps[steps["lr_scaling"] == rule].sort_values("batch_size")
    part = part[part["steps_mean"].notna()]
    B, S = part["batch_size"].to_numpy(), part["steps_mean"].to_numpy()
    return [
        (int(B[i]), int(B[i + 1]), float((S[i] / S[i + 1]) ** (math.log(2) / math.log(B[i + 1] / B[i]))))
        for i in range(len(B) - 1)
    ]


@dataclass(frozen=True)
class Results:
    """Everything the report reads, gathered once by the `report` stage.

    ``baseline`` is the Task 2 run's final metrics, ``baseline_history`` its loss per epoch and
    ``baseline_weights`` its final (A, b); ``landscape`` the train loss measured around the runs;
    ``figures`` the names of the figure files; ``critical`` the critical-batch study's table
    (``reports/critical/critical.csv``), None without one.
    """

    params: object
    data: object
    summary: pd.DataFrame
    curves: pd.DataFrame
    published: pd.DataFrame
    baseline: dict
    baseline_history: pd.DataFrame
    baseline_weights: tuple
    noise: pd.DataFrame
    steps: pd.DataFrame
    landscape: Landscape
    figures: tuple[str, ...]
    critical: pd.DataFrame | None = None

    @property
    def bayes_test(self) -> float:
        """The optimal rule's accuracy on this test split."""
        return bayes_split_accuracy(self.data.X_test, self.data.y_test, self.params.data.means)

    @property
    def by_batch(self) -> pd.DataFrame:
        return self.summary.set_index("batch_size")

    @property
    def batch_sizes(self) -> list:
        return list(self.by_batch.index)

    def fig(self, name: str) -> str:
        """The Markdown image link of one figure."""
        return f"![{name.removesuffix('.png').replace('_', ' ')}](figures/{name})"


def build_results(params, data, *, baseline_weights, critical=None, **tables) -> Results:
    """The one constructor of ``Results``: the stage, the tests and any other caller pass the
    tables they read or computed; the landscape around the Task 2 weights is measured here."""
    A, b = baseline_weights
    around = landscape(data, (A, b), params.steps.seeds, **params.model.model_dump())
    return Results(
        params=params, data=data, baseline_weights=(A, b), landscape=around, figures=FIGURES,
        critical=critical, **tables,
    )  # fmt: skip


def header_section(r: Results) -> list[str]:
    p, train = r.params, r.params.train
    return [
        "# What batch size does to logistic regression: EE 569 Assignment 1a, reproduced and corrected\n",
        f"Preset `{p.study.name}`: batch sizes {r.batch_sizes}, seeds {p.study.seeds}, lr {train.lr} "
        f"(scaling `{train.lr_scaling}`, reference batch {train.lr_ref_batch}), {train.epochs} "
        f"epochs, shuffle {str(train.shuffle).lower()}, model `{p.model.graph}` with "
        f"`{p.model.init}` init (std {p.model.init_std}). Every number below is filled in by the "
        "`report` stage from the pipeline's outputs; `dvc repro` regenerates this file.\n",
    ]


def task1_section(r: Results) -> list[str]:
    mock = linear_mock()
    mock_ok = all(np.allclose(mock[k], MOCK_PRINTED[k]) for k in MOCK_PRINTED)
    return [
        "## Task 1: the Linear node\n",
        "The engine's `Linear` node on the course report's mock data, A = [[.1, .2], [.3, .4], [.5, .6]], "
        "b = [.1, .2, .3], x = [1, 2], upstream gradient [.5, −.5, 1]:\n",
        "```",
        f"forward  y     = {np.array2string(mock['y'], precision=4)}",
        f"backward dL/dA = {np.array2string(mock['A'], precision=4, separator=', ').replace(chr(10), '')}",
        f"backward dL/db = {np.array2string(mock['b'], precision=4)}",
        f"backward dL/dx = {np.array2string(mock['x'], precision=4)}",
        "```\n",
        "These " + ("match" if mock_ok else "**do not match**") + " the values printed in the course "
        "report (its Figure 1.2). The same node takes a batch x of shape (N, in) and returns x Aᵀ + b; "
        "its gradients are checked against finite differences in `tests/test_nodes.py`.\n",
    ]


def data_section(r: Results) -> list[str]:
    d, cfg = r.data, r.params.data
    n_tr, n_te = len(d.X_train), len(d.X_test)
    bayes = bayes_accuracy(cfg.means, cfg.std)
    bayes_train = bayes_split_accuracy(d.X_train, d.y_train, cfg.means)
    bayes_test = bayes_split_accuracy(d.X_test, d.y_test, cfg.means)
    return [
        "## Data\n",
        f"Two Gaussian blobs, {cfg.n_per_class} points each around {cfg.means} with "
        f"standard deviation {cfg.std}; {n_te} points ({_pct(n_te / (n_tr + n_te))}) held out "
        f"for test, {n_tr} for training. The best possible classifier for these two distributions "
        f"(the nearer mean) is right {_pct(bayes)} of the time on new data; on this draw it scores "
        f"{_pct(bayes_train)} on the training split and {_pct(bayes_test)} on the test split, so "
        f"test accuracies are read against that (with {n_te} test points one mistake is "
        f"{_pct(1 / n_te)}).\n",
        r.fig("data.png") + "\n",
    ]


def task2_section(r: Results) -> list[str]:
    cfg, m = r.params.baseline, r.baseline
    return [
        "## Task 2: logistic regression on the Linear node\n",
        f"Batch size {cfg.batch_size}, lr {cfg.lr}, {cfg.epochs} epochs: "
        f"final epoch loss {_f(m['epoch_loss'])}, train loss {_f(m['train_loss'])}, "
        f"test loss {_f(m['test_loss'])}, test accuracy {_pct(m['test_accuracy'])} "
        f"(course report: loss {PUBLISHED_TASK2['loss']}, accuracy {_pct(PUBLISHED_TASK2['accuracy'])}, "
        "on its own random draw of the data). The per-feature graph the course started from "
        "(x₁w₁ + x₂w₂ + w₀ from Multiply and Add nodes) gives the same losses and gradients to 1e-12 "
        "(`tests/test_models.py`), so replacing it by the Linear node changes nothing but the code.\n",
        r.fig("baseline.png") + "\n",
    ]


SUMMARY_COLUMNS = [
    "batch_size",
    "updates",
    "lr",
    "epoch_loss_mean",
    "train_loss_mean",
    "train_loss_std",
    "test_loss_mean",
    "test_accuracy_mean",
    "diverged",
]


def batch_size_section(r: Results) -> list[str]:
    s, B = r.by_batch, r.batch_sizes
    b_lo, b_hi = B[0], B[-1]
    return [
        "## Tasks 3–4: the effect of batch size\n",
        f"Each batch size trains {len(r.params.study.seeds)} models (one per seed: initial weights and "
        f"shuffle order) for {r.params.train.epochs} epochs. An epoch has ⌈N/B⌉ updates, so the number of "
        f"updates falls from {int(s.loc[b_lo, 'updates'])} at B = {b_lo} to {int(s.loc[b_hi, 'updates'])} "
        f"at B = {b_hi}. Mean and standard deviation over seeds, after the last epoch:\n",
        markdown_table(r.summary[SUMMARY_COLUMNS], nan={"train_loss_std": "n/a"}),
        r.fig("loss_curves.png") + "\n",
        r.fig("final_vs_batch.png") + "\n",
        r.fig("loss_vs_updates.png") + "\n",
    ]


def published_section(r: Results) -> list[str]:
    s, p, B = r.by_batch, r.published.set_index("batch_size"), r.batch_sizes
    nan = float("nan")
    rows = pd.DataFrame(
        {
            "batch_size": B,
            "updates": [int(s.loc[b, "updates"]) for b in B],
            "printed (course report)": [PUBLISHED_LOSSES.get(b, nan) for b in B],
            "reproduced lr·1/B": [p.loc[b, "train_loss_mean"] if b in p.index else nan for b in B],
            "corrected (this study)": [s.loc[b, "train_loss_mean"] for b in B],
        }
    )
    return [
        "## Published against corrected\n",
        "The course code divided the gradient by the batch size twice, so it trained with an effective "
        "learning rate of lr/B, and it held the number of epochs fixed. The `published` stage trains the "
        "same grid that way (`train.lr_scaling: inverse`) beside the corrected default:\n",
        markdown_table(rows),
        r.fig("published_vs_corrected.png") + "\n",
    ]


def findings_section(r: Results) -> list[str]:
    s, p, B = r.by_batch, r.published.set_index("batch_size"), r.batch_sizes
    b_lo, b_hi = B[0], B[-1]
    out = ["## Findings\n"]
    w = out.append
    if len(B) > 1:
        rise = s.loc[b_hi, "train_loss_mean"] / s.loc[b_lo, "train_loss_mean"]
        fewer = s.loc[b_lo, "updates"] / s.loc[b_hi, "updates"]
        w(
            f"- **At a fixed {r.params.train.epochs} epochs, bigger batches end with a "
            f"{'higher' if not rise < 1 else 'lower'} loss**: "
            f"{_f(s.loc[b_lo, 'train_loss_mean'])} at B = {b_lo} against "
            f"{_f(s.loc[b_hi, 'train_loss_mean'])} at B = {b_hi} ({_f(rise, 2)}×). They also made "
            f"{fewer:.0f}× fewer updates; the loss-against-updates figure puts every batch size on one "
            "trend."
        )
    U, at_U = equal_update_losses(r.curves)
    if len(at_U) > 1:
        pairs = ", ".join(f"B = {x.batch_size}: {_f(x.train_loss)}" for x in at_U.itertuples())
        gap = at_U["train_loss"].max() - at_U["train_loss"].min()
        w(
            f"- **At equal updates the batch sizes agree**: after exactly {U} updates the train loss "
            f"is {pairs} (largest difference {_f(gap, 2)}). At this learning rate a step's progress "
            "is set by the mean gradient, which every batch size estimates without bias; what a "
            "bigger batch buys is less noise per step, and it pays for it in samples."
        )
    w(
        f"- **The published curve is reproduced by lr/B**: our lr·1/B run gives "
        f"{_f(p.loc[b_lo, 'train_loss_mean'])} at B = {b_lo} and "
        f"{_f(p['train_loss_mean'].max())} at most (printed: {PUBLISHED_LOSSES[1]} and "
        f"{max(PUBLISHED_LOSSES.values())}). Above B ≈ 32 it makes so few, so small updates that the "
        "models stay near their random initialisation, whose loss is close to ln 2 ≈ 0.693; the exact "
        "plateau depends on the initial weights, which is why the printed single run sits a little "
        "higher than our mean over seeds. Divided once, the gradient gives the corrected curve, "
        f"{_f(s.loc[b_hi, 'train_loss_mean'])} rather than ~0.7 at B = {b_hi}."
    )
    if len(B) > 1 and len(r.params.study.seeds) > 1:
        w(
            f"- **Spread over seeds grows with batch size** at fixed epochs (std "
            f"{_f(s.loc[b_lo, 'train_loss_std'], 2, 'n/a')} at B = {b_lo}, "
            f"{_f(s.loc[b_hi, 'train_loss_std'], 2, 'n/a')} at B = {b_hi}): with fewer updates, more of "
            "the random initialisation survives to the end. The course report's claim that smaller batches "
            'are "noisier" is about the gradient estimate, which its numbers never measured.'
        )
    bayes_test = bayes_split_accuracy(r.data.X_test, r.data.y_test, r.params.data.means)
    w(
        f"- **Test accuracy barely moves** ({_pct(r.summary['test_accuracy_mean'].min())} – "
        f"{_pct(r.summary['test_accuracy_mean'].max())}; the optimal rule: {_pct(bayes_test)}): "
        "the classes are separated long before the loss has converged, because accuracy only needs "
        "the sign of the decision function."
    )
    diverged = int(s["diverged"].sum())
    if diverged:
        w(
            f"- **{diverged} run(s) diverged** (loss or weights stopped being finite); they are counted "
            "in the `diverged` column and left out of the means."
        )
    w("")
    return out


def noise_section(r: Results) -> list[str]:
    """The evidence on gradient noise: measured against predicted, and B_simple along training."""
    noise, curves, land = r.noise, r.curves, r.landscape
    inner = noise[noise["predicted_variance"] > 0]
    ratio = inner["measured_variance"] / inner["predicted_variance"]
    z = (inner["measured_variance"] - inner["predicted_variance"]).abs() / inner["measured_stderr"].where(
        inner["measured_stderr"] > 0
    )
    exact = noise[noise["enumerated"] == 1]
    exact_err = (exact["measured_variance"] - exact["predicted_variance"]).abs().max()
    at = noise.groupby("weights", sort=False).first()
    b_lo = curves["batch_size"].min()
    small = curves[curves["batch_size"] == b_lo].sort_values("epoch")
    agree = (
        f"measured/predicted ranges from {ratio.min():.3f} to {ratio.max():.3f}"
        + (f", within {z.max():.1f} standard errors of the sampled estimates" if z.notna().any() else "")
        if len(inner)
        else "every batch is the whole training set, so there is no variance to compare"
    )
    exact_note = (
        f"; where every batch can be enumerated (B = "
        f"{', '.join(str(b) for b in sorted(exact['batch_size'].unique()))}) the two agree to {exact_err:.1e}"
        if len(exact)
        else ""
    )
    return [
        "## Gradient noise and steps to target\n",
        'The course report concluded that smaller batches give "faster updates but noisier results". '
        "Two measurements test that. First, the noise itself: for logistic regression the per-example "
        "gradients (pᵢ − yᵢ)·[xᵢ, 1] are exact and cheap, so the covariance Σ of per-example gradients "
        "(over the N training points), the full gradient G and McCandlish et al.'s simple noise scale "
        "B_simple = tr(Σ)/|G|² are computed at the start of every epoch of every run. At fixed weights, "
        "a batch of B drawn without replacement has E|g_B − G|² = tr(Σ)/B · (N − B)/(N − 1).\n",
        f"- Measured over batches against that prediction, at the initial and at the Task 2 weights, "
        f"for B = {', '.join(str(b) for b in sorted(noise['batch_size'].unique()))}: {agree}{exact_note}. "
        "The variance of a minibatch gradient falls as 1/B, and to exactly 0 at B = N.",
        f"- B_simple depends on the weights alone, not on the batch size that produced them. It is "
        f"{_f(at.loc['initial', 'b_simple'], 2)} at the initial weights and "
        f"{_f(at.loc['trained', 'b_simple'], 4)} at the Task 2 weights, whose train loss "
        f"{_f(land.task2_loss, 3)} is still above the train optimum {_f(land.optimum_loss, 3, 'n/a')} "
        f"(|G| = {land.task2_grad_norm:.1e} there, 0 at the optimum, where B_simple is unbounded). Along the "
        f"B = {b_lo} runs it grows from {_f(small['b_simple'].iloc[0], 2)} (epoch 1) to "
        f"{_f(small['b_simple'].iloc[-1], 3)} (epoch {int(small['epoch'].iloc[-1])}), as |G| shrinks near "
        "the optimum while Σ does not: early in training the gradient dominates its noise, and one "
        "example already points the right way.\n",
        r.fig("gradient_noise.png") + "\n",
    ]


def steps_section(r: Results) -> list[str]:
    """Steps to the target loss per batch size and lr rule."""
    params, steps, cfg = r.params, r.steps, r.params.steps
    rules = [x for x in (*cfg.rules, "tuned") if x in set(steps["lr_scaling"])]
    grid = cfg.tuned_lrs.values()
    out = [
        f"Second, the cost that matters: SGD steps until the full-train loss first reaches "
        f"{cfg.target} (at most {cfg.max_steps} steps, seeds {cfg.seeds}), with the learning rate held "
        f"(`none`), scaled with B (`linear`, Goyal et al.) or with √B (`sqrt`), all from the untuned lr "
        f"{params.train.lr} at B = {params.train.lr_ref_batch}; and, as a check on all of them, at the "
        f"best constant lr of each batch size (`tuned`: the fewest mean steps over a grid of "
        f"{len(grid)} rates from {grid[0]:.3g} to {grid[-1]:.3g}, each "
        f"{2 ** (1 / cfg.tuned_lrs.per_octave) - 1:.0%} above the last). Shallue et al. find perfect scaling "
        "(doubling B halves the steps), then diminishing returns, then none.\n"
    ]
    table = steps.pivot(index="batch_size", columns="lr_scaling", values="steps_mean")
    table = table[rules].reset_index()
    table.columns = ["batch_size", *(f"steps ({c})" for c in table.columns[1:])]
    out += [markdown_table(table, nan="not reached"), r.fig("steps_to_target.png") + "\n"]
    missed = steps[steps["reached"] < steps["seeds"]]
    if len(missed):
        out.append(
            f"Runs that did not reach the target within {cfg.max_steps} steps are left out of the means: "
            + ", ".join(
                f"B = {x.batch_size} `{x.lr_scaling}` ({x.seeds - x.reached} of {x.seeds})"
                for x in missed.itertuples()
            )
            + ".\n"
        )
    return out


def lr_table(r: Results) -> pd.DataFrame:
    """Per batch size: steps at the base lr, the linear rule's lr and steps, and the tuned lr with
    its steps and samples."""
    steps, B, lr = r.steps, sorted(r.steps["batch_size"].unique()), r.params.train.lr
    table = pd.DataFrame({"batch_size": B})
    rules = set(steps["lr_scaling"])
    if "none" in rules:
        table[f"steps at lr {lr}"] = rule_column(steps, "none", "steps_mean", B)
    if "linear" in rules:
        table["linear rule: lr"] = rule_column(steps, "linear", "lr", B)
        table["linear rule: steps"] = rule_column(steps, "linear", "steps_mean", B)
    table["best constant lr"] = rule_column(steps, "tuned", "lr", B)
    table["steps at it"] = rule_column(steps, "tuned", "steps_mean", B)
    table["samples at it (steps × B)"] = table["steps at it"] * table["batch_size"]
    return table


def _tuned_bullets(r: Results, table: pd.DataFrame) -> list[str]:
    """What the best constant lr per batch size changes: steps and samples."""
    cfg, lr = r.params.steps, r.params.train.lr
    reached = table[table["steps at it"].notna()]
    if not len(reached):
        return [f"- No learning rate on the grid reaches {cfg.target} within {cfg.max_steps} steps."]
    first, one = reached.iloc[0], reached[reached["steps at it"] <= 1]["batch_size"]
    tail = [b for b in one if (reached[reached["batch_size"] >= b]["steps at it"] <= 1).all()]
    out = [
        f"- **The learning rate is never tuned per batch size** in the course study or in the scaling "
        f"rules. The best constant lr is {_range(reached['best constant lr'])} here, not {lr}; with it "
        f"B = {int(first.batch_size)} reaches {cfg.target} in {_n(first['steps at it'])} "
        + ("step" if first["steps at it"] == 1 else "steps")
        + (f", and every B ≥ {int(tail[0])} in one step" if tail else "")
        + "."
    ]
    samples = reached["samples at it (steps × B)"]
    fewest = reached.loc[samples.idxmin()]
    claim = ""
    linear = (
        (table["linear rule: steps"] * table["batch_size"]).dropna() if "linear rule: steps" in table else []
    )
    b_star = int(table.loc[linear.idxmin(), "batch_size"]) if len(linear) else None
    if b_star is not None and b_star != int(table["batch_size"].iloc[0]):
        claim = (
            f"At lr {lr} with the linear rule the fewest samples come from B = {b_star} "
            f"({_n(linear.min())}, against {_n(linear.iloc[0])} at B = {int(table['batch_size'].iloc[0])}). "
        )
    out.append(
        f"- **{claim}At the best lr they come from B = {int(fewest.batch_size)}** "
        f"({_n(fewest['samples at it (steps × B)'])} samples, against {_n(samples.iloc[-1])} at "
        f"B = {int(reached['batch_size'].iloc[-1])}): bigger batches save steps, at most a few here, and "
        "pay for them in samples."
    )
    return out


def _linear_bullet(r: Results, table: pd.DataFrame) -> list[str]:
    """Is the linear rule's lr at the largest batch still below the curvature limit 2/λ_max?"""
    if "linear rule: lr" not in table:
        return []
    land, top = r.landscape, table.iloc[-1]
    limits = [2 / x for x in land.sharpness_init if x > 0]
    over = sum(top["linear rule: lr"] > x for x in limits)
    verdict = (
        f"above 2/λ_max of the train-loss Hessian at the initial weights ({_range(limits)} over the "
        f"{len(limits)} seeds; above it for {over} of them), where a step overshoots along the "
        "sharpest direction"
        if over
        else f"still below 2/λ_max of the train-loss Hessian at the initial weights ({_range(limits)})"
    )
    return [
        '- **"Linear scaling holds up to the full batch" and "the gain exceeds 2×" describe the lr, not '
        f"the noise.** At B = {int(top.batch_size)} the linear rule uses lr {_f(top['linear rule: lr'])}, "
        f"{verdict}. Its steps fall faster than 1/B only because its lr climbs towards the best constant "
        f"lr; one full-batch step of the right size (lr {_range(land.first_step_lr)}) already reaches "
        f"train loss {_range(land.first_step_loss)}."
    ]


def lr_section(r: Results) -> list[str]:
    """The conclusions that come from the setup (an untuned lr, an easy problem), not from batch size."""
    land, cfg, lr = r.landscape, r.params.steps, r.params.train.lr
    table = lr_table(r)
    nan = {c: "not reached" for c in table.columns}
    out = [f"## What holds only at lr = {lr}\n"]
    out.append(
        "Every batch-size conclusion above was drawn at one learning rate, scaled by a rule but never "
        "tuned, on a problem too easy to show what the question is about. The findings below say "
        f"which conclusions hold only at lr {lr}, and why. Measured per batch size (steps are means "
        "over the steps seeds; the best constant lr is the grid rate with the fewest mean steps):\n"
    )
    out.append(markdown_table(table, nan=nan))
    out += _tuned_bullets(r, table)
    out += _linear_bullet(r, table)
    n_train = len(r.data.X_train)
    above = cfg.target / land.optimum_loss - 1 if land.optimum_loss > 0 else float("nan")
    out.append(
        "- **The problem is degenerate for this question.** Two isotropic blobs with equal covariance: "
        f"the first full-batch step −G has cosine {_range(land.cosine_init, 2)} with the straight line "
        f"to the optimum ({_range(np.degrees(np.arccos(np.clip(land.cosine_init, -1, 1))), 2)}°), "
        "so a few full-batch steps suffice and there is no regime of "
        f"diminishing returns to find; N = {n_train} caps B; sampling without replacement makes the "
        "gradient noise vanish at B = N."
    )
    g = land.optimum_grad_norm
    grad = "< 1e-12" if g < 1e-12 else f"= {g:.0e}"  # roundoff: its digits differ between CPUs
    out.append(
        f"- **The target is far from the optimum.** The train optimum (Newton's method) has loss "
        f"{_f(land.optimum_loss, 3, 'n/a (no finite optimum)')} and |G| {grad}; the target "
        f"{cfg.target} is {_f(100 * above, 2, 'n/a')} % "
        f"above it. The Task 2 weights (loss {_f(land.task2_loss, 3)}) are near the optimum, not at it."
    )
    out.append("")
    return out


def conclusions_section(r: Results) -> list[str]:
    """What the noise and steps measurements say about choosing a batch size."""
    params, steps, cfg = r.params, r.steps, r.params.steps
    b_lo, b_hi = r.curves["batch_size"].min(), r.curves["batch_size"].max()
    out = ["## Conclusions\n"]
    w = out.append
    per_rule = {x: doubling_gains(steps, x) for x in cfg.rules}
    none = steps.loc[steps["lr_scaling"] == "none", "steps_mean"].dropna()
    if "none" in per_rule and len(none):
        w(
            f"- **At a fixed learning rate a bigger batch buys no steps**: with lr {params.train.lr} "
            f"for every B the steps to {cfg.target} stay between {none.min():.0f} and {none.max():.0f}, "
            f"so a batch of {b_hi} spends {b_hi}× the samples of B = {b_lo} for the same progress. This "
            "is the regime the course report measured, where bigger batches looked worse."
            + (
                f" It holds only because lr {params.train.lr} is far below the best lr: there a step's "
                "progress is set by the mean gradient, which every batch estimates without bias."
                if params.train.lr
                < np.nanmin(rule_column(steps, "tuned", "lr", [b_lo, b_hi]), initial=np.inf)
                else ""
            )
        )
    if per_rule.get("linear"):
        gains = per_rule["linear"]
        listed = ", ".join(f"{b1}→{b2}: {g:.2f}×" for b1, b2, g in gains)
        fast = [b1 for b1, _, g in gains if g > 2.2]
        w(
            f"- **With the learning rate scaled linearly from lr {params.train.lr}, steps halve with "
            f"every doubling** (per-doubling gain {listed})"
            + (
                f"; the gains above 2× from B = {fast[0]} on come from the scaled lr nearing the best "
                "constant lr (previous section), not from the noise being small"
                if fast
                else ""
            )
            + ". No regime of diminishing returns can show on this problem."
        )
    if per_rule.get("sqrt"):
        g = [x for _, _, x in per_rule["sqrt"]]
        w(
            f"- **Square-root scaling sits in between**: a gain of {_range(g)}× per "
            "doubling, about √2, the factor by which its step size grows."
        )
    tuned = lr_table(r)
    tuned = tuned[tuned["steps at it"].notna()]
    if len(tuned):
        lo, hi = tuned.iloc[0], tuned.iloc[-1]
        samples = "samples at it (steps × B)"
        w(
            f"- **What batch size to use here**: with the lr tuned for each batch size, B = "
            f"{int(lo.batch_size)} needs {_n(lo['steps at it'])} steps ({_n(lo[samples])} "
            f"samples) and B = {int(hi.batch_size)} needs {_n(hi['steps at it'])} "
            f"({_n(hi[samples])} samples). The step size, not the gradient noise, "
            "limits progress on this problem; small batches are the cheapest in samples and large ones "
            'save a few steps. Small batches are not "faster but noisier" here: at a fixed learning rate '
            "and a fixed number of epochs they are simply the ones that take the most steps."
        )
    w("")
    return out


def critical_section(r: Results) -> list[str]:
    """The critical-batch study in one paragraph, pointing to its own page."""
    if r.critical is None or not len(r.critical):
        return []
    return [
        "## The critical batch size, measured as the large-batch literature measures it\n",
        "The sections above answer the course's question in the course's setup. The critical-batch "
        "study asks it the way McCandlish et al. (2018) and Shallue et al. (2018) do: data streamed "
        "from the population, the learning rate tuned per batch size, steps until each seed's loss "
        "reaches (1 + δ)·L*, on Gaussian problems whose conditioning κ spans 1 to 10³ and on one real "
        "data set, against predictors that match the optimizer. Its full page, tables and figures: "
        "[critical/report.md](critical/report.md).\n",
        critical_headline(r.critical) + "\n",
        "![steps against batch size](critical/figures/critical_steps.png)\n",
    ]


SECTIONS = (
    header_section,
    task1_section,
    data_section,
    task2_section,
    batch_size_section,
    published_section,
    findings_section,
    noise_section,
    steps_section,
    lr_section,
    conclusions_section,
    critical_section,
)


def render_report(results: Results) -> str:
    """report.md: every section in order, joined."""
    return "\n".join(line for section in SECTIONS for line in section(results))

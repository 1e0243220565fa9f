"""The critical study's page says only what its tables show: its sentences checked against drawn tables."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchgraph.critical.fit import CONVERGENCE_COLUMNS, CRITICAL_COLUMNS, SENSITIVITY_COLUMNS, STEPS_COLUMNS
from batchgraph.report.critical import CriticalTables, critical_figures, critical_page, headline, png

NAMES = ["kappa_1", "kappa_10", "kappa_1000", "breast_cancer"]
value = st.one_of(st.floats(1.0, 1e5), st.just(float("nan")))


@st.composite
def tables(draw):
    problems = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    deltas = draw(st.lists(st.sampled_from([0.3, 0.1, 0.03]), min_size=1, max_size=2, unique=True))
    rows = []
    for name in problems:
        for regime in draw(st.sampled_from([["constant"], ["constant", "optimal"]])):
            for delta in deltas:
                b = draw(value)
                # a fitted knee whose half-samples gave no interval happens too
                spread = draw(st.sampled_from([2.0, 2.0, float("nan")]))
                row = dict.fromkeys(CRITICAL_COLUMNS, float("nan"))
                row |= {
                    "problem": name, "kappa": float(NAMES.index(name) * 10 + 1), "regime": regime,
                    "delta": delta, "s_min": draw(st.floats(1.0, 100.0)), "b_crit": b,
                    "b_crit_lo": b / spread, "b_crit_hi": b * spread,
                    "halving_inside": draw(st.integers(0, 1)),
                    "unreached_batch_sizes": "", "edge_batch_sizes": "",
                }  # fmt: skip
                row["small_s_min"] = int(row["s_min"] < 10)
                for col in ("b_simple", "b_noise", "b_noise_path", "b_nqm"):
                    row[col] = draw(value)
                    row[f"b_crit_over_{col}"] = b / row[col]
                rows.append(row)
    critical = pd.DataFrame(rows, columns=CRITICAL_COLUMNS)
    steps = pd.DataFrame(
        [[r["problem"], r["regime"], r["delta"], B, 100.0 / B + r["s_min"], *[np.nan] * 3, 1.0, 0.1, 0]
         for r in rows for B in (4, 64, 1024)],
        columns=STEPS_COLUMNS,
    )  # fmt: skip
    conv = pd.DataFrame(
        [
            [r["problem"], r["regime"], r["delta"], n, r["b_crit"], np.nan, np.nan]
            for r in rows
            for n in (4, 8)
        ],
        columns=CONVERGENCE_COLUMNS,
    )
    # As the fit writes it: inside_interval is lo <= b <= hi of that cell, 0 when any is NaN.
    sens = pd.DataFrame(
        [
            [r["problem"], r["regime"], r["delta"], variant, b, int(r["b_crit_lo"] <= b <= r["b_crit_hi"])]
            for r in rows
            for variant, b in [("per-run median (headline)", r["b_crit"])]
            + [(v, draw(st.one_of(value, st.just(r["b_crit"])))) for v in SENSITIVITY_VARIANTS]
        ],
        columns=SENSITIVITY_COLUMNS,
    )
    return CriticalTables(critical, steps, conv, sens)


SENSITIVITY_VARIANTS = ["seed-mean criterion", "half-octave lr grid"]


@settings(max_examples=25, deadline=None)
@given(t=tables())
def test_every_headline_sentence_matches_the_table(t):
    text = headline(t.critical)
    assert "nan" not in text
    delta = t.critical["delta"].min()
    head = t.critical[(t.critical["regime"] == "constant") & (t.critical["delta"] == delta)]
    good = head[(head["small_s_min"] == 0) & np.isfinite(head["b_crit"])]
    quoted = re.search(r"B_crit with its 95 % interval: (.*?)\.( |$)", text)
    if len(good):
        named = [part.split(" ")[0] for part in quoted.group(1).split("; ")]
        assert named == list(good["problem"])
    else:
        assert quoted is None and "No problem has a fitted knee" in text
    left_out = sorted(set(head["problem"]) - set(good["problem"]))
    if left_out:
        assert (
            "Left out for S_min under 10 steps or no knee on the grid: "
            + ", ".join(p for p in head["problem"] if p in left_out)
            in text
        )
    for regime, col, label in (("constant", "b_nqm", "B_nqm"), ("optimal", "b_noise_path", "⟨B_noise⟩")):
        cells = t.critical[(t.critical["regime"] == regime) & (t.critical["small_s_min"] == 0)]
        ratio = cells[f"b_crit_over_{col}"]
        ratio = ratio[np.isfinite(ratio)]
        claim = re.search(
            rf"{re.escape(label)} is within 2× of the (?:measured )?knee in (\d+) of (\d+)", text
        )
        if len(ratio):
            assert claim and (int(claim.group(1)), int(claim.group(2))) == (
                int(((ratio >= 0.5) & (ratio <= 2)).sum()),
                len(ratio),
            )
        else:
            assert claim is None


@pytest.mark.slow  # four figures per example
@settings(max_examples=5, deadline=None)
@given(t=tables())
def test_the_page_and_its_figures_render_from_any_such_tables(t):
    page = critical_page(t)
    assert page.startswith("# Critical batch size") and "figures/critical_steps.png" in page
    figures = {name: png(fig) for name, fig in critical_figures(t).items()}  # png() closes each
    assert set(figures) == {
        "critical_steps.png",
        "critical_predicted.png",
        "critical_seeds.png",
        "critical_regimes.png",
    }
    assert all(data.startswith(b"\x89PNG") for data in figures.values())


def sentences(paragraph: str) -> list[str]:
    """A paragraph of the page cut into its sentences (each starts with a capital, ⟨ or **)."""
    return re.split(r"(?<=\.) (?=[A-Z⟨*])", paragraph.strip())


def g(x) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "n/a"


def within(cells, col):
    ratio = cells[f"b_crit_over_{col}"]
    ratio = ratio[np.isfinite(ratio)]
    return int(((ratio >= 0.5) & (ratio <= 2)).sum()), len(ratio)


# The page's sentence forms that carry numbers.
RESULT = r"\*\*Result\*\* \(target \(1 \+ δ\)·L\* with δ = (\S+), constant lr tuned per batch size\)\."
HALVING = r"Halving the seeds keeps the estimate inside its interval for (\d+) of (\d+) of these\."
WITHIN = (
    r"(\S+) is within 2× of the measured knee in (\d+) of (\d+) \(problem, δ\) cells"
    r" \(B_crit/\1 (\S+)\)(; outside: (.*))?\."
)
OPTIMAL = (
    r"With McCandlish's noise-optimal step instead, (\S+) is within 2× of the knee in (\d+) of (\d+)"
    r" cells \(B_crit/\1 (\S+)\)\."
)
INSIDE = r"Of (\d+) \(problem, variant\) values, (\d+) fall inside the headline interval\."
PREDICTOR = {"B_nqm": "b_nqm", "B_simple": "b_simple", "B_noise": "b_noise", "⟨B_noise⟩": "b_noise_path"}


def check_headline_sentence(sentence: str, t: CriticalTables, checked: set) -> None:
    """One sentence of the headline against the table: it must be one of the page's forms, and
    every count, name and number in it what the table holds."""
    c = t.critical
    delta = c["delta"].min()
    head = c[(c["regime"] == "constant") & (c["delta"] == delta)]
    good = head[(head["small_s_min"] == 0) & np.isfinite(head["b_crit"])]
    const = c[(c["regime"] == "constant") & (c["small_s_min"] == 0)]
    opt = c[(c["regime"] == "optimal") & (c["small_s_min"] == 0)]
    if m := re.fullmatch(RESULT, sentence):
        assert float(m[1]) == delta
    elif m := re.fullmatch(r"B_crit with its 95 % interval: (.*)\.", sentence):
        expected = [f"{r['problem']} {g(r['b_crit'])} [{g(r['b_crit_lo'])}, {g(r['b_crit_hi'])}]"
                    for _, r in good.iterrows()]  # fmt: skip
        assert m[1].split("; ") == expected
    elif m := re.fullmatch(HALVING, sentence):
        assert (int(m[1]), int(m[2])) == (int(good["halving_inside"].sum()), len(good))
    elif sentence == "No problem has a fitted knee with S_min of at least 10 steps at this target.":
        assert not len(good)
    elif m := re.fullmatch(r"Left out for S_min under 10 steps or no knee on the grid: (.*)\.", sentence):
        assert m[1].split(", ") == [p for p in head["problem"] if p not in set(good["problem"])]
    elif m := re.fullmatch(WITHIN, sentence):
        col = PREDICTOR[m[1]]
        assert (int(m[2]), int(m[3])) == within(const, col) and int(m[3]) > 0
        ratio = const[f"b_crit_over_{col}"]
        ratio = ratio[np.isfinite(ratio)]
        assert set(m[4].split("–")) == {g(ratio.min()), g(ratio.max())}
        if m[6]:
            misses = const[np.isfinite(const[f"b_crit_over_{col}"])
                           & ~const[f"b_crit_over_{col}"].between(0.5, 2.0)]  # fmt: skip
            assert [p.split(" δ")[0] for p in m[6].split(", ")] == list(misses["problem"])
        checked.add(col)
    elif m := re.fullmatch(OPTIMAL, sentence):
        col = PREDICTOR[m[1]]
        assert (int(m[2]), int(m[3])) == within(opt, col) and int(m[3]) > 0
        checked.add(f"optimal_{col}")
    elif sentence.startswith("So the knee of constant-lr SGD is set by the optimizer"):
        (nqm, n_nqm), (noise, n_noise) = within(const, "b_nqm"), within(const, "b_noise")
        assert 2 * nqm > n_nqm and 2 * noise <= n_noise
        path, n_path = within(opt, "b_noise_path")
        point, n_point = within(opt, "b_noise")
        follows = n_path and 2 * path > n_path and n_point and 2 * point <= n_point
        assert ("the knee follows the noise scale averaged along the path" in sentence) == bool(follows)
        checked.add("verdict")
    else:
        raise AssertionError(f"a sentence the test does not know: {sentence!r}")


def check_sensitivity_sentence(sentence: str, t: CriticalTables) -> None:
    delta = t.critical["delta"].min()
    s = t.sensitivity
    s = s[(s["regime"] == "constant") & (s["delta"] == delta) & (s["variant"] != "per-run median (headline)")]
    head = t.critical[(t.critical["regime"] == "constant") & (t.critical["delta"] == delta)].set_index(
        "problem"
    )
    bounded = np.isfinite(head["b_crit_lo"]) & np.isfinite(head["b_crit_hi"])
    compared = np.isfinite(s["b_crit"]) & s["problem"].map(bounded).fillna(False).astype(bool)
    listed = lambda part: [f"{r['problem']}: {r['variant']}" for _, r in part.iterrows()]  # noqa: E731
    if m := re.fullmatch(r"\*\*Sensitivity\*\* \(δ = (\S+), constant lr\)\.", sentence):
        assert float(m[1]) == delta
    elif sentence == "B_crit under other choices of the method and from the other start.":
        pass
    elif m := re.fullmatch(INSIDE, sentence):
        kept = s[compared]
        # inside means inside: recomputed from the numbers, not taken from the table's flag
        lo = kept["problem"].map(head["b_crit_lo"])
        hi = kept["problem"].map(head["b_crit_hi"])
        inside = int(((kept["b_crit"] >= lo) & (kept["b_crit"] <= hi)).sum())
        assert (int(m[1]), int(m[2])) == (len(kept), inside)
    elif m := re.fullmatch(r"Outside it: (.*)\.", sentence):
        kept = s[compared]
        assert m[1].split("; ") == listed(kept[kept["inside_interval"] == 0])
    elif m := re.fullmatch(r"Not compared, for no fit or no headline interval: (.*)\.", sentence):
        assert m[1].split("; ") == listed(s[~compared])
    else:
        raise AssertionError(f"a sentence the test does not know: {sentence!r}")


@settings(max_examples=30, deadline=None)
@given(t=tables())
def test_every_sentence_of_the_page_matches_the_tables(t):
    page = critical_page(t)
    assert "nan" not in page.replace("n/a", "")
    checked: set = set()
    for sentence in sentences(headline(t.critical)):
        check_headline_sentence(sentence, t, checked)
    c = t.critical
    const = c[(c["regime"] == "constant") & (c["small_s_min"] == 0)]
    opt = c[(c["regime"] == "optimal") & (c["small_s_min"] == 0)]
    # a predictor with cells to count is always reported
    for col in ("b_nqm", "b_simple", "b_noise"):
        assert (col in checked) == (within(const, col)[1] > 0)
    for col in ("b_noise_path", "b_noise"):
        assert (f"optimal_{col}" in checked) == (within(opt, col)[1] > 0)
    paragraph = next((p for p in page.split("\n\n") if p.startswith("**Sensitivity**")), None)
    delta = c["delta"].min()
    sens = t.sensitivity
    has_rows = ((sens["regime"] == "constant") & (sens["delta"] == delta)).any()
    assert (paragraph is not None) == bool(has_rows)
    for sentence in sentences(paragraph or ""):
        if sentence:
            check_sensitivity_sentence(sentence, t)

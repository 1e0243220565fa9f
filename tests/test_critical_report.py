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
                row = dict.fromkeys(CRITICAL_COLUMNS, float("nan"))
                row |= {
                    "problem": name, "kappa": float(NAMES.index(name) * 10 + 1), "regime": regime,
                    "delta": delta, "s_min": draw(st.floats(1.0, 100.0)), "b_crit": b,
                    "b_crit_lo": b / 2, "b_crit_hi": b * 2, "halving_inside": draw(st.integers(0, 1)),
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
    sens = pd.DataFrame(
        [[r["problem"], r["regime"], r["delta"], "seed-mean criterion", r["b_crit"], 1] for r in rows],
        columns=SENSITIVITY_COLUMNS,
    )
    return CriticalTables(critical, steps, conv, sens)


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

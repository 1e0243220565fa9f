"""Every accepted params combination gives a report: the tables built in-process from small runs,
every figure drawn and every section written, for edge cases such as one batch size, one seed,
a target no run reaches, or a diverged batch size."""

from __future__ import annotations

import io
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from batchgraph.core.config import validate_params
from batchgraph.core.data import make_dataset
from batchgraph.core.io import csv_text
from batchgraph.report import figures as fig
from batchgraph.report.writeup import SECTIONS, build_results, render_report
from batchgraph.study.measure import NOISE_HEADER, STEPS_HEADER, noise_rows, steps_rows
from batchgraph.study.runs import final_metrics, history_csv, train_study
from batchgraph.study.train import fit
from batchgraph.tables.summary import curves_table, summary_table
from helpers import default_params, set_key

N_PER_CLASS = 20  # 30 training rows, 10 test rows


def _table(header, rows) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv_text(header, rows)))


def _study_tables(params, data, **overrides):
    frames, lrs = [], {}
    for B in params.study.batch_sizes:
        history = train_study(params, data, B, **overrides)
        frames.append(pd.read_csv(io.StringIO(history_csv(history, {"batch_size": B}))))
        lrs[B] = final_metrics(history)["lr"]
    long = pd.concat(frames, ignore_index=True)
    return summary_table(long, lrs), curves_table(long, params.data.n_train)


def pipeline_results(params):
    """What the pipeline computes, in-process: runs, tables, noise, steps and the landscape."""
    d = params.data
    data = make_dataset(d.n_per_class, d.means, d.std, d.test_fraction, d.seed)
    summary, curves = _study_tables(params, data)
    published, _ = _study_tables(params, data, lr_scaling="inverse")
    base = params.baseline
    run = fit(data, batch_size=base.batch_size, lr=base.lr, epochs=base.epochs, seeds=[base.seed],
              **params.model.model_dump())  # fmt: skip
    base_history = pd.read_csv(io.StringIO(history_csv(run)))
    A, b = run.A[0], run.b[0]
    final = ("epoch_loss", "train_loss", "test_loss", "test_accuracy")
    return build_results(
        params, data, summary=summary, curves=curves, published=published,
        baseline={c: float(getattr(run, c)[0, -1]) for c in final},
        baseline_history=base_history, baseline_weights=(A, b),
        noise=_table(NOISE_HEADER, noise_rows(params, data, A, b)),
        steps=_table(STEPS_HEADER, steps_rows(params, data)),
    )  # fmt: skip


small_params = st.fixed_dictionaries(
    {
        "study.batch_sizes": st.lists(st.integers(1, 30), min_size=1, max_size=3, unique=True).map(sorted),
        "study.seeds": st.lists(st.integers(0, 9), min_size=1, max_size=2, unique=True),
        "train.epochs": st.integers(1, 3),
        "train.lr": st.sampled_from([0.01, 0.5, 40.0]),  # 40 diverges
        "steps.max_steps": st.integers(1, 20),
        "steps.target": st.sampled_from([0.1, 0.3, 1e-6]),  # 1e-6: no run reaches it
        "steps.seeds": st.lists(st.integers(0, 9), min_size=1, max_size=2, unique=True),
        "steps.rules": st.lists(
            st.sampled_from(["none", "linear", "sqrt", "inverse"]), min_size=1, max_size=2, unique=True
        ),
    }
)


def _params(values: dict):
    raw = default_params()
    for key, value in {"data.n_per_class": N_PER_CLASS, "baseline.epochs": 2, "noise.samples": 20,
                       "noise.enumerate_up_to": 500, **values}.items():  # fmt: skip
        set_key(raw, key, value)
    return validate_params(raw)


def check_report(params) -> str:
    results = pipeline_results(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib on NaN-only or one-point data
        figures = fig.report_figures(results)
        assert set(figures) == set(fig.FIGURES)
        for figure in figures.values():
            assert fig.png(figure).startswith(b"\x89PNG")
    text = render_report(results)
    headings = [line for section in SECTIONS for line in section(results) if line.startswith("#")]
    # steps_section continues the noise section; critical_section needs the critical study's table,
    # which these in-process studies do not build (tests/test_valid_params.py runs it end to end)
    assert len(headings) >= len(SECTIONS) - 2
    for heading in headings:
        assert heading in text
    assert "nan" not in text.replace("nan=", "")
    return text


# No shrinking: each example trains and draws a whole report, so shrinking would take minutes;
# a failure prints the example as drawn. Slow: about 25 s, a third of the fast suite.
@pytest.mark.slow
@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(small_params)
def test_every_accepted_params_combination_gives_a_report(values):
    check_report(_params(values))


def test_the_full_batch_alone_one_seed_and_no_target_reached():
    text = check_report(_params({"study.batch_sizes": [30], "study.seeds": [0], "steps.max_steps": 1,
                                 "steps.target": 1e-6}))  # fmt: skip
    assert "not reached" in text


def test_a_diverged_batch_size_is_reported():
    text = check_report(_params({"study.batch_sizes": [1, 30], "train.lr": 40.0, "train.epochs": 2,
                                 "steps.max_steps": 5}))  # fmt: skip
    assert "diverged" in text

"""tables.summary: the summary and curves tables on a small hand-made history with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from batchgraph.tables.summary import SUMMARY, curves_table, read_csv, summary_table, table_csv
from helpers import ROOT


def _history() -> pd.DataFrame:
    """Batch size 1: three seeds, two epochs; batch size 2: two seeds, one diverged at the end."""
    rows = []
    final = {(1, 0): 0.2, (1, 1): 0.4, (1, 2): 0.9, (2, 0): 0.5, (2, 1): math.nan}
    for (B, seed), last in final.items():
        for epoch, value in ((1, 1.0 + seed), (2, last)):
            rows.append(
                {
                    "batch_size": B,
                    "seed": seed,
                    "epoch": epoch,
                    "updates": epoch * (4 // B),
                    "epoch_loss": value + 0.01,
                    "train_loss": value,
                    "test_loss": value * 2,
                    "test_accuracy": 1 - value / 10 if not math.isnan(value) else math.nan,
                }
            )
    return pd.DataFrame(rows)


def test_summary_is_the_mean_and_sample_std_of_the_final_epoch_over_all_seeds():
    table = summary_table(_history(), {1: 0.01, 2: 0.02}).set_index("batch_size")
    finals = np.array([0.2, 0.4, 0.9])
    assert table.loc[1, "train_loss_mean"] == pytest.approx(0.5)  # not 0.2, the first seed's
    # ddof = 1: sqrt(((0.3)² + (0.1)² + (0.4)²) / 2) = sqrt(0.13)
    assert table.loc[1, "train_loss_std"] == pytest.approx(math.sqrt(0.13))
    assert table.loc[1, "train_loss_std"] != pytest.approx(finals.std(ddof=0))
    assert table.loc[1, "test_loss_mean"] == pytest.approx(1.0)
    assert table.loc[1, "epoch_loss_mean"] == pytest.approx(0.51)
    assert table.loc[1, "test_accuracy_mean"] == pytest.approx(0.95)
    assert table.loc[1, "updates"] == 8 and table.loc[2, "updates"] == 4
    assert table.loc[1, "lr"] == 0.01 and table.loc[2, "lr"] == 0.02
    assert table.loc[1, "seeds"] == 3 and table.loc[1, "diverged"] == 0
    # batch size 2: one run diverged; it is counted, and left out of the mean (one seed: no std)
    assert table.loc[2, "seeds"] == 2 and table.loc[2, "diverged"] == 1
    assert table.loc[2, "train_loss_mean"] == pytest.approx(0.5)
    assert math.isnan(table.loc[2, "train_loss_std"])


def test_summary_uses_each_runs_last_epoch_not_the_first():
    table = summary_table(_history(), {1: 0.01, 2: 0.02}).set_index("batch_size")
    assert table.loc[1, "train_loss_mean"] != pytest.approx(2.0)  # the epoch-1 mean


def test_curves_are_the_per_epoch_mean_and_std_over_seeds():
    history = _history()
    for column in ("grad_sq_norm", "grad_cov_trace", "b_simple"):
        history[column] = history["train_loss"]
    curves = curves_table(history, n_train=4).set_index(["batch_size", "epoch"])
    assert curves.loc[(1, 1), "train_loss"] == pytest.approx(2.0)  # seeds' 1, 2, 3
    assert curves.loc[(1, 1), "train_loss_std"] == pytest.approx(1.0)
    assert curves.loc[(1, 2), "samples"] == 8 and curves.loc[(1, 2), "updates"] == 8


def test_a_summary_round_trips_through_its_reader(tmp_path):
    table = summary_table(_history(), {1: 0.01, 2: 0.02})
    path = tmp_path / "summary.csv"
    path.write_text(table_csv(table))
    back = read_csv(path, SUMMARY)
    assert list(back.columns) == SUMMARY[0]
    assert back["train_loss_mean"].tolist() == pytest.approx([0.5, 0.5])
    assert back["diverged"].tolist() == [0, 1]


def _leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip(".")


@pytest.mark.parametrize("path", ["reports/metrics.json", "reports/critical/metrics.json"])
def test_the_committed_metrics_are_a_headline_dvc_exp_show_can_fit(path):
    """A handful of numbers, keys free of dots (DVC joins nested keys with dots); the detail per
    batch size and per cell is in the CSV tables."""
    leaves = list(_leaves(json.loads((ROOT / path).read_text())))
    assert 1 <= len(leaves) <= 12, leaves
    obj = json.loads((ROOT / path).read_text())
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            assert not any("." in k for k in node), list(node)
            stack += list(node.values())

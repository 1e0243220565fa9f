"""The stages as DVC runs them: outputs, damaged inputs, divergence, and nothing half-written."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from batchgraph.study import io as _io
from helpers import default_params, run_stage, set_key, write_params


@pytest.fixture
def project(tmp_path):
    """A scratch folder with the default params and a shrunken study (2 batch sizes, 2 seeds, 3 epochs)."""
    params = default_params()
    set_key(params, "study.batch_sizes", [1, 150])
    set_key(params, "study.seeds", [0, 1])
    set_key(params, "train.epochs", 3)
    set_key(params, "baseline.epochs", 3)
    write_params(tmp_path, params)
    assert run_stage(tmp_path, "generate").returncode == 0
    return tmp_path


def test_generate_writes_the_contracted_csv(project):
    data = pd.read_csv(project / "data/blobs.csv")
    assert list(data.columns) == ["x1", "x2", "label", "split"]
    assert (data["split"] == "train").sum() == 150 and (data["split"] == "test").sum() == 50
    assert data["split"].iloc[:150].eq("train").all()  # train rows first, in training order


def test_train_stage_writes_history_and_metrics(project):
    result = run_stage(project, "train", "--batch-size", "150")
    assert result.returncode == 0, result.stderr
    history = pd.read_csv(project / "runs/bs_150/history.csv")
    assert list(history.columns) == [
        "seed", "epoch", "updates", "epoch_loss", "train_loss", "test_loss", "test_accuracy",
        "grad_sq_norm", "grad_cov_trace", "b_simple",
    ]  # fmt: skip
    assert len(history) == 2 * 3 and history["updates"].tolist() == [1, 2, 3] * 2
    metrics = json.loads((project / "runs/bs_150/metrics.json").read_text())
    assert metrics["batch_size"] == 150 and metrics["diverged_runs"] == 0


def test_train_stage_refuses_a_batch_size_outside_the_study(project):
    result = run_stage(project, "train", "--batch-size", "7")
    assert result.returncode == 2 and "is not in study.batch_sizes" in result.stderr


def damage(path, how):
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if how == "truncated":
        path.write_text(text[: len(text) // 3])
    elif how == "train only":
        path.write_text("".join(lines[:100]))
    elif how == "columns":
        path.write_text("a,b,label,split\n" + "".join(lines[1:]))
    elif how == "nan":
        lines[5] = "nan,1.0,0,train\n"
        path.write_text("".join(lines))
    elif how == "split":
        lines[5] = "0.5,1.0,0,validation\n"
        path.write_text("".join(lines))
    elif how == "label":
        lines[5] = "0.5,1.0,2,train\n"
        path.write_text("".join(lines))
    elif how == "text":
        lines[5] = "0.5,abc,1,train\n"
        path.write_text("".join(lines))
    elif how == "empty":
        path.write_text("")
    elif how == "missing":
        path.unlink()


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "truncated"),
        ("train only", "has no test rows"),
        ("columns", "columns must be x1, x2, label, split, got a, b, label, split"),
        ("nan", "line 6: features must be finite"),
        ("split", "line 6: split must be train or test, got 'validation'"),
        ("label", "line 6: label must be 0 or 1, got '2'"),
        ("text", "line 6: features must be numbers"),
        ("empty", "is empty"),
        ("missing", "not found; run `dvc repro generate`"),
    ],
)
def test_damaged_data_is_named_and_nothing_is_written(project, how, message):
    damage(project / "data/blobs.csv", how)
    result = run_stage(project, "train", "--batch-size", "1")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: data/blobs.csv: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (project / "runs").exists()


def test_divergence_is_recorded_and_shown_and_other_batch_sizes_complete(project):
    params = default_params()
    shrunk = {"study.batch_sizes": [1, 150], "study.seeds": [0, 1], "train.epochs": 3, "baseline.epochs": 3}
    shrunk |= {"steps.max_steps": 50, "steps.seeds": [0]}
    for key, value in (shrunk | {"train.lr": 1e3}).items():
        set_key(params, key, value)
    write_params(project, params)
    stages = [
        ("baseline", ()),
        ("train", ("--batch-size", "1")),
        ("train", ("--batch-size", "150")),
        ("published", ()),
        ("noise", ()),
        ("steps", ()),
        ("aggregate", ()),
    ]
    for stage, args in stages:
        result = run_stage(project, stage, *args)
        assert result.returncode == 0, result.stderr
    metrics = json.loads((project / "runs/bs_1/metrics.json").read_text())
    assert metrics["diverged_runs"] == 2 and set(metrics["diverged_at_epoch"]) == {"0", "1"}
    summary = pd.read_csv(project / "reports/summary.csv").set_index("batch_size")
    assert summary.loc[1, "diverged"] == 2 and pd.isna(summary.loc[1, "train_loss_mean"])
    assert summary.loc[150, "diverged"] == 0 and summary.loc[150, "train_loss_mean"] > 0
    assert "| 1 | 450 | 1000 | diverged |" in (project / "reports/summary.md").read_text()


def test_an_interrupted_write_leaves_the_previous_output(tmp_path, monkeypatch):
    target = tmp_path / "runs" / "bs_1"
    _io.write_dir(target, {"history.csv": "old\n", "metrics.json": "{}\n"})
    _io.write_text(tmp_path / "summary.csv", "old\n")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _io.write_text(tmp_path / "summary.csv", "new\n")
    monkeypatch.undo()
    original_rename = type(target).rename

    def rename_then_fail(self, dest):
        if self.name.endswith(".tmp"):
            raise KeyboardInterrupt
        return original_rename(self, dest)

    monkeypatch.setattr(type(target), "rename", rename_then_fail)
    with pytest.raises(KeyboardInterrupt):
        _io.write_dir(target, {"history.csv": "new\n", "metrics.json": "{}\n"})
    monkeypatch.undo()
    assert (tmp_path / "summary.csv").read_text() == "old\n"
    assert (target / "history.csv").read_text() == "old\n"
    leftovers = [p.name for p in tmp_path.rglob("*") if ".tmp" in p.name or p.name.endswith(".old")]
    assert leftovers == []


def test_prune_removes_only_batch_sizes_outside_the_study(project):
    for B in (1, 150, 64):
        (project / "runs" / f"bs_{B}").mkdir(parents=True)
    result = run_stage(project, "prune")
    assert result.returncode == 0
    assert sorted(p.name for p in (project / "runs").iterdir()) == ["bs_1", "bs_150"]
    shutil.rmtree(project / "runs")

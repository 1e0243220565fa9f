"""End to end on a copy of the repository: the committed results are what the code produces,
DVC re-runs only what a change touches, failures lose nothing, and DVC's views work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import ROOT

pytestmark = pytest.mark.slow
OUTPUTS = ("dvc.lock", "data", "runs", "reports")


def sh(cwd, *cmd, check=True):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def snapshot(folder: Path) -> dict[str, bytes]:
    files = {}
    for name in OUTPUTS:
        path = folder / name
        for f in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            files[str(f.relative_to(folder))] = f.read_bytes()
    return files


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The working tree's files (tracked and new, not ignored) in a fresh git repository."""
    dest = tmp_path_factory.mktemp("pipeline") / "repo"
    listed = sh(ROOT, "git", "ls-files", "-co", "--exclude-standard", "-z").stdout.split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    sh(dest, "git", "init", "-q")
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "snapshot")
    return dest


def stale_stages(repo) -> set[str]:
    return set(json.loads(sh(repo, "dvc", "status", "--json").stdout or "{}"))


def test_committed_lock_is_current(repo):
    assert sh(repo, "dvc", "status", "-q", check=False).returncode == 0, sh(repo, "dvc", "status").stdout


def test_forced_repro_regenerates_the_committed_bytes(repo):
    before = snapshot(repo)
    sh(repo, "dvc", "repro", "--force")
    after = snapshot(repo)
    assert sorted(after) == sorted(before)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [], f"regenerated outputs differ from the committed ones: {changed}"
    assert sh(repo, "dvc", "status", "-q", check=False).returncode == 0
    assert "Data and pipelines are up to date" in sh(repo, "dvc", "repro").stdout


def test_changing_lr_touches_training_but_not_data_or_baseline(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["lr"] = 0.02
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        stale = stale_stages(repo)
        assert {f"train@{b}" for b in params["study"]["batch_sizes"]} <= stale
        assert "generate" not in stale and "baseline" not in stale
    finally:
        sh(repo, "git", "checkout", "--", "params.yaml")


def test_adding_a_batch_size_runs_only_that_training_stage(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["study"]["batch_sizes"].append(3)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        stale = stale_stages(repo)
        assert "train@3" in stale and "aggregate" in stale
        assert not {f"train@{b}" for b in (1, 2, 150)} & stale
        assert "generate" not in stale and "baseline" not in stale
    finally:
        sh(repo, "git", "checkout", "--", "params.yaml")


def test_a_failed_repro_loses_nothing(repo):
    before = snapshot(repo)
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace("lr: 0.01\n  lr_scaling", "lr: -1\n  lr_scaling", 1))
    result = sh(repo, "dvc", "repro", check=False)
    assert result.returncode != 0
    assert "params.yaml: train.lr must be greater than 0, got -1" in result.stderr + result.stdout
    (repo / "params.yaml").write_text(text)
    sh(repo, "dvc", "checkout")
    assert sh(repo, "dvc", "status", "-q", check=False).returncode == 0
    after = snapshot(repo)
    assert {k: v for k, v in after.items() if k != "dvc.lock"} == {
        k: v for k, v in before.items() if k != "dvc.lock"
    }


def test_dvc_views_metrics_and_plots(repo):
    shown = json.loads(sh(repo, "dvc", "metrics", "show", "--json").stdout)

    def find(node, key):  # the entry for one file, however deep DVC nests it
        if isinstance(node, dict):
            if key in node:
                return node[key]
            return next((f for v in node.values() if (f := find(v, key)) is not None), None)
        return None

    entry = find(shown, "reports/metrics.json")
    committed = json.loads((repo / "reports/metrics.json").read_text())
    assert entry["data"] == committed
    assert set(committed) == {"baseline", *(f"bs_{b}" for b in (1, 2, 4, 8, 16, 32, 64, 128, 150))}
    sh(repo, "dvc", "plots", "show", "-o", "dvc_plots")
    page = (repo / "dvc_plots" / "index.html").read_text()
    assert "batch_size" in page and "loss_per_epoch" in page


def test_experiment_with_an_override_shows_in_params_diff(repo):
    sh(repo, "dvc", "exp", "run", "-S", "train.lr=0.02")
    diff = sh(repo, "dvc", "params", "diff", "--json").stdout
    change = json.loads(diff)["params.yaml"]["train.lr"]
    assert (change["old"], change["new"]) == (0.01, 0.02)
    sh(repo, "git", "checkout", "--", ".")
    sh(repo, "dvc", "checkout", "--force")


def test_published_preset_reproduces_the_published_curve(repo):
    sh(repo, "dvc", "exp", "run", "-S", "study=seed_published")
    try:
        summary = pd.read_csv(repo / "reports/summary.csv").set_index("batch_size")["train_loss_mean"]
        assert 0.05 < summary[1] < 0.15
        assert (summary[[32, 64, 128, 150]] > 0.55).all()
        assert "Preset `seed_published`" in (repo / "reports/report.md").read_text()
    finally:
        sh(repo, "git", "checkout", "--", ".")

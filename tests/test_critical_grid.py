"""The critical grid on Hydra's launchers: one job per cell, the collector, and the round trip of a
cluster's cells into DVC."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import batchgraph.cli.critical  # noqa: F401  (registers the resolver the sweeper params use)
from helpers import ROOT, clone, commit, dvc, env_for, ran, restored, sh, snapshot

CONF = ROOT / "conf"
QUICK = "critical=quick"


def run(args, cwd=ROOT, env=None, check=True, timeout=300):
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def critical(*overrides, cwd=ROOT, env=None, check=True):
    return run([sys.executable, "-m", "batchgraph.cli.critical", *overrides], cwd=cwd, env=env, check=check)


def collect(sweep_dir, *flags, cwd=ROOT, env=None, check=True):
    return run(
        [sys.executable, "-m", "batchgraph.cli.collect", str(sweep_dir), *flags],
        cwd=cwd,
        env=env,
        check=check,
    )


def composed(*overrides):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("critical_grid", overrides=list(overrides), return_hydra_config=True)


def test_a_job_composes_the_pipelines_params_and_the_sweep_covers_the_grid():
    cfg = composed()
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in ("cell", "hydra")])
    assert OmegaConf.to_yaml(task) == (ROOT / "params.yaml").read_text(encoding="utf-8")
    params = cfg.hydra.sweeper.params
    assert params["cell.problem"] == ",".join(cfg.critical.problems)
    assert params["cell.bs"] == ",".join(map(str, cfg.critical.batch_sizes))
    quick = composed(QUICK).hydra.sweeper.params
    assert (quick["cell.problem"], quick["cell.bs"]) == ("kappa_10", "4,64,1024,4096")


def test_help_and_tab_completion():
    help_text = critical("--help").stdout
    assert help_text.startswith("batchgraph-critical: the critical study's grid as a Hydra app")
    assert "critical: mccandlish, quick" in help_text and "-sc install=bash" in help_text
    assert "local_ray" in help_text
    assert "complete -o nospace" in critical("-sc", "install=bash").stdout
    query = {"COMP_LINE": "batchgraph-critical cell.", "PATH": os.environ["PATH"]}
    assert critical("-sc", "query=bash", env=os.environ | query).stdout.split() == [
        "cell.bs=", "cell.problem=", "cell.runs=",
    ]  # fmt: skip
    assert "batchgraph-critical = " in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ((QUICK,), "error: cell.problem and cell.bs pick the cell"),
        ((QUICK, "cell.problem=kappa_10", "cell.bs=5"), "error: cell.bs must be one of critical.batch_sizes"),
        (
            (QUICK, "cell.problem=kappa_7", "cell.bs=4"),
            "error: cell.problem must be one of critical.problems",
        ),
        (
            (QUICK, "cell.problem=kappa_10", "cell.bs=4", "critical.max_steps=0"),
            "error: conf/ with critical=quick cell.problem=kappa_10 cell.bs=4 critical.max_steps=0: "
            "critical.max_steps",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_no_cell(tmp_path, overrides, message):
    result = critical(*overrides, f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "run" / "critical").exists() and not (tmp_path / "run" / "params.yaml").exists()


def test_a_checkouts_runs_take_only_its_own_params(tmp_path):
    """Cells written into a checkout's critical/runs are what `dvc commit` records there: refused
    unless the job's composition is that checkout's params.yaml, and its code that checkout's src/."""
    fake = tmp_path / "checkout"
    (fake / "critical").mkdir(parents=True)
    (fake / "critical" / "dvc.yaml").write_text("stages: {}\n")
    (fake / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    cell = ("cell.problem=kappa_10", "cell.bs=4", f"cell.runs={fake / 'critical' / 'runs'}")
    result = critical(QUICK, *cell, f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "is not this composition of conf/" in result.stderr
    result = critical(*cell, f"hydra.run.dir={tmp_path / 'run'}", check=False)  # params match, code not
    assert result.returncode == 1 and "must be computed by its own src/" in result.stderr
    assert snapshot(fake) == {
        "critical/dvc.yaml": b"stages: {}\n",
        "params.yaml": (ROOT / "params.yaml").read_bytes(),
    }


@pytest.mark.slow
def test_a_failed_cell_costs_only_itself_and_collect_names_it(tmp_path):
    """Two problems; a node that cannot write kappa_1's cells (a file where its folder goes) fails
    them: kappa_10's cells finish, the fit runs on kappa_10 alone, and collect names both misses."""
    out = tmp_path / "sweep"
    (out / "critical" / "runs").mkdir(parents=True)
    (out / "critical" / "runs" / "kappa_1").write_text("not a folder\n")
    grid = (QUICK, "critical.problems=[kappa_10,kappa_1]", "critical.batch_sizes=[1024,4096]")
    result = critical("-m", *grid, "cell.bs=1024,4096,5", f"hydra.sweep.dir={out}")
    assert "cell.bs must be one of critical.batch_sizes [1024, 4096], got 5" in result.stdout
    for B in (1024, 4096):
        assert (out / "critical" / "runs" / "kappa_10" / f"bs_{B}" / "run.json").is_file()
        why = (out / "jobs" / "kappa_1" / f"bs_{B}" / "error.txt").read_text()
        assert f"critical/runs/kappa_1/bs_{B}: cannot be written (File exists)" in why
        assert (
            "critical_train kappa_10" in (out / "jobs" / "kappa_10" / f"bs_{B}" / "critical.log").read_text()
        )
    collected = collect(out)
    lines = collected.stderr.splitlines()
    assert lines[0] == "4 cell(s) missing:", collected.stderr
    assert lines[1].startswith("- cell kappa_1 B=1024 (jobs/kappa_1/bs_1024): ")
    assert "cannot be written (File exists)" in lines[1]
    assert lines[3].startswith("- job jobs/kappa_1/bs_5: cell.bs must be one of")
    cells = pd.read_csv(out / "cells.csv")
    assert list(cells["status"]) == ["done", "done", "missing", "missing"]
    assert list(pd.read_csv(out / "reports" / "critical" / "critical.csv")["problem"].unique()) == [
        "kappa_10"
    ]
    assert yaml.safe_load((out / "params.yaml").read_text())["critical"]["problems"] == ["kappa_10"]


def test_collect_of_a_sweep_with_no_finished_problem_is_one_line(tmp_path):
    out = tmp_path / "sweep"
    critical("-m", QUICK, "cell.bs=4096", f"hydra.sweep.dir={out}")
    result = collect(out, check=False)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(
        f"error: {out}: no problem has all its cells; 3 missing, e.g. cell kappa_10 B=4"
    )
    assert not (out / "reports").exists()
    result = collect(out, "--commit", check=False)
    assert result.returncode == 1 and "are not in a checkout's critical/runs" in result.stderr


# ---- the launchers, for real, against the pipeline's own outputs ------------------------------

RAY = pytest.param(
    "local_ray",
    marks=pytest.mark.skipif(
        not all(importlib.util.find_spec(m) for m in ("ray", "hydra_plugins.hydra_ray_launcher")),
        reason="ray or hydra-ray-launcher is not importable (make install installs requirements-ray.lock)",
    ),
)


def same_files(a: Path, b: Path) -> None:
    """The same files (.gitignore files left out) with the same bytes under ``a`` and ``b``."""
    left, right = ({k: v for k, v in snapshot(d).items() if Path(k).name != ".gitignore"} for d in (a, b))
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name] == right[name], f"{a / name} differs from {b / name}"


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["local", "local_submitit", RAY])
def test_a_launcher_runs_the_quick_grid_and_collect_gives_the_pipelines_tables(tmp_path, computed, launcher):
    """joblib (2 processes), submitit's local executor (Slurm's pickled-job path) and a Ray of 2
    CPUs started by the launcher: each cell and each table byte for byte what `dvc repro` wrote."""
    out = tmp_path / "sweep"
    critical("-m", QUICK, f"hydra/launcher={launcher}", f"hydra.sweep.dir={out}")
    if launcher == "local_submitit":
        assert (out / ".submitit").is_dir()
    repo = computed["repo"]
    assert [p.name for p in (out / "critical" / "runs").iterdir()] == ["kappa_10"]
    same_files(out / "critical" / "runs" / "kappa_10", repo / "critical" / "runs" / "kappa_10")
    collect(out)
    assert (out / "params.yaml").read_bytes() == (repo / "params.yaml").read_bytes()
    same_files(out / "reports" / "critical", repo / "reports" / "critical")


# ---- a cluster's cells into DVC ------------------------------------------------------------------


@pytest.mark.slow
def test_a_sweeps_cells_become_dvc_outputs_that_repro_and_a_fresh_clone_restore(tmp_path, computed):
    """A batch size DVC has never computed: the sweep writes its cell into the checkout's
    critical/runs, `collect --commit` checks its inputs and `dvc commit`s it, and no training stage
    runs again, here or in a fresh clone that pulls it from the remote."""
    cache = shutil.copytree(computed["cache"], tmp_path / "cache")
    repo = clone(computed["repo"], tmp_path / "checkout", cache=cache)
    quick = repo / "conf" / "critical" / "quick.yaml"
    quick.write_text(
        quick.read_text().replace("batch_sizes: [4, 64, 1024, 4096]", "batch_sizes: [4, 64, 256, 1024, 4096]")
    )
    sh(repo, sys.executable, "-m", "batchgraph.cli.params")
    commit(repo, "the quick grid gets B = 256")
    env = env_for(repo)

    out = tmp_path / "sweep"
    critical("-m", "cell.bs=256", "cell.runs=critical/runs", f"hydra.sweep.dir={out}", cwd=repo, env=env)
    assert (repo / "critical" / "runs" / "kappa_10" / "bs_256" / "run.json").is_file()
    stage = "critical/dvc.yaml:critical_train@kappa_10-256"
    assert dvc(repo, "status", "-q", stage, check=False).returncode == 1  # not recorded yet
    # code edited after the sweep: dvc commit would record the cell under code that did not make it
    ensemble = repo / "src" / "batchgraph" / "critical" / "ensemble.py"
    kept = ensemble.read_bytes()
    ensemble.write_bytes(kept + b"# edited\n")
    refused = collect(out, "--commit", cwd=repo, env=env, check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "cell kappa_10 B=256 (critical_train) was computed with other code than" in refused.stderr
    assert dvc(repo, "status", "-q", stage, check=False).returncode == 1
    ensemble.write_bytes(kept)
    committed = collect(out, "--commit", cwd=repo, env=env)
    assert "dvc commit recorded 1 cell(s) in 2 stage(s)" in committed.stdout, committed.stdout
    assert "critical_train@kappa_10-256, critical_optimal@kappa_10-256" in committed.stdout
    for trainer in ("critical_train", "critical_optimal"):  # quick: kappa_10 in optimal_problems
        assert dvc(repo, "status", "-q", f"critical/dvc.yaml:{trainer}").returncode == 0

    log = dvc(repo, "repro").stdout
    # the fit and the pages read the new batch size; no training stage runs
    # (and the params check, as after any change of params.yaml)
    assert ran(log) == {"validate", "critical/dvc.yaml:critical_fit", "critical_report", "report"}, log
    assert f"Stage '{stage}' didn't change, skipping" in log
    assert f"Stage '{stage.replace('train', 'optimal')}' didn't change, skipping" in log
    assert dvc(repo, "status", "-q").returncode == 0
    dvc(repo, "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    commit(repo, "B = 256 computed by the sweep, recorded by dvc commit")
    dvc(repo, "push", "--run-cache")

    fresh = clone(repo, tmp_path / "fresh")
    dvc(fresh, "pull")
    assert dvc(fresh, "status", "-q").returncode == 0
    log = dvc(fresh, "repro").stdout
    assert ran(log) == set() and restored(log) == set(), log
    assert (fresh / "critical" / "runs" / "kappa_10" / "bs_256" / "passages.csv").read_bytes() == (
        repo / "critical" / "runs" / "kappa_10" / "bs_256" / "passages.csv"
    ).read_bytes()

    # and the run cache that dvc commit saved restores the cell where the lock has lost it
    sh(fresh, "git", "checkout", "-q", "HEAD~1", "--", "critical/dvc.lock")
    shutil.rmtree(fresh / "critical" / "runs" / "kappa_10" / "bs_256")
    log = dvc(fresh, "repro", "--pull", stage).stdout
    assert restored(log) == {stage} and ran(log) == set(), log

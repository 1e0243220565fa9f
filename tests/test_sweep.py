"""Bigger sweeps: the Hydra sweep app and collect, its launcher configs, and DVC's experiment queue."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir

from batchgraph.cli.params import compose as compose_params
from batchgraph.cli.params import composed_params
from batchgraph.cli.sweep import run_point
from helpers import BIN, ROOT, assert_refused, clone, dvc, ran, restored, snapshot

CONF = ROOT / "conf"
SMALL = "study.batch_sizes=[1,150]"


def run(args, cwd=ROOT, env=None, timeout=120, check=True):
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def sweep(*overrides, cwd=ROOT, check=True):
    return run([sys.executable, "-m", "batchgraph.cli.sweep", *overrides], cwd=cwd, check=check)


def test_params_yaml_is_still_the_composition_of_conf():
    """conf/hydra/ and the hydra: block configure the sweep app only; params.yaml never sees them."""
    text = compose_params(conf_dir=CONF)
    assert "hydra" not in yaml.safe_load(text)
    assert text == (ROOT / "params.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("launcher", "target"),
    [
        ("joblib", "JoblibLauncher"),
        ("local", "JoblibLauncher"),
        ("local_submitit", "submitit_launcher.LocalLauncher"),
        ("slurm", "submitit_launcher.SlurmLauncher"),
    ],
)
def test_launcher_configs_compose(launcher, target):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "local":
        assert cfg.hydra.launcher.n_jobs == 2


def test_ray_launcher_config_composes_when_the_plugin_is_installed():
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=local_ray"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("RayLauncher")
    assert cfg.hydra.launcher.ray.init.num_cpus == 2


def test_a_bad_override_is_one_line(tmp_path):
    result = sweep("train.lr=-1", f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: conf/ with train.lr=-1: train.lr must be greater than 0, got -1"
    ]
    assert not (tmp_path / "run" / "runs").exists()


def test_one_refused_point_costs_only_itself_and_collect_names_it(tmp_path):
    out = tmp_path / "sweep"
    grid = ("train.lr=-1,0.01", "study.batch_sizes=[150]", "train.epochs=2", "study.seeds=[0]")
    result = sweep("-m", *grid, f"hydra.sweep.dir={out}")
    assert "error: conf/ with train.lr=-1" in result.stdout
    assert (out / "0" / "error.txt").read_text().startswith("conf/ with train.lr=-1 ")
    # Hydra's job log gets every line the console gets
    assert "error: conf/ with train.lr=-1" in (out / "0" / "sweep.log").read_text()
    assert "train loss B=150" in (out / "1" / "sweep.log").read_text() and "train loss B=150" in result.stdout
    assert (out / "1" / "runs" / "bs_150" / "history.csv").is_file()
    collected = run([sys.executable, "-m", "batchgraph.cli.collect", str(out)])
    reason = "train.lr must be greater than 0, got -1"
    assert collected.stderr.splitlines()[0] == "1 point(s) missing:"
    assert collected.stderr.splitlines()[1].startswith("- point 0: ") and reason in collected.stderr
    table = pd.read_csv(out / "summary.csv", dtype={"point": str})
    assert list(table["point"]) == ["1"] and list(table["train.lr"]) == [0.01]
    assert (
        "Missing points:" in (out / "summary.md").read_text() and reason in (out / "summary.md").read_text()
    )


def test_collect_lists_damaged_points_as_missing_and_goes_on(tmp_path):
    """A half-written point, one whose overrides.yaml or error.txt is not UTF-8: each is named on
    stderr and in summary.md, and the sound point is collected; with none sound, one line, exit 1."""
    out = tmp_path / "sweep"
    sweep("-m", "train.lr=0.003,0.01,0.03", "study.batch_sizes=[150]", "train.epochs=2", "study.seeds=[0]",
          f"hydra.sweep.dir={out}")  # fmt: skip
    history = out / "0" / "runs" / "bs_150" / "history.csv"
    history.write_text(history.read_text()[:-7])  # cut mid-row
    (out / "1" / ".hydra" / "overrides.yaml").write_bytes(b"- train.lr=0.01\xff\n")
    (out / "9" / ".hydra").mkdir(parents=True)
    (out / "9" / "error.txt").write_bytes(b"\xfe\xff")
    collected = run([sys.executable, "-m", "batchgraph.cli.collect", str(out)])
    lines = collected.stderr.splitlines()
    assert lines[0] == "3 point(s) missing:" and "Traceback" not in collected.stderr
    assert {line.split(":")[0] for line in lines[1:]} == {"- point 0", "- point 1", "- point 9"}
    assert "history.csv" in lines[1 + [x.split(":")[0] for x in lines[1:]].index("- point 0")]
    assert "overrides.yaml: is not UTF-8 text" in collected.stderr
    assert "error.txt is not UTF-8 text" in collected.stderr
    table = pd.read_csv(out / "summary.csv", dtype={"point": str})
    assert list(table["point"]) == ["2"] and list(table["train.lr"]) == [0.03]
    assert "Missing points:" in (out / "summary.md").read_text()

    shutil.rmtree(out / "2")
    before = snapshot(out)
    refused = run([sys.executable, "-m", "batchgraph.cli.collect", str(out)], check=False)
    assert_refused(refused, "every finished point is damaged", out, before)


def test_the_apps_are_commands_with_help():
    help_text = run([str(BIN / "batchgraph-sweep"), "--help"]).stdout
    assert help_text.startswith("batchgraph-sweep: the batch-size study as a Hydra app")
    assert "model: linear, scalar" in help_text and "-sc install=bash" in help_text
    usage = run([str(BIN / "batchgraph-collect"), "--help"]).stdout
    assert usage.startswith("usage: batchgraph-collect [-h] [--commit] sweep_dir")


def test_collect_without_points_is_one_line(tmp_path):
    result = run([sys.executable, "-m", "batchgraph.cli.collect", str(tmp_path)], check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path}: has no finished grid points (job dirs with params.yaml and runs/)"
    ]


def test_the_published_preset_reproduces_the_published_curve(tmp_path):
    """`study=seed_published` (the course's doubled division, fixed epochs): the small batches
    reach a low loss and the large ones stay near the start, as in the course report's figure."""
    summary = run_point(composed_params(["study=seed_published"]), tmp_path)
    loss = summary.set_index("batch_size")["train_loss_mean"]
    assert list(loss.index) == [1, 2, 4, 8, 16, 32, 64, 128, 150]
    assert 0.05 < loss[1] < 0.15
    assert (loss[[32, 64, 128, 150]] > 0.55).all()


@pytest.mark.slow
def test_the_default_point_is_the_pipelines_study(tmp_path, computed):
    """The sweep app trains through the library the stages use: same params.yaml, runs/ and tables."""
    out = tmp_path / "point"
    sweep(f"hydra.run.dir={out}")
    assert (out / "params.yaml").read_bytes() == (ROOT / "params.yaml").read_bytes()
    assert (out / "summary.csv").read_bytes() == (ROOT / "reports" / "summary.csv").read_bytes()
    assert (out / "curves.csv").read_bytes() == (ROOT / "reports" / "curves.csv").read_bytes()
    run_dirs = sorted((computed["repo"] / "runs").glob("bs_*"))
    assert len(run_dirs) == 9
    for run_dir in run_dirs:
        for name in ("history.csv", "metrics.json"):
            assert (out / "runs" / run_dir.name / name).read_bytes() == (run_dir / name).read_bytes()


def check_collected(sweep_dir: Path, points: int, columns: list[str]) -> pd.DataFrame:
    run([sys.executable, "-m", "batchgraph.cli.collect", str(sweep_dir)])
    table = pd.read_csv(sweep_dir / "summary.csv", dtype={"point": str})
    assert list(table.columns[: 1 + len(columns)]) == ["point", *columns]
    assert len(table) == points * 2 and sorted(set(table["batch_size"])) == [1, 150]
    for point, rows in table.groupby("point"):
        own = pd.read_csv(sweep_dir / point / "summary.csv")
        pd.testing.assert_frame_equal(
            rows[own.columns].reset_index(drop=True), own, check_dtype=False, rtol=1e-5
        )
    for png in (
        sweep_dir / "figures" / "final_vs_batch.png",
        sweep_dir / "figures" / "0" / "loss_curves.png",
    ):
        data = png.read_bytes()  # a whole PNG: its signature, a header chunk, the end chunk
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and data[-8:-4] == b"IEND"
    return table


@pytest.mark.slow
def test_joblib_grid_and_collect(tmp_path):
    out = tmp_path / "sweep"
    grid = ("train.lr=0.003,0.01", "study=seed_report,linear_scaling", SMALL)
    sweep("-m", *grid, "hydra/launcher=local", f"hydra.sweep.dir={out}")
    table = check_collected(out, 4, ["train.lr", "study", "study.batch_sizes"])
    last = table[table["batch_size"] == 150].set_index(["train.lr", "study"])
    # linear scaling gives B = 150 a 150× step and so a far lower loss after 20 epochs
    for lr in (0.003, 0.01):
        assert last.loc[(lr, "linear_scaling"), "lr"] == pytest.approx(150 * lr)
        assert (
            last.loc[(lr, "linear_scaling"), "train_loss_mean"]
            < last.loc[(lr, "seed_report"), "train_loss_mean"]
        )
    default = table[(table["train.lr"] == 0.01) & (table["study"] == "seed_report")]
    committed = pd.read_csv(ROOT / "reports" / "summary.csv").set_index("batch_size").loc[[1, 150]]
    pd.testing.assert_frame_equal(
        default.set_index("batch_size")[committed.columns], committed, check_dtype=False, rtol=1e-5
    )


@pytest.mark.slow
def test_submitit_local_grid(tmp_path):
    """submitit's local executor: the code path (pickled job, submitit folder) that Slurm uses."""
    out = tmp_path / "sweep"
    sweep("-m", "train.lr=0.003,0.01", SMALL, "hydra/launcher=local_submitit", f"hydra.sweep.dir={out}")
    assert (out / ".submitit").is_dir()
    check_collected(out, 2, ["train.lr", "study.batch_sizes"])


# ---- DVC's experiment queue ---------------------------------------------------------------------


@pytest.mark.slow
def test_dvc_queue_grid_with_two_workers(tmp_path, computed):
    repo = clone(computed["repo"], tmp_path / "repo", cache=computed["cache"])
    grid = ["-S", "train.lr=0.003,0.01", "-S", "study=seed_report,linear_scaling", "-S", SMALL]
    dvc(repo, "exp", "run", "--queue", *grid)
    dvc(repo, "queue", "start", "-j", "2")
    try:
        deadline = time.monotonic() + 240
        while any(s in dvc(repo, "queue", "status").stdout for s in ("Queued", "Running")):
            assert time.monotonic() < deadline, "the queue did not finish in time"
            time.sleep(2)
    finally:
        dvc(repo, "queue", "stop", check=False)
    status = dvc(repo, "queue", "status").stdout
    assert status.count("Success") == 4, status

    table = pd.read_csv(io.StringIO(dvc(repo, "exp", "show", "--csv").stdout))
    exps = table[table["typ"].str.startswith("branch_")].set_index(["train.lr", "study.name"])
    assert sorted(exps.index) == [(lr, s) for lr in (0.003, 0.01) for s in ("linear_scaling", "seed_report")]
    assert set(exps["study.batch_sizes"]) == {"[1, 150]"}
    assert set(exps["State"]) == {"Success"}
    assert exps.loc[(0.01, "linear_scaling"), "train.lr_scaling"] == "linear"

    # the queue's results equal the sweep app's for the same grid points
    out = tmp_path / "sweep"
    sweep("-m", "train.lr=0.003,0.01", "study=seed_report,linear_scaling", SMALL, f"hydra.sweep.dir={out}")
    for point in out.glob("[0-9]*"):
        params = yaml.safe_load((point / "params.yaml").read_text(encoding="utf-8"))
        exp = exps.loc[(params["train"]["lr"], params["study"]["name"])]
        summary = pd.read_csv(point / "summary.csv").set_index("batch_size")
        for B, end in ((1, "smallest_batch"), (150, "largest_batch")):
            assert exp[f"{end}.batch_size"] == B
            assert exp[f"{end}.train_loss"] == pytest.approx(summary.loc[B, "train_loss_mean"], rel=1e-5)

    # a grid over train.* and study presets leaves data and the Task 2 baseline alone: DVC skips
    # them as unchanged in each experiment's copy
    for name in exps["Experiment"]:
        log = dvc(repo, "queue", "logs", name).stdout
        for stage in ("generate", "baseline"):
            assert f"Stage '{stage}' didn't change, skipping" in log, log
            assert f"Running stage '{stage}'" not in log, log
        assert "Running stage 'aggregate'" in log
    default = exps.loc[(0.01, "seed_report"), "Experiment"]
    log = dvc(repo, "queue", "logs", default).stdout
    assert "Stage 'train@1' didn't change, skipping" in log
    assert "Stage 'train@150' didn't change, skipping" in log
    assert run(["git", "status", "--porcelain"], cwd=repo).stdout == ""

    # queued after the grid, a point that shares its training with one of the grid's computes only
    # what differs (the baseline): the training comes from the run cache the grid's worker filled
    dvc(
        repo,
        "exp",
        "run",
        "--queue",
        "-n",
        "shared",
        "-S",
        "train.lr=0.003",
        "-S",
        SMALL,
        "-S",
        "baseline.lr=0.02",
    )
    dvc(repo, "exp", "run", "--run-all", "-j", "1")
    log = dvc(repo, "queue", "logs", "shared").stdout
    assert "baseline" in ran(log), log
    assert {"train@1", "train@150", "published"} <= restored(log), log
    assert not {s for s in ran(log) if s.startswith("train@")}, log

"""End to end on copies of the repository: the committed results are what the code produces, DVC
re-runs exactly what a change touches, and whatever was computed before is restored from DVC's
cache (here, from a queued experiment, from a shared remote, after a failure), never recomputed."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from helpers import (
    COMPUTING,
    HOSTILE_OVERRIDES,
    OUTPUTS,
    ROOT,
    clone,
    copy_worktree,
    dvc,
    ran,
    restored,
    sh,
    snapshot,
)

pytestmark = pytest.mark.slow
TABLES = ("reports",)


def stages(repo) -> set[str]:
    """Every stage of the project's pipelines, foreach and matrix items expanded, as DVC names them."""
    return set(dvc(repo, "stage", "list", "--all", "--name-only").stdout.split())


def stale(repo) -> set[str]:
    return set(json.loads(dvc(repo, "status", "--json").stdout or "{}"))


@pytest.fixture
def repo(tmp_path, computed):
    """A clone of the computed copy that shares its DVC cache: the workspace as after `dvc pull`."""
    return clone(computed["repo"], tmp_path / "clone", cache=computed["cache"])


def lock_outputs(repo) -> dict[str, dict[str, str]]:
    """The output hashes the root dvc.lock records, by stage."""
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {name: {o["path"]: o["md5"] for o in s.get("outs", [])} for name, s in stages.items()}


def test_a_cold_repro_regenerates_the_committed_results(computed):
    """Forced, every stage runs; the course study's outputs are byte-identical to the committed
    ones (equal hashes in dvc.lock, equal tables); only what reads the critical study's table,
    computed here on its quick preset, may differ."""
    assert stages(computed["repo"]) <= ran(computed["log"]), computed["log"]
    changed = {line[3:] for line in computed["status"].splitlines()}
    assert changed <= {"critical/dvc.lock", "dvc.lock", "reports/report.md"} | {
        f"reports/critical/{name}"
        for name in (
            "critical.csv",
            "steps.csv",
            "convergence.csv",
            "sensitivity.csv",
            "metrics.json",
            "report.md",
        )
    } | {f"reports/critical/figures/{p.name}" for p in (ROOT / "reports/critical/figures").iterdir()}, changed
    mine, committed = lock_outputs(computed["repo"]), lock_outputs(ROOT)
    for name in committed:
        if name not in ("report", "critical_report"):
            assert mine[name] == committed[name], name
    assert dvc(computed["repo"], "status", "-q", check=False).returncode == 0


def test_a_clone_with_the_cache_is_up_to_date_without_running_anything(repo):
    assert dvc(repo, "status", "-q", check=False).returncode == 0
    assert "Data and pipelines are up to date" in dvc(repo, "repro").stdout


@pytest.fixture(scope="module")
def lr_trip(tmp_path_factory, computed):
    """One clone's round trip, shared by the tests that need experiments run: `dvc exp run` at
    lr 0.02, 0.03, then 0.02 again, each run's log, wall time and tables."""
    repo = clone(computed["repo"], tmp_path_factory.mktemp("trip") / "clone", cache=computed["cache"])
    trip = {"repo": repo, "lrs": ("0.02", "0.03", "0.02"), "logs": [], "timings": [], "tables": []}
    for lr in trip["lrs"]:
        start = time.perf_counter()
        trip["logs"].append(dvc(repo, "exp", "run", "-S", f"train.lr={lr}").stdout)
        trip["timings"].append(time.perf_counter() - start)
        trip["tables"].append(snapshot(repo, TABLES))
    return trip


def test_returning_to_params_computed_before_restores_every_computing_stage(lr_trip, capsys):
    logs, tables, timings = lr_trip["logs"], lr_trip["tables"], lr_trip["timings"]
    computing = {s for s in ran(logs[0]) if COMPUTING.match(s)}
    assert {"train@1", "train@150", "published", "steps"} <= computing
    assert not {s for s in ran(logs[2]) if COMPUTING.match(s)}, logs[2]
    assert computing <= restored(logs[2]), logs[2]
    assert tables[2] == tables[0] and tables[1] != tables[0]
    with capsys.disabled():
        print(f"\n  lr 0.02 first {timings[0]:.1f} s, 0.03 {timings[1]:.1f} s, 0.02 again {timings[2]:.1f} s")


def test_an_experiment_with_an_override_shows_in_params_diff(lr_trip):
    change = json.loads(dvc(lr_trip["repo"], "params", "diff", "--json").stdout)["params.yaml"]["train.lr"]
    assert (change["old"], change["new"]) == (0.01, 0.02)


def test_a_remote_shares_results_with_another_clone(tmp_path, lr_trip):
    """Pushed with its run cache, the experiment in one clone's workspace (lr 0.02) is restored,
    not recomputed, in another clone with an empty cache that runs the same params."""
    remote = tmp_path / "remote"
    dvc(lr_trip["repo"], "remote", "add", "-d", "--local", "shared", str(remote))
    dvc(lr_trip["repo"], "push", "--run-cache")

    other = clone(lr_trip["repo"], tmp_path / "other")  # its own, empty, DVC cache
    dvc(other, "remote", "add", "-d", "--local", "shared", str(remote))
    log = dvc(other, "exp", "run", "--pull", "-S", "train.lr=0.02").stdout
    assert not {s for s in ran(log) if COMPUTING.match(s)}, log
    # the stages the lr changes come from the remote's run cache; the rest are pulled unchanged
    assert {"train@1", "train@150", "published", "steps"} <= restored(log), log
    assert snapshot(other, TABLES) == lr_trip["tables"][2]
    assert dvc(other, "status", "-q", check=False).returncode == 0


def test_after_a_failed_stage_repro_restores_the_last_good_outputs(repo):
    before = snapshot(repo, OUTPUTS)
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace("lr: 0.01\n  lr_scaling", "lr: -1\n  lr_scaling", 1))
    result = dvc(repo, "repro", check=False)
    assert result.returncode != 0
    assert "params.yaml: train.lr must be greater than 0, got -1" in result.stderr + result.stdout
    (repo / "params.yaml").write_text(text)
    log = dvc(repo, "repro").stdout
    assert not {s for s in ran(log) if COMPUTING.match(s)}, log
    assert dvc(repo, "status", "-q", check=False).returncode == 0
    assert snapshot(repo, OUTPUTS) == before


# Values DVC interpolates into a stage's output path and command before any stage can look at them.
HOSTILE = ["x/../../victim", "1$(touch pwned)"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, computed):
    """One clone for the hostile-params tests, with the user's own files where a hostile value
    points (victim/ and victim/bs_4/); every test leaves it as it found it."""
    repo = clone(computed["repo"], tmp_path_factory.mktemp("hostile") / "clone", cache=computed["cache"])
    for folder in (repo / "victim", repo / "victim" / "bs_4"):
        folder.mkdir()
        (folder / "keep.txt").write_text("mine\n")
    return repo


def workspace(repo) -> dict[str, bytes]:
    """Every file of the workspace but git's and DVC's own (.git/, .dvc/)."""
    return snapshot(repo, [p.name for p in repo.iterdir() if p.name not in (".git", ".dvc")])


@pytest.mark.parametrize("entry", HOSTILE)
def test_a_refused_batch_size_stops_dvc_repro_before_it_removes_or_runs_anything(hostile, entry):
    """The `validate` stage, upstream of every other, refuses the value before DVC removes
    `runs/bs_<entry>` (here the user's own `victim/`) or runs a command holding it."""
    repo = hostile
    before = snapshot(repo, OUTPUTS)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["study"]["batch_sizes"].append(entry)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = dvc(repo, "repro", check=False)
    assert result.returncode != 0
    assert "study.batch_sizes" in result.stderr + result.stdout, result.stderr
    assert ran(result.stdout) <= {"validate"}, result.stdout
    assert (repo / "victim" / "keep.txt").read_text() == "mine\n"
    assert not (repo / "pwned").exists()
    # only the validation stage's own output is gone, and the committed params bring it back
    assert snapshot(repo, OUTPUTS).items() <= before.items()
    sh(repo, "git", "checkout", "--", ".")
    dvc(repo, "repro")
    assert snapshot(repo, OUTPUTS) == before


@pytest.mark.parametrize(("override", "key"), HOSTILE_OVERRIDES.items(), ids=list(HOSTILE_OVERRIDES))
def test_dvc_exp_run_refuses_a_bad_override_before_it_writes_removes_or_runs_anything(hostile, override, key):
    """`dvc exp run` checks the workspace out against the params it composed before any stage
    runs, removing what sits at an output path it has no hash for; the composition itself refuses
    the value (the plugin .dvc/config names), in one line naming the key."""
    before, head = workspace(hostile), sh(hostile, "git", "rev-parse", "HEAD").stdout
    result = dvc(hostile, "exp", "run", "-S", override, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"ERROR: conf/ with {override}: {key} "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert workspace(hostile) == before  # params.yaml, victim/ and the outputs; no pwned file
    assert sh(hostile, "git", "status", "--porcelain").stdout == "?? victim/\n"
    assert sh(hostile, "git", "rev-parse", "HEAD").stdout == head


def test_dvc_exp_run_with_a_valid_override_of_the_same_key_runs_as_before(hostile):
    """The check passes what the schema allows: DVC composes, checks out and reproduces (here
    nothing, the value being the committed one; the lr round trip runs overrides that change)."""
    before = workspace(hostile)
    sizes = yaml.safe_load((hostile / "params.yaml").read_text())["study"]["batch_sizes"]
    override = f"study.batch_sizes=[{','.join(map(str, sizes))}]"
    result = dvc(hostile, "exp", "run", "-S", override)
    assert "Ran experiment(s)" in result.stdout and not ran(result.stdout), result.stdout
    assert workspace(hostile) == before


EDITS = [
    # (file, stages that must be marked changed, stages that must not; None: every other stage)
    ("src/batchgraph/report/figures.py", {"report", "critical_report"}, None),
    # the trainer lists the critical files it runs: an edit of the tables re-runs no training
    ("src/batchgraph/critical/fit.py", {"critical/dvc.yaml:critical_fit"}, None),
    ("src/batchgraph/tables/summary.py", {"aggregate", "report"}, {"train@1", "noise", "generate"}),
    ("src/batchgraph/study/noise.py", {"train@1", "train@150", "noise"}, set()),
    ("src/batchgraph/engine/optim.py", {"train@1", "baseline", "steps", "report"}, {"generate", "aggregate"}),
    # the landscape is measured for the write-up only: no training or critical stage re-runs
    ("src/batchgraph/report/landscape.py", {"report", "critical_report"}, None),
    # the params schema is read by every stage
    ("src/batchgraph/core/config.py", "every", set()),
]


@pytest.mark.parametrize(("path", "changed", "unchanged"), EDITS)
def test_a_code_edit_marks_exactly_the_stages_it_can_change(repo, path, changed, unchanged):
    with open(repo / path, "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    found = stale(repo)
    changed = stages(repo) if changed == "every" else changed
    assert changed <= found, found
    assert not ((stages(repo) - changed if unchanged is None else unchanged) & found), found


def test_changing_lr_touches_training_but_not_data_or_baseline(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["lr"] = 0.02
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    found = stale(repo)
    assert {f"train@{b}" for b in params["study"]["batch_sizes"]} <= found
    assert "generate" not in found and "baseline" not in found


def test_adding_a_batch_size_runs_only_that_training_stage(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["study"]["batch_sizes"].append(3)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    found = stale(repo)
    assert "train@3" in found and "aggregate" in found
    assert not {f"train@{b}" for b in (1, 2, 150)} & found
    assert "generate" not in found and "baseline" not in found


QUICK_B = (4, 64, 1024, 4096)  # conf/critical/quick.yaml, the computed copy's critical grid
GRID_EDITS = [
    # (critical params set, the training stages that must run: exactly those)
    ({"init_problems": ["kappa_10"]}, {f"critical_init@kappa_10-{B}" for B in QUICK_B}),
    ({"problems": ["kappa_10", "kappa_3"]}, {f"critical_train@kappa_3-{B}" for B in QUICK_B}),
    (
        {"problems": ["kappa_10", "kappa_3"], "optimal_problems": ["kappa_10", "kappa_3"]},
        {f"critical_{s}@kappa_3-{B}" for s in ("train", "optimal") for B in QUICK_B},
    ),
    ({"optimal_problems": []}, set()),
]


@pytest.mark.parametrize(("edit", "new"), GRID_EDITS, ids=["init", "problem", "optimal", "none"])
def test_a_critical_grid_change_runs_only_the_new_cells(repo, edit, new):
    """Each regime is a stage over its own list of problems: a problem added to a list (or a list
    emptied) leaves every other cell of every regime alone."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["critical"].update(edit)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    found = stale(repo)
    training = {s.removeprefix("critical/dvc.yaml:") for s in found if COMPUTING.match(s) and s != "validate"}
    assert training == new, found


def test_dvc_views_metrics_and_plots(repo):
    metrics = json.loads(dvc(repo, "metrics", "show", "--json").stdout)
    values = next(iter(metrics.values()))["data"]["reports/metrics.json"]["data"]
    committed = json.loads((ROOT / "reports/metrics.json").read_text())
    assert values == committed
    dvc(repo, "plots", "show", "-o", "dvc_plots")
    page = (repo / "dvc_plots" / "index.html").read_text()
    assert "loss_per_update" in page and "reports/figures/final_vs_batch.png" in page


def declared_plots(repo) -> set[str]:
    """Every plot dvc.yaml declares: its top-level plot ids, and each stage's plot outputs (a
    folder of images shows as its files)."""
    spec = yaml.safe_load((repo / "dvc.yaml").read_text())
    names = {next(iter(p)) if isinstance(p, dict) else p for p in spec.get("plots", [])}
    for stage in spec["stages"].values():
        for out in stage.get("do", stage).get("plots", []):
            names.add(next(iter(out)) if isinstance(out, dict) else out)
    return names


def test_plots_render_on_a_clone_without_the_cache(tmp_path):
    """What VS Code's DVC extension and DVC Studio read: every plot, and no error, with an empty
    cache and no remote (every fresh clone)."""
    repo = clone(copy_worktree(tmp_path / "source"), tmp_path / "fresh")
    assert not (repo / ".dvc" / "cache").exists() and not (repo / "runs" / "baseline").exists()
    for args in (("plots", "show", "--json"), ("plots", "diff", "HEAD", "--json")):
        shown = json.loads(dvc(repo, *args).stdout)
        assert "errors" not in shown, (args, shown.get("errors"))
        found = set(shown["data"])
        for name in declared_plots(repo):
            assert name in found or any(f.startswith(name + "/") for f in found), (args, name, found)

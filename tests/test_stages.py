"""The stages as DVC runs them: outputs, damaged inputs, divergence, and nothing half-written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from batchgraph.core import io as _io
from helpers import ROOT, assert_refused, default_params, run_stage, set_key, snapshot, write_params


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
    history = pd.read_csv(project / "runs/bs_150/history.csv")
    final = history[history["epoch"] == 3]["train_loss"]
    assert summary.loc[150, "diverged"] == 0
    assert summary.loc[150, "train_loss_mean"] == pytest.approx(final.mean(), rel=1e-5)
    assert summary.loc[150, "train_loss_std"] == pytest.approx(final.std(ddof=1), rel=1e-5)
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
    params = yaml.safe_load((project / "params.yaml").read_text())
    name, B = params["critical"]["problems"][0], params["critical"]["batch_sizes"][0]
    assert name in params["critical"]["optimal_problems"] and name in params["critical"]["init_problems"]
    other = next(p for p in params["critical"]["problems"] if p not in params["critical"]["optimal_problems"])
    kept = [f"{name}/bs_{B}", f"{name}/optimal/bs_{B}", f"{name}/other_init/bs_{B}"]
    gone = [f"{name}/bs_3", f"{name}/optimal/bs_3", f"{name}/other_init/bs_3", "kappa_7/bs_4"]
    gone += [f"{other}/optimal/bs_{B}"]  # a problem that is not (or no longer) among optimal_problems
    for folder in kept + gone:
        (project / "critical" / "runs" / folder).mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "batchgraph.cli.prune"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert sorted(p.name for p in (project / "runs").iterdir()) == ["bs_1", "bs_150"]
    shutil.rmtree(project / "runs")
    assert sorted(p.relative_to(project / "critical" / "runs").as_posix() for p in
                  (project / "critical" / "runs").glob("**/bs_*")) == sorted(kept)  # fmt: skip
    assert not (project / "critical" / "runs" / other / "optimal").exists()
    assert f"removed critical/runs/{other}/optimal\n" in result.stdout
    shutil.rmtree(project / "critical")


# --- Damaged intermediate files: the reader names the file and what is wrong ------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A shrunken project with every stage but report run once (copied by each test that damages it)."""
    folder = tmp_path_factory.mktemp("built")
    params = default_params()
    shrunk = {
        "study.batch_sizes": [1, 150],
        "study.seeds": [0, 1],
        "train.epochs": 3,
        "baseline.epochs": 3,
        "steps.max_steps": 50,
        "steps.seeds": [0],
        "critical.problems": ["kappa_10"],
        "critical.optimal_problems": ["kappa_10"],
        "critical.init_problems": ["kappa_10"],
        "critical.batch_sizes": [16, 256],
        "critical.seeds": [0, 1, 2, 3],
        "critical.deltas": [0.3],
        "critical.max_steps": 200,
    }
    for key, value in shrunk.items():
        set_key(params, key, value)
    write_params(folder, params)
    stages = [("generate", ()), ("baseline", ()), ("train", ("--batch-size", "1"))]
    stages += [("train", ("--batch-size", "150")), ("published", ()), ("noise", ()), ("steps", ())]
    stages += [("aggregate", ())]
    stages += [
        (stage, ("--problem", "kappa_10", "--batch-size", b))
        for stage in ("critical_train", "critical_optimal", "critical_init")
        for b in ("16", "256")
    ]
    stages += [("critical_fit", ())]
    for stage, args in stages:
        result = run_stage(folder, stage, *args)
        assert result.returncode == 0, (stage, result.stderr)
    return folder


def test_the_other_start_trains_and_is_a_row_of_the_sensitivity_table(built):
    """With init random, a problem in critical.init_problems also trains from w = 0, b = 0; the
    sensitivity table's "zeros init" row is the headline fit of those passages, not of the others."""
    from batchgraph.critical import fit, measure
    from batchgraph.critical.cells import cell_dir
    from batchgraph.stages.critical_fit import read_cell

    params = yaml.safe_load((built / "params.yaml").read_text())["critical"]
    runs = built / "critical" / "runs"
    for stage, regime in (("critical_train", "constant"), ("critical_optimal", "optimal"),
                          ("critical_init", "constant_zeros")):  # fmt: skip
        for B in params["batch_sizes"]:
            table = pd.read_csv(cell_dir(runs, "kappa_10", B, stage) / "passages.csv")
            assert set(table["regime"]) == {regime}
    B = np.array(params["batch_sizes"], dtype=float)
    fits = {}
    for regime, stage in (("constant", "critical_train"), ("constant_zeros", "critical_init")):
        folders = [cell_dir(runs, "kappa_10", b, stage) for b in params["batch_sizes"]]
        P = fit.Runs.stack(
            [read_cell(f, regime, params["deltas"], params["seeds"]) for f in folders]
        ).passages
        fits[regime] = [measure.fit_log(B, measure.critical_curve(P[j])[0]).b_crit for j in range(len(P))]
    sens = pd.read_csv(built / "reports" / "critical" / "sensitivity.csv")
    rows = sens[sens["variant"] == "zeros init"]
    assert list(rows["regime"]) == ["constant"] * len(params["deltas"])
    np.testing.assert_allclose(rows["b_crit"], fits["constant_zeros"], rtol=1e-9)
    assert not np.allclose(fits["constant_zeros"], fits["constant"], rtol=1e-6, equal_nan=False)


def json_edit(edit):
    def damage(path):
        path.write_text(json.dumps(edit(json.loads(path.read_text()))))

    return damage


def line_edit(number, index, value):
    """Set field ``index`` of line ``number`` (1-based, the header is 1) to ``value``."""

    def damage(path):
        lines = path.read_text().splitlines(keepends=True)
        fields = lines[number - 1].rstrip("\n").split(",")
        fields[index] = value
        lines[number - 1] = ",".join(fields) + "\n"
        path.write_text("".join(lines))

    return damage


def keep_lines(keep):
    def damage(path):
        path.write_text("".join(keep(path.read_text().splitlines(keepends=True))))

    return damage


def text(content):
    return lambda path: path.write_text(content)


def drop(key):
    return json_edit(lambda obj: {k: v for k, v in obj.items() if k != key})


BIG = "9" * 200_000
PASSAGES = "critical/runs/kappa_10/bs_16/passages.csv"
SEED_MEAN = "critical/runs/kappa_10/bs_16/seed_mean.csv"
CRITICAL = "reports/critical/critical.csv"


def cut_mid_row(path):
    """Cut mid-row: the last row loses its last character and its newline ("12.5" reads as 12)."""
    path.write_text(path.read_text()[:-2])


def a_folder(path):
    path.unlink()
    path.mkdir()


def repeat_changed(path):
    """The first row again, with another value in its last field."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines, lines[1].rsplit(",", 1)[0] + ",7\n"]))


def drop_last_column(path):
    lines = path.read_text().splitlines()
    path.write_text("".join(ln.rsplit(",", 1)[0] + "\n" for ln in lines))


HEADER_ONLY = keep_lines(lambda lines: lines[:1])
LAST_ROW_GONE = keep_lines(lambda lines: lines[:-1])
# (id, file, stage that reads it, how to damage it, message)
DAMAGED = [
    ("metrics []", "runs/bs_1/metrics.json", "aggregate", text("[]"),
     "runs/bs_1/metrics.json: must be a JSON object, got list"),
    ("metrics no lr", "runs/bs_1/metrics.json", "aggregate", drop("lr"),
     "runs/bs_1/metrics.json: has no 'lr'"),
    ("metrics lr text", "runs/bs_150/metrics.json", "aggregate", json_edit(lambda m: m | {"lr": "fast"}),
     "runs/bs_150/metrics.json: lr must be a finite number, got 'fast'"),
    ("metrics not json", "runs/bs_1/metrics.json", "aggregate", text("{lr: 1"),
     "runs/bs_1/metrics.json: is not valid JSON"),
    ("metrics too deep", "runs/bs_1/metrics.json", "aggregate", text("[" * 100_000 + "]" * 100_000),
     "runs/bs_1/metrics.json: is not valid JSON (nested too deeply)"),
    ("published metrics no lr", "runs/published/metrics.json", "aggregate", text('{"bs_1": {}}'),
     "runs/published/metrics.json: bs_1: has no 'lr'"),
    ("published metrics key", "runs/published/metrics.json", "aggregate", text('{"x": 1}'),
     "runs/published/metrics.json: keys must be bs_<batch size>, got 'x'"),
    ("baseline metrics", "runs/baseline/metrics.json", "aggregate",
     json_edit(lambda m: m | {"test_loss": "x"}),
     "runs/baseline/metrics.json: test_loss must be a finite number, got 'x'"),
    ("history columns", "runs/bs_1/history.csv", "aggregate", line_edit(1, 4, "loss"),
     "runs/bs_1/history.csv: columns must be seed, epoch, updates, epoch_loss, train_loss,"),
    ("history text loss", "runs/bs_1/history.csv", "aggregate", line_edit(3, 4, "abc"),
     "runs/bs_1/history.csv: line 3, column train_loss must be a number, got 'abc'"),
    ("history header only", "runs/bs_150/history.csv", "aggregate", HEADER_ONLY,
     "runs/bs_150/history.csv: has a header but no rows"),
    ("history empty", "runs/bs_150/history.csv", "aggregate", text(""),
     "runs/bs_150/history.csv: is damaged (No columns to parse from file)"),
    ("history row missing", "runs/bs_1/history.csv", "aggregate", LAST_ROW_GONE,
     "runs/bs_1/history.csv: lacks the row {'seed': 1, 'epoch': 3}"),
    ("history row repeated", "runs/bs_1/history.csv", "aggregate", keep_lines(lambda ls: ls + ls[-1:]),
     "runs/bs_1/history.csv: repeats a (seed, epoch) row"),
    ("history epoch 1.5", "runs/bs_1/history.csv", "aggregate", line_edit(2, 1, "1.5"),
     "runs/bs_1/history.csv: line 2, column epoch must be a whole number, got 1.5"),
    ("history field over limit", "runs/bs_1/history.csv", "aggregate", line_edit(2, 4, BIG),
     "runs/bs_1/history.csv: line 2, column train_loss holds a field over 131072 characters"),
    ("published history stale", "runs/published/history.csv", "aggregate",
     keep_lines(lambda ls: [ln for ln in ls if not ln.startswith("150,")]),
     "runs/published/history.csv: lacks the row {'batch_size': 150, 'seed': 0, 'epoch': 1}"),
    ("weights without A", "runs/baseline/weights.json", "noise", drop("A"),
     "runs/baseline/weights.json: has no 'A'"),
    ("weights A shape", "runs/baseline/weights.json", "noise", json_edit(lambda w: w | {"A": [[1, 2, 3]]}),
     "runs/baseline/weights.json: A must be 1×2 finite numbers, got [[1, 2, 3]]"),
    ("weights b number", "runs/baseline/weights.json", "report", json_edit(lambda w: w | {"b": 0.5}),
     "runs/baseline/weights.json: b must be 1 finite numbers, got 0.5"),
    ("noise header only", "reports/noise.csv", "report", HEADER_ONLY,
     "reports/noise.csv: has a header but no rows"),
    ("steps header only", "reports/steps_to_target.csv", "report", HEADER_ONLY,
     "reports/steps_to_target.csv: has a header but no rows"),
    ("summary header only", "reports/summary.csv", "report", HEADER_ONLY,
     "reports/summary.csv: has a header but no rows"),
    ("summary text", "reports/summary.csv", "report", line_edit(2, 5, "low"),
     "reports/summary.csv: line 2, column train_loss_mean must be a number, got 'low'"),
    ("curves columns", "reports/curves.csv", "report", line_edit(1, 17, "x"),
     "reports/curves.csv: columns must be batch_size, epoch,"),
    ("steps rule empty", "reports/steps_to_target.csv", "report", line_edit(2, 1, ""),
     "reports/steps_to_target.csv: line 2, column lr_scaling must not be empty"),
    ("baseline history short", "runs/baseline/history.csv", "report", LAST_ROW_GONE,
     "runs/baseline/history.csv: lacks the row {'seed': 0, 'epoch': 3}"),
    ("data field over limit", "data/blobs.csv", "train", line_edit(3, 0, BIG),
     "data/blobs.csv: line 3: field larger than field limit (131072)"),
    ("data NUL byte", "data/blobs.csv", "train",
     lambda p: p.write_bytes(p.read_bytes().replace(b",0,", b",\0,", 1)),
     "data/blobs.csv: line"),
    ("data not utf-8", "data/blobs.csv", "train", lambda p: p.write_bytes(b"\xff" + p.read_bytes()),
     "data/blobs.csv: cannot be read"),
    ("history cut mid-row", "runs/bs_1/history.csv", "aggregate", cut_mid_row,
     "runs/bs_1/history.csv: ends mid-line"),
    # the critical study's readers: critical_fit reads the runs, critical_report and report the tables
    ("passages not utf-8", PASSAGES, "critical_fit", lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()),
     f"{PASSAGES}: is not UTF-8 text"),
    ("passages a folder", PASSAGES, "critical_fit", a_folder, f"{PASSAGES}: is a folder"),
    ("passages negative steps", PASSAGES, "critical_fit", line_edit(2, 4, "-3"),
     f"{PASSAGES}: steps must be ≥ 0 or nan, got -3"),
    ("passages negative lr", PASSAGES, "critical_fit", line_edit(2, 2, "-1.5"),
     f"{PASSAGES}: lr must be > 0"),
    ("passages conflicting row", PASSAGES, "critical_fit", repeat_changed,
     f"{PASSAGES}: the row constant, 0.3, 1.483384882, 0 repeats"),
    ("passages cut mid-row", PASSAGES, "critical_fit", cut_mid_row, f"{PASSAGES}: ends mid-line"),
    ("passages short row", PASSAGES, "critical_fit", line_edit(3, 4, "x\nconstant,0.3"),
     f"{PASSAGES}: line 4 does not have the 5 fields"),
    ("passages NUL byte", PASSAGES, "critical_fit",
     lambda p: p.write_bytes(p.read_bytes().replace(b",0.3,", b",0\0.3,", 1)),
     f"{PASSAGES}: delta must be a number"),
    ("seed_mean conflicting row", SEED_MEAN, "critical_fit", repeat_changed,
     f"{SEED_MEAN}: the row constant, 0.3, 1.483384882 repeats"),
    ("seed_mean not utf-8", SEED_MEAN, "critical_fit", lambda p: p.write_bytes(b"\xff" + p.read_bytes()),
     f"{SEED_MEAN}: is not UTF-8 text"),
    ("seed_mean a folder", SEED_MEAN, "critical_fit", a_folder, f"{SEED_MEAN}: is a folder"),
    ("critical.csv without a column", CRITICAL, "critical_report", drop_last_column,
     f"{CRITICAL}: columns must be problem, kappa,"),
    ("critical.csv cut mid-row", CRITICAL, "critical_report", cut_mid_row, f"{CRITICAL}: ends mid-line"),
    ("critical.csv short row", CRITICAL, "critical_report", keep_lines(lambda ls: [*ls, "kappa_10,10\n"]),
     f"{CRITICAL}: line 4 has 2 fields, the header 26"),
    ("critical.csv text b_crit", CRITICAL, "critical_report", line_edit(2, 7, "big"),
     f"{CRITICAL}: line 2, column b_crit must be a number, got 'big'"),
    ("critical.csv not utf-8", CRITICAL, "critical_report", lambda p: p.write_bytes(b"\xff" + p.read_bytes()),
     f"{CRITICAL}: is damaged"),
    ("critical.csv in the course report", CRITICAL, "report", drop_last_column,
     f"{CRITICAL}: columns must be problem, kappa,"),
    ("critical steps.csv header only", "reports/critical/steps.csv", "critical_report", HEADER_ONLY,
     "reports/critical/steps.csv: has a header but no rows"),
    ("sensitivity.csv empty variant", "reports/critical/sensitivity.csv", "critical_report",
     line_edit(2, 3, ""), "reports/critical/sensitivity.csv: line 2, column variant must not be empty"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file", "stage", "how", "message"), [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED]
)
def test_a_damaged_intermediate_file_is_named_in_one_line(built, tmp_path, file, stage, how, message):
    project = tmp_path / "project"
    shutil.copytree(built, project)
    how(project / file)
    before = snapshot(project)
    args = ("--batch-size", "1") if stage == "train" else ()
    assert_refused(run_stage(project, stage, *args), message, project, before)


def test_the_undamaged_project_passes_every_reader(built, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(built, project)
    result = run_stage(project, "report")
    assert result.returncode == 0, result.stderr


# --- Data nothing can learn from, and values that would become two spellings of one path -------


def relabel_train(path):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(ln.replace(",1,train", ",0,train") for ln in lines))


def two_train_rows(path):
    """One train row of each class, and the test rows."""
    lines = path.read_text().splitlines(keepends=True)
    train = [next(ln for ln in lines if ln.endswith(f",{label},train\n")) for label in (0, 1)]
    path.write_text("".join(lines[:1] + train + [ln for ln in lines if ln.endswith(",test\n")]))


NOTHING_TO_LEARN = [
    # (id, damage to data/blobs.csv or None, params changes, stage and args, message)
    ("one class in the file", relabel_train, {}, ("train", "--batch-size", "1"),
     "data/blobs.csv: every train row has label 0"),
    ("train split of 2 rows at B=150", two_train_rows, {}, ("train", "--batch-size", "150"),
     "data/blobs.csv: has 2 train and 50 test rows, params.yaml's data gives 150 and 50"),
    ("features of 1e308", line_edit(6, 0, "1e308"), {}, ("noise",),
     "data/blobs.csv: line 6: features must be at most 1e+12 in size"),
    ("means of 1e308", None, {"data.means": [[1e308, 2.0], [1e308, -2.0]]}, ("generate",),
     "params.yaml: data.means.0.0 must be less than or equal to 1000000"),
    ("std of 1e300", None, {"data.std": 1e300}, ("generate",),
     "params.yaml: data.std must be less than or equal to 1000000"),
    ("a split with one class", None,
     {"data.n_per_class": 1, "data.test_fraction": 0.5, "study.batch_sizes": [1], "baseline.batch_size": 1},
     ("generate",), "params.yaml: data.seed 0 puts only label 1 in the train split of 1 rows"),
    ("deltas alike to 10 digits", None, {"critical.deltas": [0.1, 0.1 + 1e-13]}, ("generate",),
     "params.yaml: critical.deltas must differ in their first 10 significant digits"),
    ("critical B as 4.0", None, {"critical.batch_sizes": [4.0, 16]}, ("generate",),
     "params.yaml: critical.batch_sizes.0 must be a valid integer, got 4.0"),
    ("critical B as '4'", None, {"critical.batch_sizes": ["4", 16]}, ("generate",),
     "params.yaml: critical.batch_sizes.0 must be a valid integer, got '4'"),
    ("study B as 4.0", None, {"study.batch_sizes": [1, 4.0]}, ("generate",),
     "params.yaml: study.batch_sizes.1 must be a valid integer, got 4.0"),
    ("study B as '4'", None, {"study.batch_sizes": ["4"]}, ("generate",),
     "params.yaml: study.batch_sizes.0 must be a valid integer, got '4'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("how", "changes", "stage", "message"),
    [c[1:] for c in NOTHING_TO_LEARN],
    ids=[c[0] for c in NOTHING_TO_LEARN],
)
def test_data_nothing_can_learn_from_is_refused_up_front(project, how, changes, stage, message):
    """Refused before anything is computed, in one line; paths and lookups have one spelling."""
    if how is not None:
        how(project / "data/blobs.csv")
    if changes:
        params = yaml.safe_load((project / "params.yaml").read_text())
        for key, value in changes.items():
            set_key(params, key, value)
        write_params(project, params)
    if stage[0] == "noise":  # it reads the Task 2 weights too: any will do
        _io.write_json(project / "runs/baseline/weights.json", {"A": [[0.0, 0.0]], "b": [0.0]})
    before = snapshot(project)
    assert_refused(run_stage(project, *stage), message, project, before)


def test_make_compare_hides_failed_experiments():
    """`dvc exp show` lists a failed experiment with its baseline's numbers unless told not to."""
    shown = subprocess.run(["make", "-s", "-n", "compare"], cwd=ROOT, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    command = shown.stdout.strip().splitlines()[-1]
    assert "dvc exp show" in command and "--hide-failed" in command.split()
    help_text = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--help"], capture_output=True, text=True
    )
    assert "--hide-failed" in help_text.stdout  # the pinned DVC has the option


def lock_entry(name: str, cmd: str) -> str:
    return f"  {name}:\n    cmd: {cmd}\n    outs:\n    - path: out/{name}\n      md5: 0123\n      size: 1\n"


def test_prune_drops_lock_entries_of_stages_the_pipeline_no_longer_defines(project):
    """DVC keeps a lock entry after its stage leaves the grid; prune removes it, byte for byte."""
    (project / ".dvc").mkdir()  # what `dvc init --no-scm` writes that `dvc stage list` needs
    (project / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
    for name in ("dvc.yaml", "critical/dvc.yaml"):
        (project / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    kept_root = lock_entry("generate", "gen") + lock_entry("train@1", "t 1")
    kept_critical = lock_entry("critical_train@kappa_1-4", "c 1 4") + lock_entry("critical_fit", "fit")
    (project / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n" + lock_entry("generate", "gen") + lock_entry("train@3", "t 3")
        + lock_entry("train@1", "t 1") + lock_entry("train@7", "t 7")
    )  # fmt: skip
    (project / "critical" / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n" + lock_entry("critical_train@0.5-4", "rho") + kept_critical
        + lock_entry("critical_train@kappa_7-4", "c 7 4")
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "batchgraph.cli.prune"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (project / "dvc.lock").read_text() == "schema: '2.0'\nstages:\n" + kept_root
    assert (project / "critical" / "dvc.lock").read_text() == "schema: '2.0'\nstages:\n" + kept_critical
    for name in ("train@3", "train@7", "critical_train@0.5-4", "critical_train@kappa_7-4"):
        assert f"entry {name}" in result.stdout

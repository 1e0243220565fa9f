"""params.yaml is the composition of conf/; the schema refuses bad values with one line naming the key."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from batchgraph.cli.params import compose, composed_params
from batchgraph.core.config import ParamsError, load_params, parse_yaml, validate_params
from batchgraph.core.data import make_dataset
from helpers import ROOT, assert_refused, default_params, run_stage, set_key, snapshot, write_params

# The defaults table of DESIGN.md ("Study contract"), plus the keys it summarises as `baseline.*`
# and the noise and steps groups.
PROBLEMS = [
    "kappa_1",
    "kappa_3",
    "kappa_10",
    "kappa_30",
    "kappa_100",
    "kappa_300",
    "kappa_1000",
    "breast_cancer",
]
DOCUMENTED_DEFAULTS = {
    "data": {
        "n_per_class": 100,
        "means": [[1.0, 2.0], [1.0, -2.0]],
        "std": 1.0,
        "test_fraction": 0.25,
        "seed": 0,
    },
    "model": {"graph": "linear", "init": "normal", "init_std": 0.1},
    "train": {"lr": 0.01, "lr_scaling": "none", "lr_ref_batch": 1, "epochs": 20, "shuffle": True},
    "baseline": {"batch_size": 1, "lr": 0.01, "epochs": 100, "seed": 0},
    "noise": {"samples": 2000, "enumerate_up_to": 20000, "seed": 0},
    "steps": {
        "target": 0.1,
        "max_steps": 20000,
        "rules": ["none", "linear", "sqrt"],
        "seeds": [0, 1, 2, 3, 4],
        "tuned_lrs": {"start": 0.0625, "stop": 16.0, "per_octave": 2},
    },
    "study": {
        "name": "seed_report",
        "batch_sizes": [1, 2, 4, 8, 16, 32, 64, 128, 150],
        "seeds": [0, 1, 2, 3, 4],
    },
    "critical": {
        "problems": PROBLEMS,
        "optimal_problems": ["kappa_1", "kappa_3", "kappa_10", "kappa_30", "kappa_100", "breast_cancer"],
        "init_problems": PROBLEMS,
        "batch_sizes": [4, 16, 64, 256, 1024, 4096],
        "lr_grid": {"start": 2**-12, "stop": 4.0, "per_octave": 2},
        "refine_per_octave": 4,
        "seeds": list(range(32)),
        "deltas": [0.1, 0.03],
        "init": "random",
        "max_steps": 100000,
        "diverge_loss": 10.0,
    },
}


def test_committed_params_equal_the_composition_of_conf():
    assert (ROOT / "params.yaml").read_text() == compose(conf_dir=ROOT / "conf")


def test_committed_params_are_valid_and_the_documented_defaults():
    params = load_params(ROOT / "params.yaml")
    assert params.model_dump() == DOCUMENTED_DEFAULTS
    assert params == composed_params(conf_dir=ROOT / "conf")
    assert params.data.n_train == 150 and params.data.n_test == 50


def test_params_are_read_as_dvc_reads_them_yaml_1_2():
    from dvc.utils.serialize import parse_yaml as dvc_parse_yaml

    text = "train:\n  lr: 1e-2\n  shuffle: yes\n  epochs: 0o17\n  other: 1_000\n"
    assert parse_yaml(text) == dvc_parse_yaml(text, "params.yaml")
    assert parse_yaml(text)["train"] == {"lr": 0.01, "shuffle": "yes", "epochs": 15, "other": 1000}
    params = validate_params(set_key(default_params(), "train.lr", 1e-2))
    assert params.train.lr == 0.01


def test_lr_in_exponent_form_is_accepted_by_a_stage(tmp_path):
    text = (ROOT / "params.yaml").read_text().replace("lr: 0.01", "lr: 1e-2", 1)
    (tmp_path / "params.yaml").write_text(text)
    assert load_params(tmp_path / "params.yaml").train.lr == 0.01


@pytest.mark.parametrize(
    "key",
    [f"{s}.{k}" for s, fields in DOCUMENTED_DEFAULTS.items() for k in fields] + list(DOCUMENTED_DEFAULTS),
)
def test_a_missing_key_is_an_error_not_a_default(key):
    raw = default_params()
    *path, last = key.split(".")
    node = raw
    for part in path:
        node = node[part]
    del node[last]
    with pytest.raises(ParamsError) as info:
        validate_params(raw)
    assert str(info.value) == f"params.yaml: {key} is missing"


PRESETS = sorted(p.stem for p in (ROOT / "conf" / "study").glob("*.yaml"))
# What each preset sets beyond the default seed_report; a preset missing here fails the test.
PRESET_EFFECTS = {
    "seed_report": {},
    "seed_published": {"train.lr_scaling": "inverse"},
    "linear_scaling": {"train.lr_scaling": "linear"},
    "steps_to_target": {
        "study.batch_sizes": [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 150],
        "steps.seeds": list(range(10)),
    },
}


@pytest.mark.parametrize("preset", PRESETS)
def test_every_shipped_preset_composes_validates_and_does_what_it_says(preset):
    assert preset in PRESET_EFFECTS, f"conf/study/{preset}.yaml has no documented effect in this test"
    params = composed_params([f"study={preset}"], conf_dir=ROOT / "conf").model_dump()
    default = composed_params(conf_dir=ROOT / "conf").model_dump()
    assert params["study"]["name"] == preset
    changed = {
        f"{section}.{key}": value
        for section, values in params.items()
        for key, value in values.items()
        if value != default[section][key] and (section, key) != ("study", "name")
    }
    assert changed == PRESET_EFFECTS[preset]


def test_overrides_compose_like_dvc_exp_run_set_param():
    params = yaml.safe_load(compose(["train.lr=0.02", "study=seed_published"], conf_dir=ROOT / "conf"))
    assert params["train"]["lr"] == 0.02 and params["train"]["lr_scaling"] == "inverse"


BAD = [
    ("train.lr", -1, "train.lr must be greater than 0, got -1"),
    ("train.lr", 0, "train.lr must be greater than 0"),
    ("train.lr", math.inf, "train.lr must be a finite number"),
    ("train.lr", "fast", "train.lr must be a valid number"),
    ("train.epochs", 0, "train.epochs must be greater than or equal to 1"),
    ("train.epochs", 2.5, "train.epochs must be a valid integer"),
    ("train.lr_scaling", "cubic", "train.lr_scaling must be 'none', 'linear', 'sqrt' or 'inverse'"),
    ("train.lr_ref_batch", 0, "train.lr_ref_batch must be greater than or equal to 1"),
    ("train.shuffle", "yes", "train.shuffle must be a valid boolean"),
    ("model.init", "uniform", "model.init must be 'normal' or 'zeros'"),
    ("model.graph", "deep", "model.graph must be 'linear' or 'scalar'"),
    ("model.init_std", -0.1, "model.init_std must be greater than or equal to 0"),
    ("data.n_per_class", 0, "data.n_per_class must be greater than or equal to 1"),
    ("data.std", 0, "data.std must be greater than 0"),
    ("data.test_fraction", 1.0, "data.test_fraction must be less than 1"),
    ("data.test_fraction", 0.001, "data.test_fraction must leave at least one row in each split"),
    ("data.means", [[1, 2], [1, 2]], "data.means must be two distinct points"),
    ("data.means", [[1, 2], [1]], "data.means.1 must have at least 2 items"),
    ("data.means", [[1, 2, 0], [1, -2, 0]], "data.means.0 must have at most 2 items"),
    ("data.means", [[1, "x"], [1, -2]], "data.means.0.1 must be a valid number"),
    ("data.means", [[1, 2]], "data.means must have at least 2 items"),
    ("study.batch_sizes", [], "study.batch_sizes must have at least 1 item"),
    ("study.batch_sizes", [1, 0], "study.batch_sizes.1 must be greater than or equal to 1"),
    ("study.batch_sizes", [1, 151], "study.batch_sizes must be at most the training set size 150"),
    ("study.batch_sizes", [2, 2], "study.batch_sizes must not repeat a value"),
    ("study.seeds", [], "study.seeds must have at least 1 item"),
    ("study.seeds", [0, 0], "study.seeds must not repeat a value"),
    ("study.seeds", [-1], "study.seeds.0 must be greater than or equal to 0"),
    ("baseline.batch_size", 1000, "baseline.batch_size must be at most the training set size 150"),
    ("train.momentum", 0.9, "train.momentum is not a known key"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD, ids=[f"{k}={v}" for k, v, _ in BAD])
def test_schema_refuses_with_the_key_named(key, value, message):
    with pytest.raises(ParamsError) as info:
        validate_params(set_key(default_params(), key, value))
    text = str(info.value)
    assert text.startswith("params.yaml: ") and message in text
    assert "\n" not in text


@pytest.mark.parametrize(("key", "value", "message"), [BAD[0], BAD[6], BAD[21]])
def test_a_stage_with_bad_params_exits_1_with_one_line_and_writes_nothing(tmp_path, key, value, message):
    write_params(tmp_path, set_key(default_params(), key, value))
    result = run_stage(tmp_path, "generate")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_missing_or_malformed_params_file_is_one_line(tmp_path):
    result = run_stage(tmp_path, "generate")
    assert result.returncode == 1 and "params.yaml: not found" in result.stderr
    (tmp_path / "params.yaml").write_text("train: [lr: 1\n")
    result = run_stage(tmp_path, "generate")
    assert result.returncode == 1 and "params.yaml: is not valid YAML at line" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def _set(params, dotted, value):
    return set_key(params, dotted, value)


invalid_values = st.one_of(
    st.sampled_from(["train.lr", "data.std"]).flatmap(
        lambda k: st.tuples(st.just(k), st.floats(max_value=0) | st.just(math.nan))
    ),
    st.tuples(st.just("train.epochs"), st.integers(max_value=0) | st.floats(allow_nan=False) | st.text()),
    st.tuples(st.just("data.test_fraction"), st.floats(min_value=1.0) | st.floats(max_value=0.0)),
    st.tuples(
        st.just("study.batch_sizes"),
        st.lists(st.integers(min_value=151), min_size=1) | st.lists(st.integers(max_value=0), min_size=1),
    ),
    st.tuples(st.just("model.init"), st.text().filter(lambda s: s not in ("normal", "zeros"))),
    st.tuples(
        st.just("study.seeds"), st.lists(st.integers(0, 5), min_size=2).filter(lambda s: len(set(s)) < len(s))
    ),
)


@settings(max_examples=150, deadline=None)
@given(invalid_values)
def test_random_invalid_values_are_refused_naming_the_key(case):
    key, value = case
    with pytest.raises(ParamsError) as info:
        validate_params(_set(default_params(), key, value))
    assert key in str(info.value) and "\n" not in str(info.value)


# --- Broken input files: one line, exit 1, nothing written ------------------------------------

CONFIG = [sys.executable, "-m", "batchgraph.cli.params"]


def _config(folder, *args):
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run([*CONFIG, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def _params_text() -> str:
    return (ROOT / "params.yaml").read_text()


BROKEN_PARAMS = [
    # (what, bytes of params.yaml, the message)
    (
        "not utf-8",
        _params_text().replace("seed: 0", "seed: 0 # caf\xe9").encode("latin-1"),
        "is not UTF-8 text (byte 0xe9",
    ),
    ("yaml syntax", b"train: [lr: 1\n", "params.yaml: is not valid YAML at line 2"),
    ("duplicate key", (_params_text() + "train:\n  lr: 0.1\n").encode(), "is not valid YAML at line"),
    ("python tag", b"train: !!python/object/apply:os.system [ls]\n", "is not valid YAML at line 1"),
    ("empty", b"", "params.yaml: data is missing"),
    ("a list", b"- 1\n- 2\n", "params.yaml: must be a mapping of sections, got list"),
    ("deeply nested", b"[" * 5000 + b"]" * 5000, "params.yaml: "),
]


@pytest.mark.parametrize("stage", ["generate", "train"])
@pytest.mark.parametrize(("what", "content", "message"), BROKEN_PARAMS, ids=[c[0] for c in BROKEN_PARAMS])
def test_a_broken_params_file_is_one_line_in_every_stage(tmp_path, stage, what, content, message):
    (tmp_path / "params.yaml").write_bytes(content)
    before = snapshot(tmp_path)
    args = ("--batch-size", "1") if stage == "train" else ()
    assert_refused(run_stage(tmp_path, stage, *args), message, tmp_path, before)


def test_a_params_file_that_is_not_utf8_fails_the_check_in_one_line(tmp_path):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "params.yaml").write_bytes(BROKEN_PARAMS[0][1])
    before = snapshot(tmp_path)
    assert_refused(_config(tmp_path, "--check"), "params.yaml: is not UTF-8 text", tmp_path, before)


def _break_conf(folder, how):
    shutil.copytree(ROOT / "conf", folder / "conf")
    sgd = folder / "conf/train/sgd.yaml"
    if how == "syntax":
        sgd.write_text(sgd.read_text() + "lr: [0.01\n")
    elif how == "not utf-8":
        sgd.write_bytes(sgd.read_bytes() + b"# \xff\n")
    elif how == "tab indent":
        sgd.write_text("lr:\n\t0.01\n")
    elif how == "unknown preset":
        pass
    return sgd


CONF_CASES = [
    ("syntax", (), "conf/train/sgd.yaml: is not valid YAML at line"),
    ("not utf-8", (), "conf/train/sgd.yaml: is not UTF-8 text (byte 0xff"),
    ("tab indent", (), "conf/train/sgd.yaml: is not valid YAML at line 2"),
    ("unknown preset", ("study=nope",), "conf/: In 'config': Could not find 'study/nope'"),
    ("bad value", ("train.lr=-1",), "conf/ (composed): train.lr must be greater than 0"),
    ("too big", ("train.epochs=1000000000",), "train.epochs 1000000000 with 5 study.seeds"),
    ("lr exponent", ("train.lr=1e-2",), None),
]


@pytest.mark.parametrize(("how", "overrides", "message"), CONF_CASES, ids=[c[0] for c in CONF_CASES])
def test_a_broken_conf_is_one_line_naming_the_file(tmp_path, how, overrides, message):
    _break_conf(tmp_path, how)
    (tmp_path / "params.yaml").write_text(_params_text())
    before = snapshot(tmp_path)
    result = _config(tmp_path, *overrides)
    if message is None:  # YAML 1.2: 1e-2 is a number
        assert result.returncode == 0, result.stderr
        assert load_params(tmp_path / "params.yaml").train.lr == 0.01
        return
    assert_refused(result, message, tmp_path, before)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("nowhere/params.yaml", "nowhere/params.yaml: the folder nowhere does not exist"),
        ("conf", "conf: is a folder; give the path of a file"),
    ],
)
def test_output_into_a_missing_folder_or_onto_a_folder_is_one_line(tmp_path, output, message):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    before = snapshot(tmp_path)
    assert_refused(_config(tmp_path, "--output", output), message, tmp_path, before)
    assert not (tmp_path / "nowhere").exists()


# --- Sizes that cannot fit are refused up front -----------------------------------------------

TOO_BIG = [
    (
        "train.epochs",
        1_000_000_000,
        "train.epochs 1000000000 with 5 study.seeds and 9 study.batch_sizes needs about",
    ),
    ("train.epochs", 2_000_000, "for the run histories; at most 4 GiB is allowed"),
    ("baseline.epochs", 10**10, "baseline.epochs 10000000000 needs about 9.3 TiB for the Task 2 run history"),
    ("data.n_per_class", 10**12, "data.n_per_class 1000000000000 needs about 1.1 PiB for the data"),
    ("data.n_per_class", 10**8, "data.n_per_class 100000000 needs about 119 GiB for the data"),
    ("study.seeds", list(range(10**5)), "train.epochs 20 with 100000 study.seeds and 9 study.batch_sizes"),
    (
        "steps.seeds",
        list(range(300_000)),
        "data.n_per_class 100 with 300000 models needs about 5.4 GiB to train",
    ),
    (
        "noise.enumerate_up_to",
        10**13,
        "noise.enumerate_up_to 10000000000000 needs about 2.1 PiB to enumerate the batches",
    ),
    ("noise.samples", 10**9, "noise.samples 1000000000 needs about"),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), TOO_BIG, ids=[f"{k}={str(v)[:12]}" for k, v, _ in TOO_BIG]
)
def test_sizes_that_cannot_fit_are_refused_with_the_memory_they_need(key, value, message):
    with pytest.raises(ParamsError) as info:
        validate_params(set_key(default_params(), key, value))
    text = str(info.value)
    assert text.startswith("params.yaml: ") and message in text and "\n" not in text
    assert text.endswith("; at most 4 GiB is allowed")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("steps.max_steps", 10**12),
        ("train.epochs", 100_000),
        ("noise.enumerate_up_to", 10**6),
        ("data.n_per_class", 10**6),
    ],
)
def test_large_sizes_that_fit_are_accepted(key, value):
    """max_steps is a loop (time, not memory); the others stay under the budget."""
    validate_params(set_key(default_params(), key, value))


def test_the_memory_estimates_bound_what_a_run_allocates(tmp_path):
    """The per-item costs are upper bounds of what tracemalloc measures on a small case."""
    import tracemalloc

    from batchgraph.core.memory import HISTORY_RECORD_BYTES
    from batchgraph.study.runs import run_files, train_study

    raw = default_params()
    set_key(raw, "train.epochs", 500)
    params = validate_params(raw)
    data = make_dataset(100, [[1, 2], [1, -2]], 1.0, 0.25, 0)
    tracemalloc.start()
    run_files(train_study(params, data, 150))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= 5 * 500 * HISTORY_RECORD_BYTES


def test_a_stage_refuses_a_size_that_cannot_fit_before_it_starts(tmp_path):
    write_params(tmp_path, set_key(default_params(), "train.epochs", 10**9))
    before = snapshot(tmp_path)
    assert_refused(run_stage(tmp_path, "generate"), "needs about", tmp_path, before)


@pytest.mark.parametrize("option", sorted(p.stem for p in (ROOT / "conf" / "critical").glob("*.yaml")))
def test_every_shipped_critical_option_composes_and_validates(option):
    params = composed_params([f"critical={option}"], conf_dir=ROOT / "conf")
    assert params.critical.batch_sizes == sorted(params.critical.batch_sizes)
    assert params.model_dump() | {"critical": None} == composed_params(
        conf_dir=ROOT / "conf"
    ).model_dump() | {"critical": None}  # an option of the critical group changes only the critical section

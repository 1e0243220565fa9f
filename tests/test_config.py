"""params.yaml is the composition of conf/; the schema refuses bad values with one line naming the key."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from batchgraph.study.config import Params, ParamsError, compose, load_params, validate_params
from helpers import ROOT, default_params, run_stage, set_key, write_params


def test_committed_params_equal_the_composition_of_conf():
    assert (ROOT / "params.yaml").read_text() == compose(conf_dir=ROOT / "conf")


def test_committed_params_are_valid_and_the_documented_defaults():
    params = load_params(ROOT / "params.yaml")
    assert params == Params()
    assert params.data.n_train == 150 and params.data.n_test == 50


PRESETS = sorted((ROOT / "conf/study").glob("*.yaml"))
# What each preset changes from the defaults besides its name, as its header comment says.
EFFECTS = {
    "seed_report": {},
    "seed_published": {"train.lr_scaling": "inverse"},
    "linear_scaling": {"train.lr_scaling": "linear"},
    "steps_to_target": {
        "study.batch_sizes": [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 150],
        "steps.seeds": list(range(10)),
    },
}


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_every_shipped_preset_composes_validates_and_does_what_it_says(preset):
    assert preset.read_text().startswith("# @package _global_\n#"), "a preset says what it does"
    params = validate_params(yaml.safe_load(compose([f"study={preset.stem}"], conf_dir=ROOT / "conf")))
    assert params.study.name == preset.stem
    if preset.stem in EFFECTS:
        default, changed = _flat(Params().model_dump()), _flat(params.model_dump())
        diff = {k: v for k, v in changed.items() if v != default[k] and k != "study.name"}
        assert diff == EFFECTS[preset.stem]


def test_every_documented_preset_effect_has_a_preset():
    assert set(EFFECTS) <= {p.stem for p in PRESETS}


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

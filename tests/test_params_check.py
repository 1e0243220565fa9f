"""`dvc exp run` composes no params the schema refuses: the check DVC's Hydra loads from
src/batchgraph/plugins/ (.dvc/config), run through DVC's own composition, and the function it calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from configobj import ConfigObj
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import OmegaConf

from batchgraph.cli.params import check_composed, compose
from batchgraph.core.config import ParamsError
from helpers import HOSTILE_OVERRIDES, ROOT, default_params, set_key

# What `dvc exp run` calls to compose params.yaml (dvc/repo/experiments/queue/base.py,
# ``_update_params``), with the hydra section of .dvc/config, in an interpreter of its own.
COMPOSE = (
    "import json, sys; from dvc.utils.hydra import compose_and_dump; "
    "compose_and_dump(*json.loads(sys.argv[1]))"
)


def dvc_compose(tmp_path, *overrides: str) -> tuple[subprocess.CompletedProcess, str | None]:
    """DVC's composition of params.yaml into ``tmp_path``: the process's result and the file's text
    (None if it was not written)."""
    hydra = ConfigObj(str(ROOT / ".dvc" / "config"))["hydra"]
    out = tmp_path / "params.yaml"
    root = str(ROOT)
    args = [
        str(out),
        os.path.join(root, hydra["config_dir"]),
        None,
        hydra["config_name"],
        os.path.join(root, hydra.get("plugins_path", "")),
        list(overrides),
    ]
    result = subprocess.run(
        [sys.executable, "-c", COMPOSE, json.dumps(args)], cwd=tmp_path, capture_output=True, text=True
    )
    return result, out.read_text() if out.exists() else None


# The hostile values, and two the rest of the schema refuses: a split with no test row (a check
# across sections) and a run too big for memory.
REFUSED = HOSTILE_OVERRIDES | {
    "data.n_per_class=1": "data.test_fraction",
    "train.epochs=1000000000": "train.epochs",
}


@pytest.mark.parametrize(("override", "key"), REFUSED.items(), ids=list(REFUSED))
def test_dvc_refuses_an_override_the_schema_refuses_in_one_line_and_writes_nothing(tmp_path, override, key):
    result, written = dvc_compose(tmp_path, override)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"ERROR: conf/ with {override}: {key} "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert written is None


GOOD = [(), ("train.lr=0.02", "study=seed_published"), ("critical=quick",), ("train.lr=1e-2",)]


@pytest.mark.parametrize("overrides", GOOD, ids=[" ".join(o) or "(none)" for o in GOOD])
def test_dvc_writes_a_good_override_as_batchgraph_params_does(tmp_path, overrides):
    result, written = dvc_compose(tmp_path, *overrides)
    assert result.returncode == 0, result.stderr
    assert written == compose(overrides, conf_dir=ROOT / "conf")
    if not overrides:
        assert written == (ROOT / "params.yaml").read_text()


def test_outside_dvc_the_check_is_absent():
    """batchgraph-params and the Hydra apps never load the plugin: the optional default is
    skipped, hydra.job.env_copy keeps Hydra's empty default, and a refused value still composes
    (batchgraph-params then refuses it with its own message)."""
    text = compose(["study.batch_sizes=[x/../../victim]"], conf_dir=ROOT / "conf")
    assert yaml.safe_load(text)["study"]["batch_sizes"] == ["x/../../victim"]
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = hydra_compose("config", return_hydra_config=True)
    assert list(cfg.hydra.job.env_copy) == []


def test_check_composed_names_the_overrides_and_the_key_and_leaves_the_config_alone():
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        bad = hydra_compose("config", overrides=["train.lr=-1"], return_hydra_config=True)
        good = hydra_compose("config", overrides=["train.lr=0.02"], return_hydra_config=True)
    with pytest.raises(ParamsError) as info:
        check_composed(bad)
    assert str(info.value) == "conf/ with train.lr=-1: train.lr must be greater than 0, got -1"
    check_composed(good)
    # the hydra node, dropped from params.yaml, is neither validated nor resolved
    assert OmegaConf.is_interpolation(good.hydra.sweep, "subdir")
    with pytest.raises(ParamsError) as info:
        check_composed(OmegaConf.create(set_key(default_params(), "train.lr", -1)))
    assert str(info.value) == "conf/ (composed): train.lr must be greater than 0, got -1"

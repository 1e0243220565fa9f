"""The params check of a config while Hydra composes it, as `dvc exp run` composes params.yaml."""

from __future__ import annotations

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import OmegaConf

from batchgraph.cli.params import check_composed
from batchgraph.core.config import ParamsError
from helpers import ROOT, default_params, set_key


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

"""A Hydra plugin module for `dvc exp run`: the params it composes pass the schema before DVC writes
params.yaml, so a refused value never reaches the checkout that follows.

`dvc exp run` composes conf/ with its `-S` overrides, writes params.yaml, then checks the workspace
out against it before any stage runs; that checkout removes whatever sits at an output path it has
no hash for (a batch size `x/../../notes` is `./notes`). DVC puts this module's folder on sys.path
(`.dvc/config`, `hydra.plugins_path`) while Hydra discovers plugins, just before it composes, and
nowhere else does: `batchgraph-params` and the Hydra apps never load it. Importing it registers the
`dvc/params_check` config, which conf/config.yaml names as an optional default, and the resolver
that config puts in `hydra.job.env_copy`. Hydra reads that key while it composes, after applying
the overrides (hydra/_internal/config_loader_impl.py, ``_load_configuration_impl``), and the
resolver validates the params the composed config becomes. DVC drops the hydra node before it
writes params.yaml, so the file is the same with the check as without.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

# The checkout's src/, whose schema the check uses, as its stages do (`PYTHONPATH=src` in dvc.yaml).
SRC = str(Path(__file__).resolve().parents[3])
RESOLVER = "bg.check_params"


def check_params(*, _root_: DictConfig) -> list[str]:
    """The value of ``hydra.job.env_copy`` (no variables to copy) once the composed params pass the
    schema; otherwise DVC ends with the schema's one line and exit status 1."""
    sys.path.insert(0, SRC)
    try:
        from batchgraph.cli.params import check_composed
        from batchgraph.core.config import ParamsError
    finally:
        sys.path.remove(SRC)
    try:
        check_composed(_root_)
    except ParamsError as exc:
        # OmegaConf and Hydra wrap an exception in their own, which DVC reports as an unexpected
        # error over several lines; SystemExit passes all three, and DVC's cleanup runs on the way.
        raise SystemExit(f"ERROR: {exc}") from None
    return []


OmegaConf.register_new_resolver(RESOLVER, check_params, replace=True)
ConfigStore.instance().store(
    group="dvc",
    name="params_check",
    package="_global_",
    node={"hydra": {"job": {"env_copy": "${" + RESOLVER + ":}"}}},
)

"""The study as a Hydra app, one grid point per job, for Hydra's launchers (joblib, submitit, Ray).

    batchgraph-sweep -m train.lr=0.003,0.01 study=seed_report,linear_scaling hydra/launcher=local

It composes the project's conf/ (the presets and keys of params.yaml), validates the result, and
trains every study batch size with the stage code. Each job's output dir gets its composed
``params.yaml``, ``runs/bs_<B>/`` (as the pipeline's runs/), ``summary.csv`` and ``curves.csv``
(as the pipeline's reports/). Like the stages it is a command-line front end: its file I/O goes
through ``core.io``. ``batchgraph-collect <sweep dir>`` gathers the points.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..core.config import Params, validate_params
from ..core.data import make_dataset
from ..core.io import UserError, write_dir, write_text
from ..study.runs import run_files, train_study
from ..tables.summary import curves_table, study_history, summary_table, table_csv
from .points import ERROR_FILE

# The repository's conf/, the one DVC composes: this app needs the source checkout (pip install -e .).
log = logging.getLogger(__name__)
CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def run_point(params: Params, out_dir: str | Path) -> pd.DataFrame:
    """Train every study batch size and write runs/bs_<B>/, summary.csv and curves.csv into ``out_dir``."""
    out_dir = Path(out_dir)
    d = params.data
    data = make_dataset(d.n_per_class, d.means, d.std, d.test_fraction, d.seed)
    for B in params.study.batch_sizes:
        write_dir(out_dir / "runs" / f"bs_{B}", run_files(train_study(params, data, B)))
    # Read back what was written, as the aggregate stage does, so the tables are byte-identical.
    history, lrs = study_history(params.study.batch_sizes, out_dir / "runs")
    summary = summary_table(history, lrs)
    write_text(out_dir / "summary.csv", table_csv(summary))
    write_text(out_dir / "curves.csv", table_csv(curves_table(history, d.n_train)))
    return summary


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def app(cfg: DictConfig) -> dict[int, float] | None:
    """One grid point: validate the composed config, write params.yaml, train, summarise.

    In a sweep (``-m``) a point that fails costs only itself: its reason goes to ``error.txt`` in
    its output dir (``collect`` lists it) and the launcher goes on with the other points.
    """
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    label = " ".join(hc.overrides.task) or "(no overrides)"
    try:
        OmegaConf.resolve(cfg)
        params = validate_params(OmegaConf.to_container(cfg), f"conf/ with {label}")
        write_text(out_dir / "params.yaml", OmegaConf.to_yaml(cfg))
        summary = run_point(params, out_dir)
    except (UserError, MemoryError, OmegaConfBaseException) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if hc.mode != RunMode.MULTIRUN:
            print(f"error: {reason}", file=sys.stderr)
            raise SystemExit(1) from None
        log.error("error: %s", reason)
        write_text(out_dir / ERROR_FILE, reason + "\n")
        return None
    losses = dict(zip(summary["batch_size"].astype(int), summary["train_loss_mean"].astype(float)))
    log.info("%s: %s: train loss %s", label, out_dir, ", ".join(f"B={B} {v:.4g}" for B, v in losses.items()))
    return losses


def cli() -> None:
    """The ``batchgraph-sweep`` command."""
    app()


if __name__ == "__main__":
    app()

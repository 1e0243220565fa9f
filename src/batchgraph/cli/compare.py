"""``make compare``: DVC's experiments table (``dvc exp show --csv`` on stdin) at a terminal's width.

    dvc exp show --csv | python -m batchgraph.cli.compare [COLUMN ...]

One row per experiment (and the workspace and branch it sits on), the params that tell presets
apart and the final train loss at a few batch sizes, with short headers.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from ..core.io import DataError, main_guard
from ..tables.summary import markdown_table

COLUMNS = {
    "study.name": "preset",
    "train.lr": "lr",
    "train.lr_scaling": "scaling",
    "train.epochs": "epochs",
    "bs_1.train_loss": "loss B=1",
    "bs_16.train_loss": "loss B=16",
    "bs_150.train_loss": "loss B=150",
    "bs_150.test_accuracy": "acc B=150",
}


def compact(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The experiments table with a name column and the chosen columns under short headers."""
    missing = [c for c in columns if c not in table]
    if missing:
        raise DataError(f"dvc exp show has no column {', '.join(missing)}; it has {', '.join(table.columns)}")
    name = table["Experiment"].astype(object).where(table["Experiment"].notna(), table["rev"])
    return pd.concat([name.rename("experiment"), table[columns].rename(columns=COLUMNS)], axis=1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m batchgraph.cli.compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("columns", nargs="*", default=list(COLUMNS), help="columns of dvc exp show to keep")
    args = parser.parse_args(argv)
    try:
        table = pd.read_csv(sys.stdin)
    except pd.errors.EmptyDataError:
        raise DataError("stdin: no table; pipe `dvc exp show --csv` into this command") from None
    print(markdown_table(compact(table, args.columns)), end="")


if __name__ == "__main__":
    main_guard(main)

"""`make prune`: remove runs/bs_<B>/ folders of batch sizes that params.yaml no longer lists.

The `aggregate` stage depends on the whole runs/ folder, so such leftovers (from an experiment
run in the workspace with other batch sizes) would make `dvc status` report it as changed.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..core.config import load_params
from ..core.io import main_guard


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.cli.prune", description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--runs", default="runs", help="the folder of the run folders")
    args = parser.parse_args(argv)
    runs = Path(args.runs)
    keep = {f"bs_{b}" for b in load_params(args.params).study.batch_sizes}
    stale = sorted(p for p in runs.glob("bs_*") if p.is_dir() and p.name not in keep)
    for path in stale:
        shutil.rmtree(path)
        print(f"removed {path}")
    if not stale:
        print(f"nothing to prune: every folder in {runs}/ belongs to study.batch_sizes")


if __name__ == "__main__":
    main_guard(main)

"""`make prune`: remove run folders of batch sizes and problems that params.yaml no longer lists.

`aggregate` depends on the whole runs/ folder and `critical_fit` on critical/runs/, so such
leftovers (from an experiment run in the workspace with another grid) would make `dvc status`
report them as changed. What is removed stays in DVC's cache.
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
    parser.add_argument("--runs", default="runs", help="the course study's run folders")
    parser.add_argument("--critical-runs", default="critical/runs", help="the critical study's run folders")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    runs, critical = Path(args.runs), Path(args.critical_runs)
    keep = {f"bs_{b}" for b in params.study.batch_sizes}
    stale = sorted(p for p in runs.glob("bs_*") if p.is_dir() and p.name not in keep)
    c = params.critical
    names, sizes = set(c.problems), {f"bs_{b}" for b in c.batch_sizes}
    for folder in sorted(critical.glob("*")):
        if folder.is_dir() and folder.name not in names:
            stale.append(folder)
        elif folder.is_dir():
            stale += sorted(p for p in folder.glob("bs_*") if p.is_dir() and p.name not in sizes)
    for path in stale:
        shutil.rmtree(path)
        print(f"removed {path}")
    if not stale:
        print(f"nothing to prune: every folder in {runs}/ and {critical}/ belongs to the params")


if __name__ == "__main__":
    main_guard(main)

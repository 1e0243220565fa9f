"""`make prune`: remove runs/bs_<B>/ folders of batch sizes that params.yaml no longer lists.

The `aggregate` stage depends on the whole runs/ folder, so such leftovers (from an experiment
run in the workspace with other batch sizes) would make `dvc status` report it as changed.
"""

from __future__ import annotations

import shutil

from ..config import load_params
from ._io import RUNS_DIR, main_guard


def main() -> None:
    keep = {f"bs_{b}" for b in load_params().study.batch_sizes}
    stale = sorted(p for p in RUNS_DIR.glob("bs_*") if p.is_dir() and p.name not in keep)
    for path in stale:
        shutil.rmtree(path)
        print(f"removed {path}")
    if not stale:
        print(f"nothing to prune: every folder in {RUNS_DIR}/ belongs to study.batch_sizes")


if __name__ == "__main__":
    main_guard(main)

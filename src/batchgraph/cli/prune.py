"""`make prune`: remove run folders of batch sizes and problems that params.yaml no longer lists,
and the lock entries of stages the pipeline no longer defines.

`aggregate` depends on the whole runs/ folder and `critical_fit` on critical/runs/, so such
leftovers (from an experiment run in the workspace with another grid) would make `dvc status`
report them as changed. What is removed stays in DVC's cache. DVC itself never drops a lock entry:
after `train@3` or `critical_train@kappa_7-4` leaves the grid, dvc.lock and critical/dvc.lock keep
its hashes for good; the stages DVC still defines are what `dvc stage list` says.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..core.config import load_params
from ..core.io import main_guard, write_text
from ..critical.cells import STAGES

# A lock file's entry starts with its stage name, indented two spaces, under `stages:`.
ENTRY = re.compile(r"^  (?P<q>['\"]?)(?P<name>[^\s'\"]+)(?P=q):\s*$")


def defined_stages() -> dict[str, set[str]] | None:
    """Pipeline file -> the stage names DVC defines in it (foreach and matrix items expanded), or
    None when DVC cannot say (not a DVC repository, DVC fails)."""
    if not Path(".dvc").is_dir():
        return None
    listed = subprocess.run(
        [sys.executable, "-m", "dvc", "stage", "list", "--all", "--name-only", "-R"],
        capture_output=True, text=True,
    )  # fmt: skip
    if listed.returncode:
        lines = (listed.stderr or listed.stdout).strip().splitlines() or ["no message"]
        print(f"lock files left as they are: `dvc stage list` failed ({lines[-1]})")
        return None
    stages: dict[str, set[str]] = {}  # a pipeline file DVC lists no stage of keeps its lock
    for line in listed.stdout.split():
        file, _, name = line.rpartition(":")
        stages.setdefault(file or "dvc.yaml", set()).add(name)
    return stages


def prune_lock(lock: Path, keep: set[str]) -> list[str]:
    """Drop ``lock``'s entries of stages not in ``keep``, leaving every other byte as DVC wrote it."""
    if not lock.is_file():
        return []
    lines = lock.read_text(encoding="utf-8").splitlines(keepends=True)
    out, dropped, skipping = [], [], False
    for line in lines:
        match = ENTRY.match(line)
        if match:
            skipping = match["name"] not in keep
            if skipping:
                dropped.append(match["name"])
        elif not line.startswith("   ") and line.strip():  # a top-level key ends the stages
            skipping = False
        if not skipping:
            out.append(line)
    if dropped:
        write_text(lock, "".join(out))
    return dropped


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
    sizes = {f"bs_{b}" for b in c.batch_sizes}
    for problem in sorted(p for p in critical.glob("*") if p.is_dir()):
        if problem.name not in c.problems:
            stale.append(problem)
            continue
        for key, sub in STAGES.values():  # each training stage's <problem>/[<sub>/]bs_<B>
            folder = problem / sub if sub else problem
            if sub and problem.name not in getattr(c, key):
                stale += [folder] if folder.is_dir() else []
            else:
                stale += sorted(p for p in folder.glob("bs_*") if p.is_dir() and p.name not in sizes)
    for path in stale:
        shutil.rmtree(path)
        print(f"removed {path}")
    dropped = []
    for pipeline, names in (defined_stages() or {}).items():
        lock = Path(pipeline).with_suffix(".lock")
        for name in prune_lock(lock, names):
            dropped.append(name)
            print(f"removed {lock}'s entry {name}")
    if not stale and not dropped:
        print(
            f"nothing to prune: every folder in {runs}/ and {critical}/ and every lock entry "
            f"belongs to the params"
        )


if __name__ == "__main__":
    main_guard(main)

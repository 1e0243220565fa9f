"""The tests' one toolbox: the stage runner, params in a scratch folder, copies of the repository
and the DVC runner for the end-to-end tests, one snapshot of a folder's files."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def default_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def write_params(folder: Path, params: dict) -> None:
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


PIPELINES = ("dvc.yaml", "critical/dvc.yaml")


def dvc_stages() -> dict[str, dict]:
    """Every stage definition of the project's pipeline files, by name."""
    stages = {}
    for name in PIPELINES:
        stages |= yaml.safe_load((ROOT / name).read_text())["stages"]
    return stages


def stage_args(stage: str, item: str | None = None) -> list[str]:
    """The arguments dvc.yaml passes to ``stage`` (its paths), ``${item}`` filled in for a foreach stage."""
    spec = dvc_stages().get(stage)
    if spec is None:
        return []
    cmd = spec.get("do", spec)["cmd"]
    if item is not None:
        cmd = cmd.replace("${item}", item)
    words = shlex.split(cmd)
    return words[words.index(stage) + 1 :]


def run_stage(folder: Path, stage: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m batchgraph.stages <stage>`` in ``folder`` with dvc.yaml's paths, as DVC would run
    it, but in this process (a new interpreter per call would cost more than most stages): the
    runner's exit status, stdout and stderr, and for an exception nothing caught, its traceback
    and status 1, as the interpreter would give.

    For ``train``, ``--batch-size B`` among ``args`` picks the foreach item; for
    the critical study's matrix stages, ``--problem P --batch-size B`` the matrix item."""
    args = list(args)
    picked = {}
    for flag in ("--problem", "--batch-size"):
        if flag in args:
            i = args.index(flag)
            picked[flag] = args[i + 1]
            del args[i : i + 2]
    words = stage_args(stage, picked.get("--batch-size"))
    words = [
        w.replace("${item.problem}", picked.get("--problem", "")).replace(
            "${item.bs}", picked.get("--batch-size", "")
        )
        for w in words
    ]
    from batchgraph.stages.__main__ import run

    argv = [stage, *words, *args]
    out, err, status = io.StringIO(), io.StringIO(), 0
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run(argv)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:
                traceback.print_exc()
                status = 1
    finally:
        os.chdir(cwd)
    return subprocess.CompletedProcess(["batchgraph.stages", *argv], status, out.getvalue(), err.getvalue())


def set_key(params: dict, dotted: str, value) -> dict:
    *path, last = dotted.split(".")
    node = params
    for part in path:
        node = node[part]
    node[last] = value
    return params


OUTPUTS = ("dvc.lock", "data", "runs", "reports")  # what a pipeline run writes


def snapshot(folder: Path, names=None) -> dict[str, bytes]:
    """Every file under ``folder`` (or under its entries ``names``) and its bytes: to show that a
    refused command changed nothing, or that two runs wrote the same. With ``names``, .gitignore
    files and leftovers of interrupted writes are left out."""
    if names is None:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    files = {}
    for name in names:
        path = folder / name
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in found:
            if f.name != ".gitignore" and not leftover(f.relative_to(folder)):
                files[str(f.relative_to(folder))] = f.read_bytes()
    return files


def assert_refused(result: subprocess.CompletedProcess, message: str, folder: Path, before: dict) -> None:
    """The promise for a value or file a user can get wrong: exit 1, one line on stderr starting
    ``error: `` and naming what is wrong, no traceback, and no file written or changed."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert snapshot(folder) == before


# `dvc exp run -S` overrides the schema refuses, each with the key its message names: output paths
# that climb out of runs/ and critical/runs/ onto the user's own victim/ (runs/bs_x/../../victim is
# victim/, critical/runs/../../victim/bs_4 is victim/bs_4), and a command inside a value.
HOSTILE_OVERRIDES = {
    "study.batch_sizes=[x/../../victim]": "study.batch_sizes.0",
    "critical.problems=[../../victim]": "critical.problems.0",
    "study.batch_sizes=[1,'1$(touch pwned)']": "study.batch_sizes.1",
    "critical.problems=['kappa_10$(touch pwned)']": "critical.problems.0",
}


# --- Copies of the repository for the end-to-end tests -----------------------------------------

# The stages of dvc.yaml that compute something other stages read (their outputs are DVC-cached).
COMPUTING = re.compile(
    r"^(validate|generate|baseline|train@\d+|published|noise|steps|critical/dvc.yaml:critical_(train|optimal|init)@.+)$"
)


def env_for(repo: Path) -> dict[str, str]:
    """Stages run `python` from PATH (this venv's) and import the copy's own code."""
    return os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(repo / "src")}


def sh(cwd: Path, *cmd: str, check: bool = True, timeout: int = 1200) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env_for(cwd), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(cwd, str(BIN / "dvc"), *args, check=check)


def copy_worktree(dest: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) committed in a fresh git repository."""
    listed = sh(ROOT, "git", "ls-files", "-co", "--exclude-standard", "-z").stdout.split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    sh(dest, "git", "init", "-q")
    commit(dest, "snapshot")
    return dest


def commit(repo: Path, message: str) -> None:
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", message)


def clone(source: Path, dest: Path, cache: Path | None = None) -> Path:
    """A git clone of ``source``; with ``cache``, its DVC cache is that folder and the workspace is
    checked out from it (as after `dvc pull`)."""
    sh(source, "git", "clone", "-q", str(source), str(dest))
    if cache is not None:
        dvc(dest, "cache", "dir", "--local", str(cache))
        dvc(dest, "checkout", "-q")
    return dest


def ran(log: str) -> set[str]:
    """The stages a dvc log says it ran."""
    return set(re.findall(r"Running stage '([^']+)'", log))


def restored(log: str) -> set[str]:
    """The stages a dvc log says it restored from the run cache."""
    return set(re.findall(r"Stage '([^']+)' is cached - skipping run", log))


def leftover(path: Path) -> bool:
    """A temporary file or folder of an interrupted atomic write (ignored by git and DVC)."""
    return any(part.startswith(".") and part.endswith((".tmp", ".old")) for part in path.parts)

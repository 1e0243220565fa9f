"""Copies of the repository for end-to-end tests, and one cold `dvc repro` shared by all of them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The stages of dvc.yaml that compute something other stages read (their outputs are DVC-cached).
COMPUTING = re.compile(
    r"^(generate|baseline|train@\d+|published|noise|steps|critical/dvc.yaml:critical_train@.+)$"
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


def snapshot(folder: Path, names=("dvc.lock", "data", "runs", "reports")) -> dict[str, bytes]:
    """Every output file's bytes, leaving out .gitignore files and leftovers of interrupted writes."""
    files = {}
    for name in names:
        path = folder / name
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in found:
            if f.name != ".gitignore" and not leftover(f.relative_to(folder)):
                files[str(f.relative_to(folder))] = f.read_bytes()
    return files

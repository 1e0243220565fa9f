"""Failure and recovery with DVC's cache: whatever was interrupted, `dvc repro` (or `dvc checkout`)
returns to a clean `dvc status -q` with byte-identical outputs, restoring computed stages from the
run cache instead of computing them again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import COMPUTING, OUTPUTS, clone, dvc, env_for, ran, sh, snapshot

# Run as `python` by DVC: kills the stage (SIGKILL, no clean-up) at the FAULT_AT-th atomic write
# (os.replace of a file, Path.rename of a folder) of the stage whose arguments contain FAULT_STAGE,
# or with FAULT_MODE=enospc fails that write as a full disk does.
INJECT = """
import os, pathlib, runpy, signal, sys
args = " ".join(sys.argv[1:]) + " "
if os.environ["FAULT_STAGE"] in args:
    count, at = [0], int(os.environ["FAULT_AT"])
    def hit():
        count[0] += 1
        if count[0] == at:
            if os.environ.get("FAULT_MODE") == "enospc":  # the disk fills up at this write
                raise OSError(28, "No space left on device")
            os.kill(os.getpid(), signal.SIGKILL)
    replace, rename = os.replace, pathlib.Path.rename
    os.replace = lambda *a, **k: (hit(), replace(*a, **k))[1]
    pathlib.Path.rename = lambda self, *a: (hit(), rename(self, *a))[1]
assert sys.argv[1] == "-m"
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


@pytest.fixture
def repo(tmp_path, computed):
    return clone(computed["repo"], tmp_path / "clone", cache=computed["cache"])


def faulty_python(folder: Path) -> Path:
    folder.mkdir()
    (folder / "inject.py").write_text(INJECT)
    wrapper = folder / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{folder / "inject.py"}" "$@"\n')
    wrapper.chmod(0o755)
    return folder


def repro_with_fault(repo: Path, bin_dir: Path, stage: str, match: str, at: int, mode: str = "kill"):
    env = env_for(repo) | {"FAULT_STAGE": match, "FAULT_AT": str(at), "FAULT_MODE": mode}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "repro", "-f", "-s", stage],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "match"),
    [
        ("generate", "generate "),
        ("train@1", "train --batch-size 1 "),
        ("steps", "steps "),
        ("aggregate", "aggregate "),
        ("report", "report "),
    ],
)
def test_a_stage_killed_inside_any_write_recovers_with_repro(tmp_path, repo, stage, match):
    before = snapshot(repo, OUTPUTS)
    bin_dir = faulty_python(tmp_path / "bin")
    kills = 0
    for at in range(1, 12):
        result = repro_with_fault(repo, bin_dir, stage, match, at)
        if result.returncode == 0:  # fewer writes than `at`: the stage finished
            break
        kills += 1
        assert "failed to reproduce" in result.stderr, result.stderr
        log = dvc(repo, "repro").stdout
        assert not {s for s in ran(log) if COMPUTING.match(s)}, log
        assert dvc(repo, "status", "-q", check=False).returncode == 0
        assert sh(repo, "git", "status", "--porcelain").stdout == ""
        after = snapshot(repo, OUTPUTS)
        assert after == before, sorted(
            k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
        )
    assert kills >= 1 and result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "match", "at"), [("train@1", "train --batch-size 1 ", 1), ("aggregate", "aggregate ", 3)]
)
def test_a_full_disk_is_one_line_and_repro_recovers(tmp_path, repo, stage, match, at):
    """ENOSPC at a write: the stage fails with one line naming the file, writes nothing half, and
    once there is room `dvc repro` restores byte-identical outputs from the cache."""
    before = snapshot(repo, OUTPUTS)
    result = repro_with_fault(repo, faulty_python(tmp_path / "bin"), stage, match, at, mode="enospc")
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error: ")]
    assert any("cannot be written (No space left on device)" in line for line in errors), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    log = dvc(repo, "repro").stdout
    assert not {s for s in ran(log) if COMPUTING.match(s)}, log
    assert dvc(repo, "status", "-q", check=False).returncode == 0
    assert snapshot(repo, OUTPUTS) == before


@pytest.mark.slow
def test_a_kill_mid_swap_leaves_nothing_dvc_sees(repo):
    (repo / "runs" / ".bs_1.abc123.tmp").mkdir()
    (repo / "runs" / ".bs_1.abc123.tmp" / "history.csv").write_text("half\n")
    (repo / "runs" / ".bs_1.old").mkdir()
    (repo / "reports" / ".summary.csv.x1y2.tmp").write_text("half\n")
    assert dvc(repo, "status", "-q", check=False).returncode == 0


@pytest.mark.slow
def test_a_lock_file_cut_mid_line_is_recovered_from_git(repo):
    lock = (repo / "dvc.lock").read_text()
    (repo / "dvc.lock").write_text(lock[: len(lock) // 2 + 7])
    # cut mid-line, the lock either fails to parse or misses stages: DVC calls the pipeline stale
    assert dvc(repo, "status", "-q", check=False).returncode != 0
    sh(repo, "git", "checkout", "dvc.lock")
    log = dvc(repo, "repro").stdout
    assert "Data and pipelines are up to date" in log
    assert dvc(repo, "status", "-q", check=False).returncode == 0


def test_an_interrupt_while_the_stage_loads_is_one_line(tmp_path):
    """Ctrl-C while NumPy imports: the runner's guard covers imports too."""
    fake = tmp_path / "fake" / "numpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise KeyboardInterrupt\n")
    src = Path(__file__).resolve().parents[1] / "src"
    env = os.environ | {"PYTHONPATH": f"{fake.parent}{os.pathsep}{src}"}
    args = ["train", "--batch-size", "1", "--data", "d.csv", "--out", "o"]
    result = subprocess.run(
        [sys.executable, "-m", "batchgraph.stages", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 130
    assert result.stderr.splitlines() == ["error: interrupted before the stage started; nothing was written"]
    assert not (tmp_path / "o").exists()

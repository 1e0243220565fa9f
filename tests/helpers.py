"""Running the real stage commands in a scratch project folder."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


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
    """``python -m batchgraph.stages <stage>`` in ``folder`` with dvc.yaml's paths, as DVC would run it.

    For ``train``, ``--batch-size B`` among ``args`` picks the foreach item; for
    ``critical_train``, ``--rho R --batch-size B`` the matrix item."""
    args = list(args)
    picked = {}
    for flag in ("--rho", "--batch-size"):
        if flag in args:
            i = args.index(flag)
            picked[flag] = args[i + 1]
            del args[i : i + 2]
    words = stage_args(stage, picked.get("--batch-size"))
    words = [
        w.replace("${item.rho}", picked.get("--rho", "")).replace(
            "${item.bs}", picked.get("--batch-size", "")
        )
        for w in words
    ]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "batchgraph.stages", stage, *words, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def set_key(params: dict, dotted: str, value) -> dict:
    *path, last = dotted.split(".")
    node = params
    for part in path:
        node = node[part]
    node[last] = value
    return params


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes, to show a refused command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(result: subprocess.CompletedProcess, message: str, folder: Path, before: dict) -> None:
    """The promise for a value or file a user can get wrong: exit 1, one line on stderr starting
    ``error: `` and naming what is wrong, no traceback, and no file written or changed."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert snapshot(folder) == before

"""Atomic writes give outputs the mode any new file gets: the umask decides, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

import pytest

from batchgraph.core.io import write_dir, write_json, write_text


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_and_folders_honour_the_umask(tmp_path, umask):
    write_text(tmp_path / "a.csv", "x\n")
    write_json(tmp_path / "m.json", {"a": 1})
    write_dir(tmp_path / "run", {"history.csv": "x\n", "figures/f.png": b"\x89PNG"})
    for name in ("a.csv", "m.json", "run/history.csv", "run/figures/f.png"):
        assert mode(tmp_path / name) == 0o666 & ~umask, name
    for name in ("run", "run/figures"):
        assert mode(tmp_path / name) == 0o777 & ~umask, name


def test_under_umask_022_outputs_are_0644(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.csv", "x\n")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.csv") == 0o644

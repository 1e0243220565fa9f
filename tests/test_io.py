"""Atomic writes give outputs the mode any new file gets: the umask decides, not mkstemp's 0600."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from batchgraph.core.io import OutputError, write_dir, write_json, write_text
from helpers import snapshot


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


# --- Hostile file systems: one line, the previous output untouched, nothing left behind ----------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _eacces(*args, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


class _FullDisk:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, fd, *args, **kwargs):
        os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    write = staticmethod(_enospc)


# (id, writer, what to patch, replacement, reason in the message): a read-only folder refuses the
# temporary file (root ignores chmod, so it is simulated), a full disk the write of its bytes.
FAULTS = [
    ("file, read-only folder", "write_text", "tempfile.mkstemp", _eacces, "Permission denied"),
    ("file, full disk", "write_text", "os.fdopen", _FullDisk, "No space left on device"),
    ("file, full disk on rename", "write_text", "os.replace", _enospc, "No space left on device"),
    ("folder, read-only folder", "write_dir", "tempfile.mkdtemp", _eacces, "Permission denied"),
    ("folder, full disk", "write_dir", "pathlib.Path.write_text", _enospc, "No space left on device"),
    ("folder, full disk on rename", "write_dir", "pathlib.Path.rename", _enospc, "No space left on device"),
]


@pytest.mark.parametrize(
    ("writer", "target", "replacement", "reason"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_an_output_that_cannot_be_written_is_one_line_and_the_old_one_stays(
    tmp_path, monkeypatch, writer, target, replacement, reason
):
    out = tmp_path / "out"
    write_text(out / "table.csv", "old\n")
    write_dir(out / "run", {"history.csv": "old\n"})
    before = snapshot(tmp_path)
    monkeypatch.setattr(target, replacement)
    with pytest.raises(OutputError) as info:
        if writer == "write_text":
            write_text(out / "table.csv", "new\n")
        else:
            write_dir(out / "run", {"history.csv": "new\n"})
    monkeypatch.undo()
    message = str(info.value)
    assert "\n" not in message and reason in message and "cannot be written" in message
    assert snapshot(tmp_path) == before  # the old output, and no temporary file


@pytest.mark.parametrize("name", ["reports/figures", "reports/critical/figures"])
def test_a_symlinked_figures_folder_stays_a_link_and_leaves_nothing_behind(tmp_path, name):
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere" / "figures"
    write_dir(elsewhere, {"old.png": b"\x89PNG old"})
    link = repo / name
    link.parent.mkdir(parents=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    write_dir(link, {"a.png": b"\x89PNG new"})
    assert link.is_symlink() and sorted(p.name for p in link.iterdir()) == ["a.png"]
    left = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.name.endswith((".old", ".tmp"))]
    assert left == []

"""`make check-cache` finds what DVC would restore without a word: a cache object whose content no
longer matches its name, and outputs a remote lacks; it names each, exits 1, and 0 when all is well."""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from batchgraph.cli.check_cache import main
from helpers import ROOT, dvc, env_for

CHECK = [sys.executable, "-m", "batchgraph.cli.check_cache"]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """A DVC repository (no git) tracking a text file with CRLF line ends and a folder (a .dir object)."""
    repo = tmp_path_factory.mktemp("cache") / "repo"
    repo.mkdir()
    dvc(repo, "init", "-q", "--no-scm")
    (repo / "table.csv").write_bytes(b"a,b\r\n1,2\r\n")
    (repo / "run").mkdir()
    (repo / "run" / "history.csv").write_text("seed,loss\n0,0.5\n")
    (repo / "run" / "weights.bin").write_bytes(bytes(range(256)))
    dvc(repo, "add", "-q", "table.csv", "run")
    return repo


@pytest.fixture
def repo(tracked, tmp_path) -> Path:
    return Path(shutil.copytree(tracked, tmp_path / "repo", symlinks=True))


def check(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """The checker as `make check-cache` runs it, asking DVC for the cache folder and the remote."""
    return subprocess.run([*CHECK, *args], cwd=repo, env=env_for(ROOT), capture_output=True, text=True)


def check_here(repo: Path, remote: bool = False) -> subprocess.CompletedProcess:
    """The checker in this process on ``repo``'s cache, without asking DVC where it is (cheaper)."""
    out, err, status = io.StringIO(), io.StringIO(), 0
    args = ["--repo", str(repo), "--cache", str(repo / ".dvc" / "cache")] + (
        [] if remote else ["--no-remote"]
    )
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            status = exc.code
    return subprocess.CompletedProcess(CHECK, status, out.getvalue(), err.getvalue())


def objects(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / ".dvc" / "cache" / "files" / "md5").rglob("*") if p.is_file())


def flip_bit(path: Path, at: int = 0) -> None:
    path.chmod(0o644)  # DVC makes cache objects read-only
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def file_object(repo: Path, name: str) -> Path:
    digest = hashlib.md5((repo / name).read_bytes()).hexdigest()
    return repo / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]


def legacy_object(repo: Path, content: bytes) -> Path:
    """An object in DVC 2's layout, named by md5 with CRLF read as LF (``md5-dos2unix``)."""
    digest = hashlib.md5(content.replace(b"\r\n", b"\n")).hexdigest()
    path = repo / ".dvc" / "cache" / digest[:2] / digest[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_a_sound_cache_passes_with_every_object_checked(repo):
    legacy_object(repo, b"x,y\r\n3,4\r\n")
    result = check(repo)
    assert result.returncode == 0, result.stderr
    # DVC 3's objects (three files and one folder listing) and the legacy one
    assert f"checked {len(objects(repo)) + 1} objects" in result.stdout and ": 0 bad" in result.stdout


def damage_text(repo):
    flip_bit(file_object(repo, "table.csv"), at=3)
    return file_object(repo, "table.csv")


def damage_binary(repo):
    flip_bit(file_object(repo, "run/weights.bin"), at=100)
    return file_object(repo, "run/weights.bin")


def damage_listing(repo):
    (listing,) = [p for p in objects(repo) if p.name.endswith(".dir")]
    flip_bit(listing, at=5)
    return listing


def damage_legacy(repo):
    path = legacy_object(repo, b"x,y\r\n3,4\r\n")
    flip_bit(path, at=0)
    return path


DAMAGES = [damage_text, damage_binary, damage_listing, damage_legacy]


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.__name__ for d in DAMAGES])
def test_a_flipped_bit_is_named_and_exits_1(repo, damage):
    bad = damage(repo)
    result = check_here(repo)
    assert result.returncode == 1
    assert f"bad object {bad}: its content hashes to" in result.stderr
    assert result.stderr.count("bad object ") == 1  # only the damaged one
    assert "Traceback" not in result.stderr
    assert "error: 1 corrupt cache objects; remove them" in result.stderr and "dvc pull" in result.stderr


@pytest.mark.slow  # a push and two `dvc status -c`: 4 s
def test_outputs_the_remote_lacks_are_named_and_exit_1(repo, tmp_path):
    remote = tmp_path / "remote"
    dvc(repo, "remote", "add", "-q", "-d", "shared", str(remote))
    dvc(repo, "push", "-q")
    result = check_here(repo, remote=True)
    assert result.returncode == 0, result.stderr
    assert "in sync" in result.stdout
    # as after an interrupted push: an object never made it to the remote
    lost = (
        remote
        / "files"
        / "md5"
        / file_object(repo, "table.csv").relative_to(repo / ".dvc" / "cache" / "files" / "md5")
    )
    lost.unlink()
    result = check_here(repo, remote=True)
    assert result.returncode == 1
    assert "remote: table.csv is" in result.stderr and "dvc push --run-cache" in result.stderr

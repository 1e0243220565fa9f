"""`make check-cache`: every object in DVC's cache against its name, then `dvc status -c` when a
remote is configured. Exit 1 naming each bad object (or what the remote lacks), 0 when all is well.

DVC trusts its cache: a flipped bit in an object is restored by `dvc checkout` without a word, and
even `dvc repro -f` links the existing object instead of the fresh output. An object's name is the
md5 of its content (dvc-data's ``hashfile``): under ``files/md5/`` (DVC 3) of the bytes as they
are; in the two-letter folders at the cache's root (DVC 2's layout) as ``md5-dos2unix``, with
CRLF read as LF in every 1 MiB chunk that looks like text. A ``.dir`` object is the JSON listing of
a folder (``[{"md5": …, "relpath": …}, …]``, sorted by relpath) and is named by the md5 of those
bytes plus ``.dir``. The run cache (``runs/``) is named by stage, not by content, and is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ..core.io import UserError, main_guard

CHUNK = 2**20  # dvc-data's fobj_md5 chunk size
TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"
HEX = re.compile(r"[0-9a-f]{2}")
NAME = re.compile(r"[0-9a-f]{30}(\.dir)?")


def _is_text(block: bytes) -> bool:
    """dvc-data's ``istextblock`` on the first 512 bytes of a chunk."""
    block = block[:512]
    if not block:
        return True
    if b"\x00" in block:
        return False
    return len(block.translate(None, TEXT_CHARS)) / len(block) <= 0.30


def content_md5(path: Path, dos2unix: bool = False) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk.replace(b"\r\n", b"\n") if dos2unix and _is_text(chunk) else chunk)
    return md5.hexdigest()


def objects(cache: Path):
    """(path, expected md5, is a listing, dos2unix) for every object file in ``cache``."""
    layouts = [(cache / "files" / "md5", False), (cache, True)]
    for root, legacy in layouts:
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and HEX.fullmatch(p.name)):
            for path in sorted(folder.iterdir()):
                if path.is_file() and NAME.fullmatch(path.name):
                    yield (
                        path,
                        folder.name + path.name.removesuffix(".dir"),
                        path.name.endswith(".dir"),
                        legacy,
                    )


def check_object(path: Path, expected: str, listing: bool, dos2unix: bool) -> str | None:
    """What is wrong with one object, or None."""
    try:
        got = content_md5(path, dos2unix)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if got != expected:
        return f"its content hashes to {got}"
    if listing:
        try:
            entries = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "is not a JSON folder listing"
        if not (isinstance(entries, list) and all(isinstance(e, dict) and "relpath" in e for e in entries)):
            return "is not a list of {md5, relpath} entries"
    return None


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True)


def cache_dir(repo: Path) -> Path:
    result = _dvc("cache", "dir", cwd=repo)
    if result.returncode:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no message"]
        raise UserError(f"`dvc cache dir` failed in {repo}: {lines[-1]}")
    return Path(result.stdout.strip())


def remote_in_sync(repo: Path) -> bool:
    """`dvc status -c`: whether the default remote holds every output the cache has (plain
    `dvc status -c` exits 0 either way; its JSON lists what differs)."""
    status = _dvc("status", "--cloud", "--json", cwd=repo)
    try:
        differs = json.loads(status.stdout) if status.returncode == 0 else None
    except json.JSONDecodeError:
        differs = None
    if differs is None:
        lines = (status.stderr or status.stdout).strip().splitlines() or ["no message"]
        print(f"`dvc status -c` failed: {lines[-1]}", file=sys.stderr)
        return False
    for name, state in sorted(differs.items()):
        print(f"remote: {name} is {state} (`dvc status -c`)", file=sys.stderr)
    if differs:
        print(
            "the remote and the cache differ: `dvc push --run-cache` (after fixing any bad object above)",
            file=sys.stderr,
        )
    else:
        print("the cache and the remote are in sync (`dvc status -c`)")
    return not differs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m batchgraph.cli.check_cache", description=__doc__)
    parser.add_argument("--repo", default=".", help="the DVC repository (default: here)")
    parser.add_argument("--cache", help="the cache folder (default: what `dvc cache dir` says)")
    parser.add_argument("--no-remote", action="store_true", help="skip `dvc status -c`")
    args = parser.parse_args(argv)
    repo = Path(args.repo)
    cache = Path(args.cache) if args.cache else cache_dir(repo)
    bad, count = [], 0
    for path, expected, listing, legacy in objects(cache):
        count += 1
        problem = check_object(path, expected, listing, legacy)
        if problem:
            bad.append(path)
            print(f"bad object {path}: {problem}", file=sys.stderr)
    print(f"checked {count} objects in {cache}: {len(bad)} bad")
    remote_missing = False
    if not args.no_remote and _dvc("remote", "list", cwd=repo).stdout.strip():
        remote_missing = not remote_in_sync(repo)
    if bad:
        names = " ".join(os.fspath(p) for p in bad)
        print(
            f"error: {len(bad)} corrupt cache objects; remove them (rm {names}), then "
            f"`dvc repro -f <stage>` or `dvc pull` to restore them",
            file=sys.stderr,
        )
    if bad or remote_missing:
        raise SystemExit(1)


if __name__ == "__main__":
    main_guard(main)

"""File I/O for the stages: atomic writes, CSV and JSON, the data file, one-line user errors. No pickle."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .data import Dataset

SPLITS = ("train", "test")


class UserError(Exception):
    """An error the user can cause and mend (bad params, a missing or damaged file): one line."""


class DataError(UserError):
    """A missing or damaged input file; the message names the file and what is wrong."""


class OutputError(UserError):
    """An output that cannot be written (a read-only folder, a full disk); nothing was changed."""


# Features beyond this magnitude make gradients and their variances overflow (1e308 gives a
# noise table of NaN) long before anything is learnt; generated data stays far inside it.
FEATURE_LIMIT = 1e12


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(f"{path}: cannot be written ({reason}); the previous output was left as it was")


def main_guard(main: Callable[[], None]) -> None:
    """Run a stage's ``main``; a user-caused error becomes one line on stderr and exit status 1
    (2 for a bad command-line argument, as argparse gives)."""
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(getattr(exc, "exit_status", 1)) from None
    except KeyboardInterrupt:
        print("error: interrupted; outputs were left as they were", file=sys.stderr)
        raise SystemExit(130) from None


def fmt(x: float, digits: int = 10) -> str:
    """A float as text with ``digits`` significant digits: stable bytes across machines."""
    return f"{x:.{digits}g}" if math.isfinite(x) else "nan"


def rounded(x: float, digits: int = 10):
    """A float for JSON: rounded like ``fmt``; NaN becomes null."""
    return float(fmt(x, digits)) if math.isfinite(x) else None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place.

    mkstemp creates the file 0600; it gets the mode any new file would (0644 under umask 022).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_dir(path: str | Path, files: dict[str, str | bytes]) -> None:
    """Replace the directory ``path`` with exactly ``files``, all at once.

    The files are written into a temporary sibling which is then swapped in, so an
    interrupted stage leaves the old directory (or none), never a mix of old and new. A
    symlinked ``path`` keeps its link: the folder it points to is the one replaced.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    old = path.with_name(f".{path.name}.old")
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700, not what a new folder gets
        for name, content in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8", newline="")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            old.rename(path)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise


def csv_text(header, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def dataset_csv(data: Dataset) -> str:
    """data/blobs.csv: ``x1, …, xd, label, split``; train rows first, in training order."""
    d = data.X_train.shape[1]
    header = [f"x{j + 1}" for j in range(d)] + ["label", "split"]
    rows = []
    for X, y, split in ((data.X_train, data.y_train, "train"), (data.X_test, data.y_test, "test")):
        rows += [[*map(repr, map(float, x)), int(label), split] for x, label in zip(X, y)]
    return csv_text(header, rows)


def read_dataset(path: str | Path, rows: tuple[int, int] | None = None) -> Dataset:
    """Read and check the data CSV; a DataError names the file, the line and what is wrong.

    ``rows`` = (train, test), the split sizes params.yaml's ``data`` gives: a file of other sizes is
    stale or damaged (a train split smaller than a batch size would train on short batches)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro generate` to create it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None
    if text and not text.endswith("\n"):
        raise DataError(f"{path}: ends mid-line; the file is truncated")
    reader = csv.reader(io.StringIO(text))
    try:
        lines = list(reader)
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL byte, a stray quote
        raise DataError(f"{path}: line {reader.line_num}: {exc}; the file is damaged") from None
    if not lines:
        raise DataError(f"{path}: is empty; expected a header x1, …, xd, label, split")
    header = lines[0]
    d = len(header) - 2
    expected = [f"x{j + 1}" for j in range(max(d, 1))] + ["label", "split"]
    if d < 1 or header != expected:
        raise DataError(f"{path}: columns must be {', '.join(expected)}, got {', '.join(header)}")
    features: dict[str, list] = {s: [] for s in SPLITS}
    labels: dict[str, list] = {s: [] for s in SPLITS}
    for number, row in enumerate(lines[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} fields, expected {len(header)}")
        *xs, label, split = row
        try:
            x = [float(v) for v in xs]
        except ValueError:
            raise DataError(f"{path}: line {number}: features must be numbers, got {xs}") from None
        if not all(map(math.isfinite, x)):
            raise DataError(f"{path}: line {number}: features must be finite, got {xs}")
        if max(map(abs, x)) > FEATURE_LIMIT:
            raise DataError(
                f"{path}: line {number}: features must be at most {FEATURE_LIMIT:g} in size, got {xs}"
            )
        if label not in ("0", "1"):
            raise DataError(f"{path}: line {number}: label must be 0 or 1, got {label!r}")
        if split not in SPLITS:
            raise DataError(f"{path}: line {number}: split must be train or test, got {split!r}")
        features[split].append(x)
        labels[split].append(float(label))
    for split in SPLITS:
        if not features[split]:
            raise DataError(f"{path}: has no {split} rows; the file is truncated or damaged")
    if len(set(labels["train"])) < 2:
        only = int(labels["train"][0])
        raise DataError(
            f"{path}: every train row has label {only}; logistic regression needs both classes to learn"
        )
    counts = tuple(len(features[split]) for split in SPLITS)
    if rows is not None and counts != tuple(rows):
        raise DataError(
            f"{path}: has {counts[0]} train and {counts[1]} test rows, params.yaml's data gives "
            f"{rows[0]} and {rows[1]}; the file is stale or damaged, run `dvc repro generate`"
        )
    return Dataset(
        np.array(features["train"]),
        np.array(labels["train"]),
        np.array(features["test"]),
        np.array(labels["test"]),
    )


def read_json(path: str | Path):
    """A JSON file; a DataError names the file and what is wrong with it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to compute it") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: is not valid JSON ({exc})") from None
    except RecursionError:
        raise DataError(f"{path}: is not valid JSON (nested too deeply)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_metrics(path: str | Path, keys=(), nullable=()) -> dict:
    """A JSON object with a finite number under each of ``keys`` (``nullable`` ones may also be
    null, a diverged run's value); a DataError names the file and the key."""
    return _check_metrics(read_json(path), path, keys, nullable)


def _check_metrics(obj, path, keys, nullable=(), where: str = "") -> dict:
    if not isinstance(obj, dict):
        raise DataError(f"{path}: {where}must be a JSON object, got {type(obj).__name__}")
    for key in (*keys, *nullable):
        if key not in obj:
            raise DataError(f"{path}: {where}has no {key!r}; the file is damaged, run `dvc repro`")
        value = obj[key]
        if not (_is_number(value) or (value is None and key in nullable)):
            raise DataError(f"{path}: {where}{key} must be a finite number, got {value!r}")
    return obj


def read_published_metrics(path: str | Path) -> dict:
    """runs/published/metrics.json: ``bs_<B>`` -> that batch size's metrics, each with its lr."""
    obj = read_json(path)
    if not isinstance(obj, dict) or not obj:
        raise DataError(f"{path}: must be a non-empty JSON object of bs_<B> entries, got {obj!r:.40}")
    for key, metrics in obj.items():
        if not (key.startswith("bs_") and key[3:].isdigit()):
            raise DataError(f"{path}: keys must be bs_<batch size>, got {key!r}")
        _check_metrics(metrics, path, ["lr"], where=f"{key}: ")
    return obj


def read_weights(path: str | Path, n_features: int) -> dict:
    """A run's weights.json: ``A`` (1, n_features) and ``b`` (1,), finite numbers."""
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path}: must be a JSON object with A and b, got {type(obj).__name__}")
    for key, shape in (("A", (1, n_features)), ("b", (1,))):
        if key not in obj:
            raise DataError(f"{path}: has no {key!r}; the file is damaged, run `dvc repro`")
        value = obj[key]
        rows = value if len(shape) == 2 and isinstance(value, list) else [value]
        ok = (
            isinstance(value, list)
            and len(value) == shape[0]
            and all(isinstance(r, list) and len(r) == shape[-1] and all(map(_is_number, r)) for r in rows)
        )
        if not ok:
            want = "×".join(map(str, shape))
            raise DataError(f"{path}: {key} must be {want} finite numbers, got {json.dumps(value)[:60]}")
    return obj

"""How much memory the study's params ask for, estimated up front, so a size that cannot fit is
refused before any work starts instead of swapping the machine to a halt.

The per-item costs were measured with ``tracemalloc`` on this code (peak bytes per item, rounded
up); they bound what the stages allocate at once, not how long they run: ``steps.max_steps`` is a
loop and costs time, not memory.
"""

from __future__ import annotations

GiB = 2**30
# The most one stage may allocate. Deterministic (not read from the machine), so the same params
# are accepted or refused everywhere; well under the 24 GiB of the machine the study runs on.
MEMORY_BUDGET = 4 * GiB

# generate / read_dataset: the CSV text, its parsed rows and the arrays, per data row.
DATA_ROW_BYTES = 640
# fit(): per model and training row, an epoch's reordered rows, the full-split evaluation and the
# per-example gradients of the noise statistics.
TRAIN_ROW_BYTES = 128
# A run's history while it is built and written as CSV, per (seed, epoch) record.
HISTORY_RECORD_BYTES = 1024
# The study-wide tables (the published stage's CSV, aggregate's pandas frames), per record.
TABLE_RECORD_BYTES = 320
# measured_batch_variance: per enumerated batch (the tuple list, the index matrix, the gather),
# and per sampled batch, each plus so much per batch element.
ENUMERATED_BATCH_BYTES, ENUMERATED_ELEMENT_BYTES = 64, 48
SAMPLED_BATCH_BYTES, SAMPLED_ELEMENT_BYTES = 320, 32
# The critical sweep's lr × seed ensemble: per (seed, lr, example) of a batch (logits,
# probabilities, their gradients; measured 74–89), and per feature of a drawn example of a seed's
# stream (the draw and its batch-major copy), for the widest problem (breast_cancer, 30 features).
CRITICAL_MEMBER_EXAMPLE_BYTES, CRITICAL_STREAM_FEATURE_BYTES = 96, 16
CRITICAL_STREAM_CHUNK, CRITICAL_MAX_FEATURES, CRITICAL_COARSE_SEEDS = 8192, 31, 8


def size(n: float) -> str:
    """Bytes for people: ``372 GiB``, ``1.5 MiB``."""
    units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    text = f"{n:.0f}" if n >= 10 or n == int(n) else f"{n:.1f}"
    return f"{text} {units[i]}"


def estimates(params) -> list[tuple[str, int, str]]:
    """(keys and values that set it, estimated peak bytes, what for), for each allocation that
    grows with the params; ``params`` is a validated ``Params`` (sizes already positive)."""
    d, study, noise = params.data, params.study, params.noise
    seeds = len(study.seeds)
    models = max(seeds, len(params.steps.seeds))
    epochs = params.train.epochs
    out = [
        (f"data.n_per_class {d.n_per_class}", 2 * d.n_per_class * DATA_ROW_BYTES, "for the data"),
        (
            f"data.n_per_class {d.n_per_class} with {models} models",
            models * d.n_train * TRAIN_ROW_BYTES,
            "to train them side by side",
        ),
        (
            f"train.epochs {epochs} with {seeds} study.seeds and {len(study.batch_sizes)} study.batch_sizes",
            seeds * epochs * (HISTORY_RECORD_BYTES + len(study.batch_sizes) * TABLE_RECORD_BYTES),
            "for the run histories",
        ),
        (
            f"baseline.epochs {params.baseline.epochs}",
            params.baseline.epochs * HISTORY_RECORD_BYTES,
            "for the Task 2 run history",
        ),
    ]
    enumerated, sampled = 0, 0
    for B in study.batch_sizes:
        count = _comb_at_most(d.n_train, B, noise.enumerate_up_to)
        if count is not None:
            enumerated = max(enumerated, count * (ENUMERATED_BATCH_BYTES + B * ENUMERATED_ELEMENT_BYTES))
        else:
            sampled = max(sampled, noise.samples * (SAMPLED_BATCH_BYTES + B * SAMPLED_ELEMENT_BYTES))
    out.append((f"noise.enumerate_up_to {noise.enumerate_up_to}", enumerated, "to enumerate the batches"))
    out.append((f"noise.samples {noise.samples}", sampled, "to sample the batches"))
    c = params.critical
    B, seeds = max(c.batch_sizes), len(c.seeds)
    # The coarse pass (8 seeds × the grid) or the fine one (every seed × at most one window of
    # 2·refine_per_octave + 1 rates per δ), whichever is larger.
    lrs = len(c.deltas) * (2 * c.refine_per_octave + 1)
    members = max(min(seeds, CRITICAL_COARSE_SEEDS) * len(c.lr_grid), seeds * lrs)
    out.append(
        (
            f"critical.batch_sizes up to {B} with {len(c.lr_grid)} learning rates and {seeds} critical.seeds",
            members * B * CRITICAL_MEMBER_EXAMPLE_BYTES
            + seeds * max(B, CRITICAL_STREAM_CHUNK) * CRITICAL_MAX_FEATURES * CRITICAL_STREAM_FEATURE_BYTES,
            "for the critical sweep's ensemble",
        )
    )
    return out


def _comb_at_most(n: int, k: int, limit: int) -> int | None:
    """C(n, k) if it is at most ``limit``, else None; stops early rather than build a huge integer."""
    k = min(k, n - k)
    count = 1
    for i in range(k):
        count = count * (n - i) // (i + 1)  # exact: a product of i + 1 consecutive integers
        if count > limit:
            return None
    return count


def check_memory(params) -> None:
    """ValueError naming the keys of the first estimate over ``MEMORY_BUDGET``."""
    for keys, need, what in estimates(params):
        if need > MEMORY_BUDGET:
            allowed = size(MEMORY_BUDGET)
            raise ValueError(f"{keys} needs about {size(need)} {what}; at most {allowed} is allowed")

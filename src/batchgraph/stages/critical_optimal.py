"""Stage `critical_optimal`: every seed's fractional first passage below each target (1 + δ)·L*
with McCandlish et al.'s noise-optimal step, for one problem and batch size ->
critical/runs/<problem>/optimal/bs_<B>/ (regime ``optimal``; see ``batchgraph.critical.cells``)."""

from __future__ import annotations

from ..critical.cells import diverged, one_blas_thread, parse_job
from ..critical.ensemble import train_optimal


def main(argv=None) -> None:
    job = parse_job("critical_optimal", __doc__, argv)
    cfg = job.params.critical
    with one_blas_thread():
        result = train_optimal(
            job.problem, job.batch_size, cfg.seeds, job.targets, cfg.max_steps, cfg.diverge_loss,
            init=cfg.init, progress=job.progress("optimal"),
        )  # fmt: skip
    job.write("optimal", result, {"steps_run": result.steps_run, "diverged": diverged(result)})

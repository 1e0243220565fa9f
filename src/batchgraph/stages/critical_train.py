"""Stage `critical_train`: every seed's fractional first passage below each target (1 + δ)·L* at
constant lr, tuned in two passes, for one problem and batch size -> critical/runs/<problem>/bs_<B>/
(passages.csv, seed_mean.csv, run.json; see ``batchgraph.critical.cells``)."""

from __future__ import annotations

from ..critical.cells import parse_job


def main(argv=None) -> None:
    job = parse_job("critical_train", __doc__, argv)
    job.write("constant", *job.tune(job.params.critical.init))

"""Stage `critical_init`: `critical_train` from the other start (w = 0, b = 0 when critical.init is
random, and the reverse), for the sensitivity table's init row -> critical/runs/<problem>/other_init/bs_<B>/
(regime ``constant_<other init>``; see ``batchgraph.critical.cells``)."""

from __future__ import annotations

from ..critical.cells import parse_job, regime_of


def main(argv=None) -> None:
    job = parse_job("critical_init", __doc__, argv)
    other = job.params.critical.other_init
    job.write(regime_of("critical_init", job.params), *job.tune(other, prefix=other))

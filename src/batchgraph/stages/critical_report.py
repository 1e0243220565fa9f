"""Stage `critical_report`: the critical study's figures and its page from its tables
-> reports/critical/figures/*.png and reports/critical/report.md."""

from __future__ import annotations

from pathlib import Path

from ..core.io import write_dir, write_text
from ..core.stage import StageParser
from ..report.critical import CriticalTables, critical_figures, critical_page, png
from ..tables.summary import CONVERGENCE, CRITICAL, CRITICAL_STEPS, SENSITIVITY, read_csv


def main(argv=None) -> None:
    parser = StageParser(
        "critical_report", __doc__, "--tables", "--out",
        tables="the folder holding critical.csv, steps.csv, convergence.csv and sensitivity.csv",
        out="the folder of report.md and figures/",
    )  # fmt: skip
    args, _ = parser.parse(argv)
    tables, out = Path(args.tables), Path(args.out)
    contracts = {"critical": CRITICAL, "steps": CRITICAL_STEPS, "convergence": CONVERGENCE,
                 "sensitivity": SENSITIVITY}  # fmt: skip
    t = CriticalTables(*(read_csv(tables / f"{n}.csv", c) for n, c in contracts.items()))
    figures = critical_figures(t)
    write_dir(out / "figures", {name: png(f) for name, f in figures.items()})
    write_text(out / "report.md", critical_page(t))
    print(f"wrote {out / 'report.md'} and {len(figures)} figures in {out / 'figures'}")

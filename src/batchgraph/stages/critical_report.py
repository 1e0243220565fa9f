"""Stage `critical_report`: the critical study's figures and its report page from its tables
-> reports/critical/figures/*.png and reports/critical/report.md."""

from __future__ import annotations

from pathlib import Path

from ..core.io import write_dir, write_text
from ..core.stage import StageParser
from ..report.critical import critical_figures, critical_section, png
from ..tables.summary import read_csv


def main(argv=None) -> None:
    parser = StageParser(
        "critical_report", __doc__, "--tables", "--out",
        tables="the folder holding critical.csv and steps.csv", out="the folder of report.md and figures/",
    )  # fmt: skip
    args, _ = parser.parse(argv)
    tables, out = Path(args.tables), Path(args.out)
    table, steps = read_csv(tables / "critical.csv"), read_csv(tables / "steps.csv")
    figures = critical_figures(table, steps)
    write_dir(out / "figures", {name: png(f) for name, f in figures.items()})
    write_text(out / "report.md", "# Critical batch size\n\n" + critical_section(table, steps))
    print(f"wrote {out / 'report.md'} and {len(figures)} figures in {out / 'figures'}")

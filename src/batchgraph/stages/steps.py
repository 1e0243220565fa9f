"""Stage `steps`: SGD steps to reach steps.target for each batch size and lr-scaling rule
-> reports/steps_to_target.csv."""

from __future__ import annotations

import numpy as np

from ..config import load_params
from ..train import steps_to_target
from ._io import REPORTS_DIR, csv_text, fmt, main_guard, read_dataset, write_text


def main() -> None:
    params = load_params()
    data = read_dataset()
    cfg = params.steps
    settings = params.model.model_dump() | params.train.model_dump(exclude={"lr_scaling", "epochs"})
    rows = []
    for rule in cfg.rules:
        for B in params.study.batch_sizes:
            steps, lr = steps_to_target(
                data, batch_size=B, target=cfg.target, max_steps=cfg.max_steps, seeds=cfg.seeds,
                lr_scaling=rule, **settings,
            )  # fmt: skip
            reached = steps[~np.isnan(steps)]
            mean = float(reached.mean()) if len(reached) else float("nan")
            std = float(reached.std(ddof=1)) if len(reached) > 1 else float("nan")
            rows.append([B, rule, fmt(lr), fmt(mean), fmt(std), len(reached), len(steps)])
        print(f"steps@{rule}: " + ", ".join(f"B={r[0]} {r[3]}" for r in rows if r[1] == rule))
    header = ["batch_size", "lr_scaling", "lr", "steps_mean", "steps_std", "reached", "seeds"]
    write_text(REPORTS_DIR / "steps_to_target.csv", csv_text(header, rows))


if __name__ == "__main__":
    main_guard(main)

"""Stage `published`: the study grid trained as the published code did (lr·1/B) -> runs/published/."""

from __future__ import annotations

import json

from ..config import load_params
from ._io import RUNS_DIR, final_metrics, history_csv, main_guard, read_dataset, write_dir
from .train import train_study


def main() -> None:
    params = load_params()
    data = read_dataset()
    parts, metrics = [], {}
    for B in params.study.batch_sizes:
        history = train_study(params, data, B, lr_scaling="inverse")
        text = history_csv(history, {"batch_size": B})
        parts.append(text if not parts else text.split("\n", 1)[1])
        metrics[f"bs_{B}"] = final_metrics(history)
    write_dir(
        RUNS_DIR / "published",
        {
            "history.csv": "".join(parts),
            "metrics.json": json.dumps(metrics, indent=2) + "\n",
        },
    )
    print("published: " + ", ".join(f"{k} {v['train_loss']}" for k, v in metrics.items()))


if __name__ == "__main__":
    main_guard(main)

"""Stage `published`: the study grid trained as the published code did (lr·1/B) -> runs/published/."""

from __future__ import annotations

import json

from ..core.io import read_dataset, write_dir
from ..core.stage import StageParser
from ..study.runs import final_metrics, history_csv, train_study


def main(argv=None) -> None:
    parser = StageParser("published", __doc__, "--data", "--out", data="the data CSV", out="the run folder")
    args, params = parser.parse(argv)
    data = read_dataset(args.data, params.data.splits)
    parts, metrics = [], {}
    for B in params.study.batch_sizes:
        history = train_study(params, data, B, lr_scaling="inverse")
        text = history_csv(history, {"batch_size": B})
        parts.append(text if not parts else text.split("\n", 1)[1])
        metrics[f"bs_{B}"] = final_metrics(history)
    write_dir(
        args.out,
        {
            "history.csv": "".join(parts),
            "metrics.json": json.dumps(metrics, indent=2) + "\n",
        },
    )
    print("published: " + ", ".join(f"{k} {v['train_loss']}" for k, v in metrics.items()))

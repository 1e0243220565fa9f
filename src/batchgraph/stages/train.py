"""Stage `train@B`: every seed of the study at one batch size, as one ensemble -> runs/bs_<B>/."""

from __future__ import annotations

from ..core.io import read_dataset, write_dir
from ..core.stage import StageParser
from ..study.runs import final_metrics, run_files, train_study


def main(argv=None) -> None:
    parser = StageParser("train", __doc__, "--data", "--out", data="the data CSV", out="the run folder")
    parser.add_argument("--batch-size", type=int, required=True)
    args, params = parser.parse(argv)
    B = args.batch_size
    if B not in params.study.batch_sizes:
        parser.refuse(f"--batch-size {B} is not in study.batch_sizes {params.study.batch_sizes}")
    history = train_study(params, read_dataset(args.data, params.data.splits), B)
    write_dir(args.out, run_files(history))
    metrics = final_metrics(history)
    print(
        f"train@{B}: {len(history.seeds)} seeds, {metrics['updates']} updates, "
        f"train loss {metrics['train_loss']}, diverged runs {metrics['diverged_runs']}"
    )

"""``python -m batchgraph.stages <stage> [args]``: run one pipeline stage under the error guard.

The stage module is imported inside the guard, so an interrupt while NumPy or pandas loads ends
as cleanly as one during the work: one line on stderr and exit status 130.
"""

from __future__ import annotations

import sys

STAGES = (
    "validate",
    "generate",
    "baseline",
    "train",
    "published",
    "noise",
    "steps",
    "aggregate",
    "report",
    "critical_train",
    "critical_optimal",
    "critical_init",
    "critical_fit",
    "critical_report",
)


def run(argv: list[str]) -> None:
    from importlib import import_module

    from ..core.io import main_guard

    if not argv or argv[0] not in STAGES:
        got = repr(argv[0]) if argv else "nothing"
        print(
            f"error: the first argument must be a stage, one of {', '.join(STAGES)}; got {got}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    name, args = argv[0], argv[1:]
    main_guard(lambda: import_module(f"{__package__}.{name}").main(args))


if __name__ == "__main__":
    try:
        run(sys.argv[1:])
    except KeyboardInterrupt:
        print("error: interrupted before the stage started; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None

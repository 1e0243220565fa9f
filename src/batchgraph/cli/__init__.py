"""Command-line tools that are not pipeline stages: params, prune, compare, the sweep app, collect."""

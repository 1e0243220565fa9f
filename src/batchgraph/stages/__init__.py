"""Thin command-line stages, one per dvc.yaml stage: parse arguments, load params, call the library, write."""

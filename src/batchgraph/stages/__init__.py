"""The pipeline's stages, one module per dvc.yaml stage: ``python -m batchgraph.stages <stage> [args]``."""

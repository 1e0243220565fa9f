"""The report: matplotlib figures and the Markdown write-up, from the study's tables (no training here)."""

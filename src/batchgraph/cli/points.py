"""The files of one sweep point, named once for the sweep app that writes them and the collector."""

ERROR_FILE = "error.txt"
# A critical cell's job dir: which cell, where its folder went, the inputs it was computed with.
CELL_FILE = "cell.json"

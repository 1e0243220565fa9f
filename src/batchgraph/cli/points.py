"""The files of one sweep point, named once for the sweep app that writes them and the collector."""

ERROR_FILE = "error.txt"

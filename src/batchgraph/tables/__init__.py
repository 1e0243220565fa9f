"""pandas tables of the study's results: built from run histories, read and written as CSV."""

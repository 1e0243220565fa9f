"""What every stage needs: the params schema, file I/O, the memory model, table columns, the data file."""

"""ELF facts and the library graph."""

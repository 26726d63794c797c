"""Virtual radio (placeholder docstring, completed below)."""

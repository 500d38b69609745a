"""Building and writing: full and incremental builds, live document writes, export and import."""

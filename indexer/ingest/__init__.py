"""Ingestion: reading files into documents, cleaning them, and chunking them into passages."""

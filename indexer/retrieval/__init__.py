"""Retrieval: the search pipeline as named stages, fusion, "Who is X?" introductions and highlights."""

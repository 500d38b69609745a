"""The HNSW graph parameters both engines build and search with, so they rank alike past the flat-search size."""

HNSW_M = 32  # links per node: FAISS's usual default for 384-d text embeddings; ~256 bytes per vector
# Candidate lists while building and searching. Tightly clustered collections are the hard case for a graph:
# on the scale benchmark's 1M chunks (512 topics of ~2,000 near-identical chunks), efConstruction 80 and
# efSearch 128 found 0.79 of the exact top 10. Searching is cheap at this size (about 2 ms at efSearch 1024
# on one core), so both are set for recall first: efConstruction 200 (the build takes about twice as long)
# and efSearch 1024, which measured 0.97 there.
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 1024

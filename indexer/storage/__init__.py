"""Storage: the seam (`base`), its settings, the engines (`local`, `milvus`) and the factory that picks one."""

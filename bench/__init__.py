"""Benchmarks: indexing throughput and memory, HTTP query latency and throughput, cold start."""

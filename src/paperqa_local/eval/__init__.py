"""Benchmarks on public data: retrieval (BEIR layout) and answer quality (SciFact claims, PubMedQA)."""

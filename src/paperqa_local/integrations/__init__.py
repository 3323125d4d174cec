"""Adapters to outside frameworks. `llama_index.py` is the only module that imports llama-index: documents in
(readers' output, PDFs), and this index out as a llama-index retriever and query engine. Imported lazily by the
facade, by the PDF parser and by ingest's page-aware chunking, so `paperqa-local --help` never loads llama-index.
"""

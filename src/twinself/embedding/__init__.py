"""Text embeddings: one protocol, one cache, one model loader; below memory, llm and evaluation."""

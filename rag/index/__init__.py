"""Stage 2, index: papers -> chunks that fit the embedder -> vectors in Chroma + a BM25 index.

``chunking`` (sentence-aligned chunks budgeted in the embedder's tokens), ``embedding`` (the
embedder protocol and registry; ``minilm``, ``openai_embedder``, ``embedding_cache``), ``store``
(the only module that talks to Chroma), ``filters`` (metadata filters for both indexes) and
``lexical`` (the BM25 index beside the store).
"""

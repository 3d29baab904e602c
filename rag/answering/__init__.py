"""Stage 4, answering and verification: sources -> a backend's draft -> the citation gate.

``grammar`` (the citation format, the refusal phrase and the reply parser: the single source of
truth), ``backend`` (protocol and registry), ``extractive`` and ``generative`` (the backends),
``llm`` (the OpenAI-compatible client), ``prompt`` (prompt files), ``support`` (the offline
support scorer), ``verify`` (the gate every answer passes), ``summary`` and ``chat``.
"""

"""Stage 5, evaluation: ``rag eval`` suites (``suites``, registered by name), judges, metrics,
saved runs and their thresholds (``runs``), reports, and the runner that ties them together."""

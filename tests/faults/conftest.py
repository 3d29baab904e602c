"""Fixtures of the fault suite: the CLI run in-process (click's runner) over a library whose
embedder is the FakeEmbedder, so a case costs milliseconds, not a model load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.fakes import FakeEmbedder

Run = Callable[..., Result]


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> Run:
    """``run_cli("ingest", path, input=None)``: the ``rag`` CLI in-process, FakeEmbedder, no
    seeding; the library is the test's own ``RAG_HOME``."""
    import rag.index.embedders as embedders
    from rag.interfaces.cli import cli

    monkeypatch.setenv("RAG_SEED", "false")
    monkeypatch.setattr(embedders, "make_embedder", lambda settings: FakeEmbedder())

    def run(*args: str, input: bytes | str | None = None) -> Result:
        return CliRunner().invoke(cli, [str(a) for a in args], input=input)

    return run


def assert_clear_error(out: Result, *fragments: str) -> None:
    """Exit 1, one line ``Error: ...`` on stderr naming the fragments; never the fallback for
    bugs ("unexpected ...") nor a traceback."""
    assert out.exit_code == 1, (out.exit_code, out.stdout, out.stderr, out.exception)
    assert out.stderr.startswith("Error: "), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert "unexpected" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    for fragment in fragments:
        assert fragment in out.stderr, (fragment, out.stderr)

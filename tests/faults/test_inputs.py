"""Finding 2, 7 (gzip) and 8: every bad input is one clear error naming ``file:line`` and the
field, before anything is written; ``--skip-errors`` skips every kind; a bad value that got into
the store cannot brick the library. The CLI runs in-process with the FakeEmbedder (see
conftest). About 10 s."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import DATA
from tests.faults.conftest import Run, assert_clear_error

GOOD = {"id": "g1", "title": "A good paper", "abstract": "Gadgets improve widgets by 40%."}


def record(**fields: object) -> dict[str, object]:
    return {"id": "b1", "title": "Bad paper", "abstract": "Gadgets.", **fields}


#: (case, the record's JSON text, what the error names). Each fails on line 2 of its file.
BAD_RECORDS = [
    ("huge year", json.dumps(record(year="99999999999999999999")), "field 'year'"),
    ("year 1e400", '{"id": "b1", "title": "T", "abstract": "A.", "year": 1e400}', "field 'year'"),
    ("year true", json.dumps(record(year=True)), "field 'year'"),
    ("year 2023.7", json.dumps(record(year=2023.7)), "field 'year'"),
    ("year -5", json.dumps(record(year=-5)), "field 'year'"),
    ("year huge int", json.dumps(record(year=10**30)), "field 'year'"),
    ("year list", json.dumps(record(year=[2020])), "field 'year'"),
    ("url number", json.dumps(record(url=123)), "field 'url'"),
    ("date number", json.dumps(record(date=20240101)), "field 'date'"),
    ("authors object", json.dumps(record(authors={"a": 1})), "field 'authors'"),
    ("authors numbers", json.dumps(record(authors=[1, 2])), "field 'authors'"),
    ("doi object", json.dumps(record(doi={"x": 1})), "field 'doi'"),
    ("title number", json.dumps(record(title=5)), "field 'title'"),
    ("abstract object", json.dumps(record(abstract={"x": 1})), "field 'abstract'"),
    ("id list", json.dumps(record(id=[1])), "field 'id'"),
    ("not an object", "[1, 2, 3]", "not a JSON object"),
    ("deep nesting", "[" * 10_000 + "]" * 10_000, "nested too deeply"),
    ("deep object", '{"a": ' * 10_000 + "1" + "}" * 10_000, "nested too deeply"),
    ("malformed", '{"id": "b1", "title": ', "malformed JSON"),
]


def write_jsonl(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(("case", "line", "names"), BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_bad_record_is_one_clear_error_with_file_line_and_nothing_is_written(
    run_cli: Run, tmp_path: Path, isolated_env: Path, case: str, line: str, names: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", json.dumps(GOOD), line)
    out = run_cli("ingest", path)
    assert_clear_error(out, f"{path}:2", names)
    assert not (isolated_env / "chroma").exists()  # validated before the store was opened


def test_deeply_nested_json_document_is_a_clear_error(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 10_000 + "]" * 10_000)
    assert_clear_error(run_cli("ingest", path), f"{path}:1", "nested too deeply")


def test_skip_errors_skips_every_kind_and_the_library_still_works(
    run_cli: Run, tmp_path: Path
) -> None:
    lines = [json.dumps(GOOD)] + [line for _, line, _ in BAD_RECORDS]
    path = write_jsonl(tmp_path / "mixed.jsonl", *lines)
    out = run_cli("ingest", "--skip-errors", "--json", path)
    assert out.exit_code == 0, (out.stdout, out.stderr)
    report = json.loads(out.stdout)
    assert report["papers_added"] == 1 and len(report["skipped"]) == len(BAD_RECORDS)
    assert all(s.startswith(f"{path}:") for s in report["skipped"])
    for command in (("search", "gadgets"), ("ask", "How much do gadgets improve widgets?")):
        out = run_cli(*command)
        assert out.exit_code == 0 and "A good paper" in out.stdout, (out.stdout, out.stderr)


def test_bad_values_already_in_the_store_do_not_brick_the_library(
    run_cli: Run, tmp_path: Path
) -> None:
    """A value an older version let through (a 20-digit year, a number as url/date, broken
    extra JSON) is read defensively: search, ask, papers and show keep working."""
    from tests.fakes import fake_library

    path = write_jsonl(tmp_path / "good.jsonl", json.dumps(GOOD))
    assert run_cli("ingest", path).exit_code == 0
    lib = fake_library()
    got = lib.store.collection.get(include=["metadatas"])
    bad = {"year": 1e30, "url": 123, "date": 20240101, "extra": "{not json", "doi": 7}
    lib.store.collection.update(
        ids=got["ids"], metadatas=[{**(m or {}), **bad} for m in got["metadatas"]]
    )
    for command in (
        ("search", "gadgets"),
        ("ask", "How much do gadgets improve widgets?", "--json"),
        ("papers",),
        ("show", "g1"),
    ):
        out = run_cli(*command)
        assert out.exit_code == 0 and "unexpected" not in out.stderr, (command, out.stderr)
    # the unusable year reads as none: a clear answer to a year filter, not a crash
    assert_clear_error(run_cli("search", "gadgets", "--year", "2020.."), "has a year")


def test_gzip_bomb_stops_at_the_input_cap(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 MiB of spaces (8 KiB compressed) against a 1 MiB cap: read piecewise, stopped early."""
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b'{"id": "x", "title": "T", "abstract": "A."}\n')
        for _ in range(8):
            fh.write(b" " * 2**20)
    monkeypatch.setenv("RAG_MAX_INPUT_MB", "1")
    assert_clear_error(run_cli("ingest", path), str(path), "larger than 1 MiB", "RAG_MAX_INPUT_MB")
    assert_clear_error(run_cli("ingest", DATA / "tiny.jsonl.gz", tmp_path / "x.gz"), "x.gz")


def test_unreadable_file_exits_1_naming_it(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permissions do not bind root (the CI user), so the refusal is simulated."""
    import os

    path = write_jsonl(tmp_path / "locked.jsonl", json.dumps(GOOD))
    real_open, real_access = Path.open, os.access

    def no_read(self: Path, *a: object, **k: object):  # type: ignore[no-untyped-def]
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", no_read)
    monkeypatch.setattr(os, "access", lambda p, m, **k: Path(p) != path and real_access(p, m))
    assert_clear_error(run_cli("ingest", path), str(path), "cannot read file")


def test_duplicate_id_with_a_different_text_is_reported(run_cli: Run, tmp_path: Path) -> None:
    other = {**GOOD, "abstract": "A different abstract entirely."}
    path = write_jsonl(tmp_path / "dup.jsonl", json.dumps(GOOD), json.dumps(other))
    out = run_cli("ingest", path)
    assert out.exit_code == 0, out.stderr
    warning = [line for line in out.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and f"{path}:2" in warning[0] and f"{path}:1" in warning[0]
    same = write_jsonl(tmp_path / "same.jsonl", json.dumps(GOOD), json.dumps(GOOD))
    assert "Warning" not in run_cli("ingest", same).stderr  # an exact repeat is no news

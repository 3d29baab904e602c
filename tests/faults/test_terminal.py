"""Finding 5: paper text cannot drive the terminal. Control and escape sequences are stripped at
ingest and again at display; ``--json`` stays faithful, with control characters escaped. Also
finding 3's batch line: a bad line of an ``ask -`` batch is one JSON error object and the batch
goes on. In-process CLI with the FakeEmbedder. About 5 s."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.faults.conftest import Run, assert_clear_error

OSC_TITLE = "\x1b]0;pwned\x07"
OSC_CLIPBOARD = "\x1b]52;c;ZWNobyBoaQ==\x07"
CLEAR = "\x1b[2J\x1b[H"
C1_CSI = "\x9b31m"
BIDI = "\u202eevil\u202c"
PAYLOADS = OSC_TITLE + OSC_CLIPBOARD + CLEAR + C1_CSI + BIDI + "\x07\x00\x08"
#: Any byte a terminal acts on (tab and newline aside).
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def write(path: Path, title: str, abstract: str) -> Path:
    row = {"id": "e1", "title": title, "abstract": abstract, "url": "https://x.org/" + CLEAR}
    path.write_text(json.dumps(row) + "\n")
    return path


def test_escape_sequences_are_stripped_at_ingest(run_cli: Run, tmp_path: Path) -> None:
    path = write(
        tmp_path / "evil.jsonl",
        f"Escape {PAYLOADS}study",
        f"Widgets {PAYLOADS}improve gadgets by 40%. Screens {CLEAR}stay clean.",
    )
    assert run_cli("ingest", path).exit_code == 0
    stored = json.loads(run_cli("show", "e1", "--json").stdout)
    for text in (stored["title"], *stored["abstract"], stored["url"]):
        assert not CONTROL.search(text), repr(text)
    assert stored["title"].startswith("Escape ") and "31m" not in stored["title"]
    assert "Widgets" in stored["abstract"][0] and "improve gadgets" in stored["abstract"][0]
    for command in (("search", "widgets"), ("show", "e1"), ("papers",), ("ask", "What improves?")):
        out = run_cli(*command)
        assert out.exit_code == 0 and not CONTROL.search(out.stdout), (command, out.stdout)


def test_display_strips_what_the_store_holds_and_json_escapes_it(
    run_cli: Run, tmp_path: Path
) -> None:
    """Text stored by an older version (raw escapes in title and passage) is still printed
    clean; ``--json`` carries it faithfully, escaped."""
    from tests.fakes import fake_library

    path = write(tmp_path / "plain.jsonl", "Plain study", "Widgets improve gadgets by 40%.")
    assert run_cli("ingest", path).exit_code == 0
    lib = fake_library()
    got = lib.store.collection.get(include=["metadatas", "documents", "embeddings"])
    lib.store.collection.update(
        ids=got["ids"],
        embeddings=got["embeddings"],
        documents=[f"Widgets {PAYLOADS}improve gadgets by 40%." for _ in got["ids"]],
        metadatas=[{**(m or {}), "title": f"Plain {PAYLOADS}study"} for m in got["metadatas"]],
    )
    for command in (("search", "widgets"), ("show", "e1"), ("ask", "What improves gadgets?")):
        out = run_cli(*command)
        assert out.exit_code == 0, out.stderr
        assert not CONTROL.search(out.stdout), (command, out.stdout)
        assert "Plain" in out.stdout
    out = run_cli("search", "widgets", "--json")
    assert not CONTROL.search(out.stdout) and "\\u001b]0;pwned" in out.stdout
    hit = json.loads(out.stdout)[0]
    assert hit["title"] == f"Plain {PAYLOADS}study"  # faithful


def test_a_bad_line_in_an_ask_batch_is_one_error_object_and_the_batch_goes_on(
    run_cli: Run, tmp_path: Path
) -> None:
    path = write(tmp_path / "p.jsonl", "Plain study", "Widgets improve gadgets by 40%.")
    assert run_cli("ingest", path).exit_code == 0
    questions = b"What improves gadgets?\n\xff\xfe not utf-8\n\nWhat do widgets do?\n"
    out = run_cli("ask", "-", input=questions)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3
    assert "answer" in rows[0] and "answer" in rows[2]
    assert "stdin:2" in rows[1]["error"] and "not UTF-8" in rows[1]["error"]
    assert_clear_error(out, "1 of 3 line(s) failed")
    search = run_cli("search", "-", input=b"widgets\n\x80\n")
    assert [("error" in json.loads(line)) for line in search.stdout.splitlines()] == [False, True]

"""JSON and JSONL records, optionally gzipped: one object per record with the common field names
(``id``/``doc_id``/``_id``, ``title``, ``abstract`` or ``text`` as a string or a list of
sentences, optional ``authors``, ``year``, ``url``, ``doi``). SciFact's ``corpus.jsonl.gz`` reads
unchanged (``doc_id`` becomes the paper id)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.records import Item, guard, make_paper
from rag.schema import Paper

ID_FIELDS = ("id", "doc_id", "_id", "paper_id")
TEXT_FIELDS = ("abstract", "text")


def _record_to_paper(path: Path, line: int, obj: Any) -> Paper:
    if not isinstance(obj, dict):
        raise InputError("record is not a JSON object", where=f"{path}:{line}")
    given_id = next((obj[f] for f in ID_FIELDS if obj.get(f) not in (None, "")), None)
    abstract = next((obj[f] for f in TEXT_FIELDS if f in obj), None)
    extra = {k: obj.get(k) for k in ("authors", "year", "url", "doi", "date")}
    return make_paper(
        path, line, title=obj.get("title"), abstract=abstract, given_id=given_id, extra=extra
    )


def parse_lines(path: Path, lines: list[str]) -> Iterator[Item]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield InputError(f"malformed JSON: {e.msg}", where=f"{path}:{n}")
            continue
        yield guard(path, n, _record_to_paper, obj)


def parse_document(path: Path, lines: list[str]) -> Iterator[Item]:
    text = "\n".join(lines)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e.msg}", where=f"{path}:{e.lineno}") from None
    if isinstance(data, dict):
        for key in ("papers", "documents", "records", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            data = [data]
    if not isinstance(data, list):
        raise InputError("expected a list of records", where=f"{path}:1")
    # A JSON array has no per-record line; find each record's line by its opening brace.
    starts = [n + 1 for n, line in enumerate(lines) if line.lstrip().startswith(("{", "[{"))]
    for idx, obj in enumerate(data):
        line = starts[idx] if len(starts) == len(data) else 1
        yield guard(path, line, _record_to_paper, obj)

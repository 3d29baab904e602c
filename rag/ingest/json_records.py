"""JSON and JSONL records, optionally gzipped: one object per record with the common field names
(``id``/``doc_id``/``_id``, ``title``, ``abstract`` or ``text`` as a string or a list of
sentences, optional ``authors``, ``year``, ``url``, ``doi``); a record without an abstract is
kept as a title-only paper. SciFact's ``corpus.jsonl.gz`` reads
unchanged (``doc_id`` becomes the paper id)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.ingest.records import Item, guard, make_paper
from rag.schema import Paper

ID_FIELDS = ("id", "doc_id", "_id", "paper_id")
TEXT_FIELDS = ("abstract", "text")
TOO_DEEP = "malformed JSON: nested too deeply"


def _record_to_paper(path: Path, line: int, obj: Any) -> Paper:
    if not isinstance(obj, dict):
        raise InputError("record is not a JSON object", where=f"{path}:{line}")
    given_id = next((obj[f] for f in ID_FIELDS if obj.get(f) not in (None, "")), None)
    abstract = next((obj[f] for f in TEXT_FIELDS if f in obj), None)
    extra = {k: obj.get(k) for k in ("authors", "year", "url", "doi", "date")}
    return make_paper(
        path,
        line,
        title=obj.get("title"),
        abstract=abstract,
        given_id=given_id,
        extra=extra,
        title_only=True,
    )


Mapper = Callable[[Path, int, Any], Paper]


def parse_lines(path: Path, lines: list[str]) -> Iterator[Item]:
    return map_records(path, lines, _record_to_paper)


def parse_document(path: Path, lines: list[str]) -> Iterator[Item]:
    return map_records(path, lines, _record_to_paper)


def map_records(path: Path, lines: list[str], mapper: Mapper) -> Iterator[Item]:
    """Each object of a JSON document (a list, or ``{"papers"|"results"|"data": [...]}``, or one
    object) or of a JSONL file, turned into a paper by ``mapper``."""
    for item in json_objects(path, lines):
        yield item if isinstance(item, InputError) else guard(path, item[0], mapper, item[1])


def json_objects(path: Path, lines: list[str]) -> Iterator[tuple[int, Any] | InputError]:
    first = next((line.strip() for line in lines if line.strip()), "")
    text = "\n".join(lines)
    is_lines = first.startswith("{") and first.endswith("}") and path.suffix != ".json"
    if not is_lines:
        try:
            data = json.loads(text)
        except RecursionError:
            raise InputError(TOO_DEEP, where=f"{path}:1") from None
        except json.JSONDecodeError as e:
            if not (first.startswith("{") and first.endswith("}")):
                raise InputError(f"malformed JSON: {e.msg}", where=f"{path}:{e.lineno}") from None
            is_lines = True  # one object per line
    if is_lines:
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except RecursionError:
                yield InputError(TOO_DEEP, where=f"{path}:{n}")
                continue
            except json.JSONDecodeError as e:
                yield InputError(f"malformed JSON: {e.msg}", where=f"{path}:{n}")
                continue
            yield n, obj
        return
    if isinstance(data, dict):
        for key in ("papers", "documents", "records", "data", "results", "items"):
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
        yield (starts[idx] if len(starts) == len(data) else 1), obj

"""Reading an XML input file: parsed with the standard library (expat guards against entity
expansion attacks), a parse error named with ``file:line``, and each record's line found."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rag.errors import InputError


def parse_xml(path: Path, lines: list[str]) -> ET.Element:
    try:
        return ET.fromstring("\n".join(lines))
    except ET.ParseError as e:
        line = e.position[0] if e.position else 1
        raise InputError(f"malformed XML: {e}", where=f"{path}:{line}") from None


def record_lines(lines: list[str], tag: str, count: int) -> list[int]:
    """The line of each ``<tag>`` opening, or line 1 for every record when they do not add up."""
    pattern = re.compile(rf"<(?:\w+:)?{tag}[\s>]")
    starts = [n + 1 for n, line in enumerate(lines) for _ in pattern.finditer(line)]
    return starts if len(starts) == count else [1] * count


def text_of(element: ET.Element | None) -> str:
    """All the text inside ``element`` (inline markup such as <i> included), stripped."""
    return "".join(element.itertext()).strip() if element is not None else ""

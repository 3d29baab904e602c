"""Learned weights shipped as package data (``rag/data/weights/*.json``), read through
:mod:`importlib.resources` so they load the same from a checkout and an installed wheel."""

from __future__ import annotations

import json
from typing import Any


def load_weights(name: str) -> dict[str, Any]:
    """The parsed JSON weights file ``name`` (e.g. ``"support.json"``)."""
    from importlib.resources import files

    data: dict[str, Any] = json.loads(
        (files("rag") / "data" / "weights" / name).read_text(encoding="utf-8")
    )
    return data

"""``POST /ingest``: an uploaded file goes into the library, never anywhere else.

The file name is reduced to its last component of safe characters (``../../x.jsonl`` becomes
``x.jsonl``; a name of an unknown format is refused), written under a fresh folder in
``HOME/uploads/.incoming/``, ingested from there (every record is validated before the store is
touched), and only then moved to ``HOME/uploads/NAME``. A failed or refused upload leaves no file
behind and the store as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from rag.errors import InputError
from rag.ingest.registry import known_suffix, supported

if TYPE_CHECKING:
    from rag.library import Library
    from rag.schema import IngestReport

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
CHUNK = 1 << 20


class UploadTooLarge(InputError):
    """The uploaded file is over the size limit."""


def safe_name(name: str | None) -> str:
    """The last path component, safe characters only; an unknown format is an InputError."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = UNSAFE.sub("_", base).lstrip("._")[-120:]
    if not base or not known_suffix(Path(base)):
        raise InputError(
            f"cannot ingest {name!r}: expected a file of a known format: {supported()}"
        )
    return base


def uploads_dir(lib: Library) -> Path:
    return (lib.home / "uploads").resolve()


def ingest_upload(
    lib: Library, name: str | None, data: BinaryIO, *, limit: int, skip_errors: bool = False
) -> IngestReport:
    """Save ``data`` as ``HOME/uploads/NAME`` and ingest it (see the module docstring)."""
    uploads = uploads_dir(lib)
    clean = safe_name(name)
    incoming = uploads / ".incoming" / uuid.uuid4().hex
    target = (incoming / clean).resolve()
    if not target.is_relative_to(uploads):  # cannot happen with a safe name; checked anyway
        raise InputError(f"refusing to write {name!r} outside the library")
    incoming.mkdir(parents=True)
    try:
        written = 0
        with open(target, "xb") as out:
            while block := data.read(CHUNK):
                written += len(block)
                if written > limit:
                    raise UploadTooLarge(f"the file is larger than the limit of {limit} bytes")
                out.write(block)
        if written == 0:
            raise InputError(f"the uploaded file {clean!r} is empty")
        report = lib.ingest([target], skip_errors=skip_errors, progress=False)
        os.replace(target, uploads / clean)
        return report
    finally:
        shutil.rmtree(incoming, ignore_errors=True)

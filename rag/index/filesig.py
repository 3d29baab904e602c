"""Has another process written to these files since? A cheap check by ``stat`` alone.

:meth:`rag.index.store.Store.count_chunks` keeps Chroma's count (a scan of the collection, 36 ms
at 100k chunks, asked before every query) while the store's SQLite files keep their signature.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

#: A file written less than this long ago is not trusted unchanged by :func:`files_signature`.
SETTLED_S = 1.0

Signature = tuple[tuple[int, int, int, int], ...]


def files_signature(paths: Sequence[Path]) -> Signature | None:
    """``(inode, size, mtime, ctime)`` of each file (zeros when missing): equal signatures mean
    no process wrote to them in between. None when one was written in the last
    :data:`SETTLED_S` s, as a write later in the same timestamp tick (up to 10 ms) could leave
    the signature as it was (git's "racily clean" files)."""
    now = time.time_ns()
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            out.append((0, 0, 0, 0))
            continue
        except OSError:
            return None
        if now - max(st.st_mtime_ns, st.st_ctime_ns) < SETTLED_S * 1e9:
            return None
        out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)

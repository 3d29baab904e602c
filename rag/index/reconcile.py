"""One paper across separate ingests: a paper ingested today that the library already holds
(same DOI, arXiv id, PMID or normalised title, as :mod:`rag.ingest.identity` matches listings
within one ingest) is merged with the stored one, the richer record winning, and replaces it
under the stored paper id (so ids in answers, exports and notes stay valid).

A record with the id of a stored paper, from the same file or with an id the input gave,
replaces it as before (an edited record updates its paper), except that a record without full
text does not wipe the full text a PDF gave; otherwise it is merged like any other listing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.index.catalog import paper_rows, stored_papers
from rag.index.filters import where_in
from rag.ingest.identity import derived_id, identity_keys, keys_of, merge
from rag.ingest.records import content_hash, normalise_title
from rag.schema import Paper

if TYPE_CHECKING:
    from rag.index.store import Store


@dataclass
class Reconciled:
    papers: list[Paper] = field(default_factory=list)
    merged: int = 0  # records merged into a paper the library already held (another id)


def _conflict(row: Mapping[str, Any], paper: Paper) -> bool:
    """Different DOIs or arXiv ids name different papers (as in :func:`identity.conflict`)."""
    return any(
        row.get(k) and getattr(paper, k) and str(row.get(k)) != getattr(paper, k)
        for k in ("doi", "arxiv_id")
    )


def _same_record(new: Paper, stored: Paper) -> bool:
    """The stored paper's own record again, maybe edited: the same id, and from the same file
    or an id the input gave (a JSON ``id``), not one derived from a DOI, arXiv id or title."""
    return new.paper_id == stored.paper_id and (new.source == stored.source or not derived_id(new))


def _absorb(new: Paper, stored: Paper) -> Paper:
    """``new`` merged into ``stored``, keeping the stored paper id."""
    if _same_record(new, stored) and not (stored.sections and not new.sections):
        return new  # it replaces the stored one (an edit updates its paper)
    merged = merge(stored, new)  # the richer wins; on a tie the stored paper
    return merged.model_copy(update={"paper_id": stored.paper_id})


#: Values per ``$in`` lookup.
LOOKUP = 500


def candidate_rows(store: Store, papers: Sequence[Paper]) -> list[dict[str, Any]]:
    """First-chunk metadata of every stored paper that may be one of ``papers``: the same id,
    DOI, arXiv id, PMID or normalised title (the whole library for a collection made before
    titles were keyed)."""
    if not store.titles_keyed:
        return paper_rows(store)
    wanted: dict[str, set[str]] = {f: set() for f in ("paper_id", *IDENTITY, "title_key")}
    for p in papers:
        wanted["paper_id"].add(p.paper_id)
        for f in IDENTITY:
            if getattr(p, f):
                wanted[f].add(str(getattr(p, f)))
        key = normalise_title(p.title)
        if len(key.split()) >= 3:
            wanted["title_key"].add(key)
    found: dict[str, dict[str, Any]] = {}
    for name, values in wanted.items():
        ordered = sorted(values)
        for i in range(0, len(ordered), LOOKUP):
            for m in paper_rows(store, where_in(name, ordered[i : i + LOOKUP])):
                found.setdefault(str(m.get("paper_id")), m)
    return sorted(
        found.values(), key=lambda m: (str(m.get("title", "")).casefold(), m.get("paper_id"))
    )


#: Identifier fields matched exactly (as :func:`rag.ingest.identity.keys_of` does).
IDENTITY = ("doi", "arxiv_id", "pmid")


def reconcile(store: Store, papers: Sequence[Paper]) -> Reconciled:
    """``papers`` (one ingest, already merged among themselves) matched against the library:
    each that names a stored paper is merged into it (see the module docs)."""
    rows = candidate_rows(store, papers)
    if not rows:
        return Reconciled(list(papers))
    stored_ids = {str(m.get("paper_id")): m for m in rows}
    slot: dict[str, Mapping[str, Any]] = {}
    for m in rows:
        for key in keys_of(m.get("doi"), m.get("arxiv_id"), m.get("pmid"), m.get("title")):
            slot.setdefault(key, m)
    targets: list[str | None] = []
    for p in papers:
        row: Mapping[str, Any] | None = stored_ids.get(p.paper_id)
        if row is not None:
            same = row.get("content_hash") == content_hash(p)
            targets.append(None if same else p.paper_id)
            continue
        row = next(
            (slot[k] for k in identity_keys(p) if k in slot and not _conflict(slot[k], p)), None
        )
        targets.append(str(row["paper_id"]) if row is not None else None)
    wanted = list(dict.fromkeys(t for t in targets if t is not None))
    current = {s.paper_id: s for s in stored_papers(store, wanted)}
    out = Reconciled()
    position: dict[str, int] = {}
    for p, target in zip(papers, targets, strict=True):
        if target is None or target not in current:
            position.setdefault(p.paper_id, len(out.papers))
            out.papers.append(p)
            continue
        out.merged += not _same_record(p, current[target])
        if target in position:  # a second record of the same stored paper in this ingest
            i = position[target]
            out.papers[i] = merge(out.papers[i], p).model_copy(update={"paper_id": target})
            continue
        current[target] = _absorb(p, current[target])
        position[target] = len(out.papers)
        out.papers.append(current[target])
    return out

"""One paper, many listings: the same paper from a BibTeX file, an arXiv listing and a PDF is
kept once. Listings match on DOI, then arXiv id, then PMID, then normalised title (at least three
words, and only when no DOI or arXiv id contradicts it); their metadata is merged field by field
with the richer listing winning (full text > abstract > title only, then more fields)."""

from __future__ import annotations

from rag.ingest.records import identity_id, normalise_title, paper_id_for_title
from rag.schema import Paper

OPTIONAL = ("date", "year", "url", "doi", "venue", "arxiv_id", "pmid")


def identity_keys(paper: Paper) -> list[str]:
    return keys_of(paper.doi, paper.arxiv_id, paper.pmid, paper.title)


def keys_of(doi: object, arxiv_id: object, pmid: object, title: object) -> list[str]:
    """The keys a paper is matched on, strongest first (also for stored metadata rows)."""
    ids = {"doi": doi, "arxiv_id": arxiv_id, "pmid": pmid}
    keys = [f"{k}:{v}" for k, v in ids.items() if v]
    normal = normalise_title(str(title or ""))
    if len(normal.split()) >= 3:
        keys.append(f"title:{normal}")
    return keys


def richness(paper: Paper) -> tuple[int, int, int, int]:
    filled = sum(1 for k in OPTIONAL if getattr(paper, k) is not None) + bool(paper.authors)
    return (bool(paper.sections), bool(paper.abstract), filled, len(paper.text))


def derived_id(paper: Paper) -> bool:
    """Whether the paper's id was made from its identity (not given by the input)."""
    return paper.paper_id.startswith(("doi:", "arxiv:", "pmid:")) or paper.paper_id == (
        paper_id_for_title(paper.title)
    )


def conflict(a: Paper, b: Paper) -> bool:
    """Two listings that name different DOIs or arXiv ids are different papers."""
    return any(
        getattr(a, k) and getattr(b, k) and getattr(a, k) != getattr(b, k)
        for k in ("doi", "arxiv_id")
    )


def merge(first: Paper, second: Paper) -> Paper:
    """One paper from two listings: the richer one's fields, the other's where it has none
    (on a tie the first listing wins)."""
    rich, poor = (second, first) if richness(second) > richness(first) else (first, second)
    update: dict[str, object] = {
        k: getattr(rich, k) if getattr(rich, k) is not None else getattr(poor, k) for k in OPTIONAL
    }
    update["authors"] = rich.authors or poor.authors
    update["extra"] = {**poor.extra, **rich.extra}
    if not rich.abstract and poor.abstract:
        update["abstract"] = poor.abstract
    if not rich.sections and poor.sections:
        update["sections"] = poor.sections
    update["merged_from"] = [*rich.merged_from, poor.location, *poor.merged_from]
    merged = rich.model_copy(update=update)
    if derived_id(first) and derived_id(second):
        paper_id = identity_id(
            merged.title, doi=merged.doi, arxiv_id=merged.arxiv_id, pmid=merged.pmid
        )
    else:  # an id given by the input is kept
        paper_id = first.paper_id if not derived_id(first) else second.paper_id
    return merged.model_copy(update={"paper_id": paper_id})


class Merger:
    """Collects listings, merging each with an earlier one of the same paper."""

    def __init__(self) -> None:
        self.papers: list[Paper] = []
        self._slot: dict[str, int] = {}
        self.duplicates = 0  # same id listed again
        self.merged = 0  # another listing (other id) of a paper already seen
        self.warnings: list[str] = []  # the same id listed with a different text

    def add(self, paper: Paper) -> None:
        slot = self._slot.get(f"id:{paper.paper_id}")
        if slot is None:
            slot = next(
                (
                    s
                    for k in identity_keys(paper)
                    if (s := self._slot.get(k)) is not None and not conflict(self.papers[s], paper)
                ),
                None,
            )
        if slot is None:
            self.papers.append(paper)
            slot = len(self.papers) - 1
        else:
            before = self.papers[slot]
            if before.paper_id == paper.paper_id:
                self.duplicates += 1
            else:
                self.merged += 1
            self.papers[slot] = merge(before, paper)
            if before.paper_id == paper.paper_id and before.text and paper.text != before.text:
                kept = self.papers[slot].location
                self.warnings.append(
                    f"{paper.location}: id {paper.paper_id!r} was already listed at "
                    f"{before.location} with a different text; kept the one at {kept}"
                )
        for key in [f"id:{self.papers[slot].paper_id}", *identity_keys(self.papers[slot])]:
            self._slot.setdefault(key, slot)

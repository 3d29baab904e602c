"""Parsing and validation of input files (unit tests: no model, no store)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.ingest import bundled_seed_dir, paper_id_for_title, parse_paths
from rag.text import clean_text, split_sentences
from tests.conftest import DATA, SHARED


def test_bundled_seeds_parse_to_242_distinct_papers() -> None:
    result = parse_paths([bundled_seed_dir()])
    assert result.records == 258
    assert len(result.papers) == 242
    assert result.duplicates == 16
    titles = [p.title for p in result.papers]
    assert not any("texttt" in t or t == "Subscribe" or t == "new" for t in titles)
    assert {p.date for p in result.papers} == {"Sep 3", "Jun 6", "Mar 11"}
    assert (
        "Simple Semi-supervised Knowledge Distillation from Vision-Language Models via "
        "Dual-Head Optimization" in titles
    )


def test_daily_papers_dump_dedups_and_cleans_latex() -> None:
    result = parse_paths([DATA / "tiny_daily.txt"])
    assert result.records == 3
    assert [p.title for p in result.papers] == [
        "Sparse Mixture of Experts for Tiny Models",
        "Contrastive Pretraining of Protein Language Models",
    ]
    moe = result.papers[0]
    assert moe.date == "Oct 12"
    assert moe.abstract[0].endswith("fewer than 100M parameters.")
    assert moe.abstract[1].startswith("Routing each token")  # glued sentences split
    assert moe.paper_id == paper_id_for_title("Sparse Mixture of Experts for Tiny Models")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One.Two three. Four", ["One.", "Two three.", "Four"]),
        ("We follow Smith et al. The results hold.", ["We follow Smith et al. The results hold."]),
        ("Use e.g. Adam for this. Then stop.", ["Use e.g. Adam for this.", "Then stop."]),
        (
            "Accuracy is 3.5 points higher. It works!",
            ["Accuracy is 3.5 points higher.", "It works!"],
        ),
        ("TaskMatrix.AI connects models.", ["TaskMatrix.AI connects models."]),
        ("We ran a trial. It worked.", ["We ran a trial.", "It worked."]),  # "trial." is not "al."
        ("See (e.g. Fig. 2) for more. Done.", ["See (e.g. Fig. 2) for more.", "Done."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_clean_text_strips_nested_latex() -> None:
    assert clean_text("texttt{D}ual-texttt{H}ead \\textbf{\\emph{X}}") == "Dual-Head X"


def test_paper_ids_are_stable_and_given_ids_kept() -> None:
    assert paper_id_for_title("A  Title!") == paper_id_for_title("a title")
    papers = parse_paths([DATA / "tiny.jsonl"]).papers
    assert [p.paper_id for p in papers] == ["101", "p-2", "p-3"]
    assert papers[0].abstract[1].startswith("Physicians preferred")
    assert (
        papers[1].abstract[0] == "Linear attention replaces the softmax with a kernel feature map."
    )
    assert papers[0].year == 2024 and papers[0].authors == ["A. Author", "B. Author"]
    assert papers[2].doi == "10.1234/coral"


def test_json_and_gzip_inputs() -> None:
    plain = parse_paths([DATA / "tiny.jsonl"]).papers
    gz = parse_paths([DATA / "tiny.jsonl.gz"]).papers
    assert [p.model_dump(exclude={"source", "location"}) for p in plain] == [
        p.model_dump(exclude={"source", "location"}) for p in gz
    ]
    arr = parse_paths([DATA / "tiny.json"]).papers
    assert [p.paper_id for p in arr] == ["j-1", "j-2"]
    assert arr[1].abstract == [
        "Byte-level models avoid tokenizers entirely.",
        "Our model matches a subword baseline at 1B parameters.",
    ]


@pytest.mark.skipif(not (SHARED / "benchmarks").exists(), reason="../shared not present")
def test_scifact_corpus_parses_as_is() -> None:
    path = SHARED / "benchmarks" / "scifact" / "corpus.jsonl.gz"
    result = parse_paths([path])
    assert len(result.papers) == 5183
    with gzip.open(path, "rt") as f:
        first = json.loads(f.readline())
    paper = result.papers[0]
    assert paper.paper_id == str(first["doc_id"])
    assert paper.abstract == [clean_text(s) for s in first["abstract"] if clean_text(s)]


# --- bad input: one clear line naming file and line ----------------------------------------


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


GOOD = '{"id": "a", "title": "Good", "abstract": "Fine text."}'


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", GOOD + "\n{not json\n", "bad.jsonl:2: malformed JSON"),
        (
            "badabs.jsonl",
            GOOD + '\n\n{"id": "b", "title": "T", "abstract": 3}\n',
            "badabs.jsonl:3: field 'abstract' must be a string",
        ),
        ("notitle.jsonl", '{"id": "b", "abstract": "x."}\n', "notitle.jsonl:1: field 'title'"),
        ("list.jsonl", "[1, 2]\n", "list.jsonl:1: record is not a JSON object"),
        (
            "latin1.jsonl",
            GOOD.encode() + b"\n" + '{"title": "caf\xe9"}'.encode("latin-1"),
            "latin1.jsonl:2: not UTF-8",
        ),
        ("notes.csv", "a,b\n", "unrecognised '.csv' file"),
        ("broken.json", '[{"id": 1,\n "title": }]', "broken.json:2: malformed JSON"),
        (
            "year.jsonl",
            '{"id": "y", "title": "T", "abstract": "A.", "year": "soon"}\n',
            "year.jsonl:1: field 'year' is not a year",
        ),
    ],
)
def test_bad_input_names_file_and_line(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as err:
        parse_paths([path])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        parse_paths([tmp_path / "nope.jsonl"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no file of a known format"):
        parse_paths([tmp_path / "empty"])


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.jsonl", GOOD)

    def deny(self: Path) -> bytes:  # root ignores chmod, so the OS error is injected
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(InputError, match=r"secret.jsonl: cannot read file: Permission denied"):
        parse_paths([path])


def test_skip_errors_counts_and_keeps_the_good_records(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.jsonl",
        GOOD + '\n{oops\n{"id": "c", "title": "C", "abstract": 7}\n'
        '{"id": "d", "title": "D", "abstract": "Also fine."}\n',
    )
    result = parse_paths([path], skip_errors=True)
    assert [p.paper_id for p in result.papers] == ["a", "d"]
    assert len(result.skipped) == 2
    assert result.skipped[0].startswith(f"{path}:2:")


def test_records_without_an_abstract_are_kept_title_only(tmp_path: Path) -> None:
    """Issue 10: JSON/JSONL records and Daily Papers blocks without an abstract become
    title-only papers (counted in the ingest report) instead of errors."""
    jsonl = write(
        tmp_path,
        "noabs.jsonl",
        GOOD
        + '\n{"id": "b", "title": "Only a title"}\n{"id": "c", "title": "C", "abstract": ""}\n',
    )
    dump = write(
        tmp_path,
        "dump.txt",
        "Sep 3\n\nA Paper Without Abstract\n\nAnother Paper With One\n\n"
        "We study things. We find that they work well on every benchmark we tried.\n\n"
        "Last Title Only\n",
    )
    result = parse_paths([jsonl, dump])
    by_title = {p.title: p for p in result.papers}
    assert [p.paper_id for p in result.papers[:3]] == ["a", "b", "c"]
    assert by_title["Only a title"].title_only and by_title["C"].title_only
    assert not by_title["Good"].title_only
    assert by_title["A Paper Without Abstract"].title_only
    assert by_title["Last Title Only"].title_only
    assert by_title["Another Paper With One"].abstract[0] == "We study things."
    assert sum(p.title_only for p in result.papers) == 4
    assert not result.skipped

"""End to end with the real parts: the all-MiniLM-L6-v2 embedder (ONNX), Chroma, the bundled
corpus; and the same ingest and search against a real `chroma run` server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.answering.grammar import REFUSAL_PHRASE
from rag.errors import ConfigError
from rag.library import Library
from tests.conftest import DATA
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.integration

BLOCK_LORA = (
    "One Head Eight Arms: Block Matrix based Low Rank Adaptation for CLIP-based Few-Shot Learning"
)
BLOCK_LORA_Q = "What does Block-LoRA share across its sub-matrices?"


def rag_cli(
    *args: str, home: Path, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "RAG_HOME": str(home), **env},
        timeout=300,
    )


def test_seeded_library_holds_242_papers(seeded_home: Path) -> None:
    stats = Library(home=seeded_home).stats()
    assert stats.papers == 242
    assert stats.chunks >= 242
    assert stats.embedder == "all-MiniLM-L6-v2"


def test_block_lora_question_is_answered_from_its_abstract(seeded_home: Path) -> None:
    answer = Library(home=seeded_home).ask(BLOCK_LORA_Q)
    assert not answer.refused
    first = answer.sentences[0]
    cited = {c.n: c for c in answer.citations}[first.citations[0]]
    assert cited.title == BLOCK_LORA
    assert "sharing all down-projection sub-matrices" in first.text
    # Every sentence is verbatim in the passage it cites.
    for s in answer.sentences:
        assert s.citations and all(
            s.text in cited_text
            for cited_text in [c.text for c in answer.citations if c.n in s.citations]
        )
    assert answer.answer.endswith("[1]")


def test_off_topic_question_is_refused_with_nearest_papers(seeded_home: Path) -> None:
    answer = Library(home=seeded_home).ask("What is the boiling point of ethanol?")
    assert answer.refused
    assert answer.answer == REFUSAL_PHRASE
    assert answer.citations == [] and len(answer.nearest) == 3


def test_search_ranks_the_right_paper_first(seeded_home: Path) -> None:
    hits = Library(home=seeded_home).search("block matrix low-rank adaptation CLIP few-shot", k=5)
    assert hits[0].title == BLOCK_LORA
    assert len({h.paper_id for h in hits}) == 5


def test_cli_json_contract(seeded_home: Path) -> None:
    out = rag_cli("ask", BLOCK_LORA_Q, "--json", home=seeded_home)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {
        "question",
        "answer",
        "refused",
        "sentences",
        "citations",
        "backend",
        "timings_ms",
    } <= set(data)
    assert data["backend"] == "extractive" and data["refused"] is False
    assert set(data["citations"][0]) >= {"n", "paper_id", "title", "chunk_id", "text"}
    assert set(data["sentences"][0]) >= {"text", "citations"}
    assert data["timings_ms"]["total"] > 0

    out = rag_cli("search", "linear attention", "-k", "3", "--json", home=seeded_home)
    hits = json.loads(out.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert set(hits[0]) >= {"rank", "paper_id", "title", "chunk_id", "score", "text"}  # may grow
    assert set(hits[0]) >= {"authors", "year", "venue", "doi", "url", "arxiv_id"}  # issue 10
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    stats = json.loads(rag_cli("stats", "--json", home=seeded_home).stdout)
    assert stats["papers"] == 242 and stats["embedder"] == "all-MiniLM-L6-v2"
    assert stats["location"] == str(seeded_home / "chroma")


def test_cli_batch_mode_reads_stdin_one_json_per_line(seeded_home: Path) -> None:
    questions = f"{BLOCK_LORA_Q}\n\nWhat is the boiling point of ethanol?\n"
    out = rag_cli("ask", "-", home=seeded_home, stdin=questions)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [a["refused"] for a in lines] == [False, True]
    out = rag_cli(
        "search", "-", "-k", "2", home=seeded_home, stdin="diffusion\nreinforcement learning\n"
    )
    assert [len(json.loads(line)) for line in out.stdout.splitlines()] == [2, 2]


def test_embedding_cache_makes_reingest_free(tmp_path: Path) -> None:
    lib = Library(home=tmp_path / "a")
    lib.ingest([DATA / "tiny.jsonl"], progress=False)
    other = Library(home=tmp_path / "b")  # a new library, same cache
    other.ingest([DATA / "tiny.jsonl"], progress=False)
    cache = other.embedder
    assert getattr(cache, "misses", None) == 0 and getattr(cache, "hits", 0) > 0


def test_cold_cli_run_fills_an_empty_library_and_answers(tmp_path: Path) -> None:
    out = rag_cli("ask", BLOCK_LORA_Q, home=tmp_path / "fresh")
    assert out.returncode == 0, out.stderr
    assert "Empty library" in out.stderr
    assert "sharing all down-projection sub-matrices" in out.stdout
    assert BLOCK_LORA in out.stdout


# --- a real Chroma server --------------------------------------------------------------------

pytest_server = pytest.mark.server


@pytest_server
def test_ingest_and_search_against_a_chroma_server(chroma_server: str, tmp_path: Path) -> None:
    lib = Library(chroma_url=chroma_server, collection="tiny-server", seed=False)
    report = lib.ingest([DATA / "tiny.jsonl", DATA / "tiny_daily.txt"], progress=False)
    assert report.papers_added == 5
    assert not (tmp_path / "home" / "chroma").exists()  # nothing written locally
    again = Library(chroma_url=chroma_server, collection="tiny-server").ingest(
        [DATA / "tiny.jsonl"], progress=False
    )
    assert again.papers_unchanged == 3 and again.chunks_written == 0
    hits = Library(chroma_url=chroma_server, collection="tiny-server").search(
        "coral bleaching after marine heatwaves", k=2
    )
    assert hits[0].paper_id == "p-3"
    stats = Library(chroma_url=chroma_server, collection="tiny-server").stats()
    assert (stats.papers, stats.location) == (5, chroma_server)


@pytest_server
def test_chroma_server_refuses_another_embedder(chroma_server: str) -> None:
    Library(chroma_url=chroma_server, collection="mismatch", seed=False).ingest(
        [DATA / "tiny.json"], progress=False
    )
    other = Library(chroma_url=chroma_server, collection="mismatch", embedder=FakeEmbedder())
    with pytest.raises(ConfigError, match="built with embedder 'all-MiniLM-L6-v2'"):
        _ = other.store


@pytest_server
def test_cli_against_chroma_server(chroma_server: str, tmp_path: Path) -> None:
    out = rag_cli(
        "ingest",
        str(DATA / "tiny.jsonl"),
        "--json",
        home=tmp_path,
        RAG_CHROMA_URL=chroma_server,
        RAG_COLLECTION="cli-server",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["papers_added"] == 3
    out = rag_cli(
        "search",
        "byte-level tokenizer free",
        "--json",
        home=tmp_path,
        RAG_CHROMA_URL=chroma_server,
        RAG_COLLECTION="cli-server",
    )
    assert json.loads(out.stdout)[0]["paper_id"] in {"101", "p-2", "p-3"}


def test_unreachable_chroma_server_is_one_line_error(tmp_path: Path) -> None:
    out = rag_cli("stats", home=tmp_path, RAG_CHROMA_URL="http://127.0.0.1:9")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: ") and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


# --- summarize and chat with the extractive backend ------------------------------------------


def test_summarize_linear_attention_cites_at_least_five_papers_grouped(seeded_home: Path) -> None:
    out = rag_cli("summarize", "linear attention", "--json", home=seeded_home)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    papers = {c["paper_id"] for c in data["citations"]}
    assert len(papers) >= 5 and not data["refused"]
    assert all(len(s["citations"]) == 1 for s in data["sentences"])  # one key sentence per paper
    by_n = {c["n"]: c["text"] for c in data["citations"]}
    # verbatim, but for a dangling connective ("However, we ..." -> "We ...") trimmed at the start
    assert all(s["text"][1:] in by_n[s["citations"][0]] for s in data["sentences"])
    text = rag_cli("summarize", "linear attention", home=seeded_home).stdout
    headers = [line for line in text.splitlines() if line.startswith("[")]
    assert len(headers) == len(papers)  # grouped: one "[n] Title" header per paper
    assert any("Linear Attention" in h for h in headers)


def test_chat_rewrites_a_follow_up_and_answers_from_the_same_paper(seeded_home: Path) -> None:
    script = f"{BLOCK_LORA_Q}\nHow much GPU memory does it need?\n/sources\n/reset\n/exit\n"
    out = rag_cli("chat", home=seeded_home, stdin=script)
    assert out.returncode == 0, out.stderr
    assert (
        "(searched for: How much GPU memory does it need? (regarding: One Head Eight Arms"
        in out.stdout
    )
    assert "using a single 24GB GPU. [1]" in " ".join(out.stdout.split())  # unwrap lines
    assert "(history cleared)" in out.stdout


def test_chat_session_api(seeded_home: Path) -> None:
    chat = Library(home=seeded_home).chat()
    chat.ask(BLOCK_LORA_Q)
    assert chat.condense("What about its generalization error bound?").startswith(
        "What about its generalization error bound? (regarding: One Head Eight Arms"
    )
    assert chat.condense("Which papers study speculative decoding for LLM inference?") == (
        "Which papers study speculative decoding for LLM inference?"
    )
    chat.reset()
    assert chat.history == []


THREAD_QUESTIONS = [
    BLOCK_LORA_Q,
    "What is the boiling point of ethanol?",
    "Which papers use curriculum learning for reinforcement learning fine-tuning?",
    "How does linear attention reduce the cost of transformers?",
    "What benchmark evaluates large language models on molecule prediction?",
    "How is speculative decoding used to speed up inference?",
    "Which methods compress the KV cache?",
    "What does PRepBN stand for?",
]


@pytest.mark.integration
def test_ask_from_eight_threads_matches_sequential_answers(seeded_home: Path) -> None:
    """One library, one pipeline, real embedder and Chroma: 8 threads at once give exactly the
    answers (text, citations, sources) that the same questions give one after another."""
    from concurrent.futures import ThreadPoolExecutor

    def key(answer: object) -> tuple[object, ...]:
        a = answer  # an Answer
        return (
            a.answer,  # type: ignore[attr-defined]
            [c.chunk_id for c in a.citations],  # type: ignore[attr-defined]
            [n.paper_id for n in a.nearest],  # type: ignore[attr-defined]
        )

    sequential = [key(Library(home=seeded_home).ask(q)) for q in THREAD_QUESTIONS]
    shared = Library(home=seeded_home)
    questions = THREAD_QUESTIONS * 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda q: key(shared.ask(q)), questions))
        searches = list(pool.map(lambda q: [h.chunk_id for h in shared.search(q, k=5)], questions))
    assert concurrent == sequential * 3
    assert searches == [[h.chunk_id for h in shared.search(q, k=5)] for q in questions]


@pytest.mark.integration
def test_no_stored_chunk_is_cut_off_by_the_embedder(seeded_home: Path) -> None:
    """Every chunk, title included, fits MiniLM's 256 word pieces ([CLS] and [SEP] counted)."""
    from rag.index.chunking import embed_text
    from rag.index.minilm import MiniLMEmbedder

    lib = Library(home=seeded_home)
    inner = lib.embedder.inner  # type: ignore[attr-defined]
    assert isinstance(inner, MiniLMEmbedder) and inner.max_tokens == 256
    rows = lib.store.get_chunks()
    assert len(rows) > 242
    lengths = [inner.count_tokens(embed_text(str(r["metadata"]["title"]), r["text"])) for r in rows]
    assert max(lengths) <= 256
    assert all(int(r["metadata"]["n_tokens"]) == n for r, n in zip(rows, lengths, strict=True))
    # what the model reads is the whole text: truncating at the window changes nothing
    longest = max(zip(lengths, rows, strict=True), key=lambda x: x[0])[1]
    text = embed_text(str(longest["metadata"]["title"]), longest["text"])
    inner.prepare()
    assert len(inner._tokenizer.encode(text).ids) == inner.count_tokens(text)


@pytest.mark.integration
def test_speculative_decoding_is_not_answered_with_another_papers_speed_up(
    seeded_home: Path,
) -> None:
    """No bundled paper mentions speculative decoding; S2-Attention's "25.3X speed-up" used to be
    shown as the answer, 'verified'. It must be refused, or answered only with "not reported"
    from papers that are about speculative decoding (there are none)."""
    lib = Library(home=seeded_home)
    answer = lib.ask("How much does speculative decoding speed up inference?")
    assert answer.refused
    assert "25.3" not in answer.answer
    for citation in answer.citations:
        assert "speculative" in f"{citation.title} {citation.text}".lower()


@pytest.mark.integration
def test_a_question_about_one_paper_is_answered_from_it(seeded_home: Path) -> None:
    lib = Library(home=seeded_home)
    paper = lib.search("Block-LoRA block matrix low rank adaptation CLIP few-shot", k=1)[0]
    answer = lib.ask("What is the main contribution of this paper?", paper=paper.paper_id)
    assert not answer.refused
    assert {c.paper_id for c in answer.citations} == {paper.paper_id}
    assert len(answer.sentences) >= 2

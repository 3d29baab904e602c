"""The fault suite as a user meets it: every case is a real `rag` subprocess (RAG_SEED=false, a
fresh RAG_HOME, the FakeEmbedder unless a case needs more), judged from its exit code, its
stderr and the library it leaves. Prints the table

    category | cases | clear errors | tracebacks | data lost | hangs

where "clear errors" counts cases handled as they should be (one ``Error:`` line naming the
file, field or server, exit 1; or, for the injection and terminal cases, safe output), and the
last three must be zero. Run from the repository root:

    python bench/faults.py [--only inputs,llm,...] [--timeout 60]

Crash-safety under SIGKILL and concurrent readers/writers have their own suites.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.faults.test_inputs import BAD_RECORDS, GOOD  # noqa: E402
from tests.openai_server import OpenAITestServer, Reply  # noqa: E402

DATA = REPO / "tests" / "data"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: The CLI with the FakeEmbedder patched in (no model load: a case costs the start-up only).
LAUNCH = (
    "import sys, rag.index.embedders as e; from tests.fakes import FakeEmbedder; "
    "e.make_embedder = lambda settings: FakeEmbedder(); "
    "from rag.interfaces.cli import cli; cli(sys.argv[1:], prog_name='rag')"
)


@dataclass
class Outcome:
    clear: bool = False
    traceback: bool = False
    lost: bool = False
    hang: bool = False
    note: str = ""


@dataclass
class Tally:
    cases: int = 0
    clear: int = 0
    tracebacks: int = 0
    lost: int = 0
    hangs: int = 0
    failures: list[str] = field(default_factory=list)


class Runner:
    def __init__(self, work: Path, timeout: float) -> None:
        self.work, self.timeout, self.n = work, timeout, 0

    def home(self) -> Path:
        self.n += 1
        return self.work / f"home{self.n}"

    def rag(
        self, *args: object, home: Path, stdin: bytes | None = None, **env: str
    ) -> subprocess.CompletedProcess[bytes] | None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
        base.update(PYTHONPATH=str(REPO), RAG_HOME=str(home), RAG_SEED="false", **env)
        base.setdefault("RAG_CACHE_DIR", str(self.work / "cache"))
        try:
            return subprocess.run(
                [sys.executable, "-c", LAUNCH, *map(str, args)],
                input=stdin,
                capture_output=True,
                env=base,
                timeout=self.timeout,
                cwd=self.work,
            )
        except subprocess.TimeoutExpired:
            return None


def judge_error(out: subprocess.CompletedProcess[bytes] | None, *fragments: str) -> Outcome:
    if out is None:
        return Outcome(hang=True, note="timed out")
    err = out.stderr.decode("utf-8", "replace")
    tb = "Traceback" in err or "unexpected" in err
    lines = [line for line in err.splitlines() if line.startswith("Error: ")]
    ok = out.returncode == 1 and len(lines) == 1 and all(f in lines[0] for f in fragments)
    return Outcome(clear=ok and not tb, traceback=tb, note=err.strip()[-200:])


def chunks(r: Runner, home: Path) -> int | None:
    out = r.rag("stats", "--json", home=home)
    return json.loads(out.stdout)["chunks"] if out is not None and out.returncode == 0 else None


# --- categories ------------------------------------------------------------------------------


def inputs(r: Runner) -> list[tuple[str, Outcome]]:
    """Each bad file against a library holding tiny.jsonl: a clear error, the library intact."""
    results = []
    home = r.home()
    r.rag("ingest", DATA / "tiny.jsonl", home=home)
    before = chunks(r, home)
    files: list[tuple[str, Path, tuple[str, ...], dict[str, str]]] = []
    for case, line, names in BAD_RECORDS:
        path = r.work / f"{re.sub(r'[^a-z0-9]+', '_', case)}.jsonl"
        path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
        files.append((case, path, (f"{path}:2", names), {}))
    deep = r.work / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    bomb = r.work / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb") as fh:
        fh.write(b'{"id": "x", "title": "T", "abstract": "A."}\n' + b" " * 8 * 2**20)
    broken = r.work / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    binary = r.work / "garbage.jsonl"
    binary.write_bytes(bytes(range(256)) * 4)
    files += [
        ("deep JSON document", deep, (f"{deep}:1", "nested too deeply"), {}),
        ("gzip bomb", bomb, (str(bomb), "larger than 1 MiB"), {"RAG_MAX_INPUT_MB": "1"}),
        ("broken gzip", broken, (str(broken),), {}),
        ("binary garbage", binary, (str(binary),), {}),
        ("missing file", r.work / "nope.jsonl", ("nope.jsonl", "no such file"), {}),
    ]
    for case, path, fragments, env in files:
        outcome = judge_error(r.rag("ingest", path, home=home, **env), *fragments)
        results.append((case, outcome))
    after = chunks(r, home)
    if after != before:  # every bad ingest must have left the library as it was
        results[-1][1].lost = True
    skip = r.work / "mixed.jsonl"
    skip.write_text("\n".join([json.dumps(GOOD)] + [line for _, line, _ in BAD_RECORDS]) + "\n")
    out = r.rag("ingest", "--skip-errors", "--json", skip, home=r.home())
    ok = out is not None and out.returncode == 0
    skipped = len(json.loads(out.stdout)["skipped"]) if ok and out is not None else -1
    results.append(
        ("--skip-errors skips every kind", Outcome(clear=skipped == len(BAD_RECORDS), hang=not out))
    )
    return results


def batch(r: Runner) -> list[tuple[str, Outcome]]:
    home = r.home()
    r.rag("ingest", DATA / "tiny.jsonl", home=home)
    out = r.rag("ask", "-", home=home, stdin=b"What did physicians prefer?\n\xff bad\nWhy?\n")
    if out is None:
        return [("non-UTF-8 line in ask -", Outcome(hang=True))]
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    ok = len(rows) == 3 and "error" in rows[1] and "answer" in rows[2] and out.returncode == 1
    tb = b"Traceback" in out.stderr or b"unexpected" in out.stderr
    return [("non-UTF-8 line in ask -", Outcome(clear=ok and not tb, traceback=tb))]


def terminal(r: Runner) -> list[tuple[str, Outcome]]:
    home = r.home()
    evil = r.work / "evil.jsonl"
    payload = "\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x1b[2J\x9b31m\u202eevil"
    row = {"id": "e1", "title": f"Escape {payload} study", "abstract": f"Widgets {payload} work."}
    evil.write_text(json.dumps(row) + "\n")
    r.rag("ingest", evil, home=home)
    results = []
    for args in (("search", "widgets"), ("show", "e1"), ("papers",), ("ask", "What works?")):
        out = r.rag(*args, home=home)
        if out is None:
            results.append((" ".join(args), Outcome(hang=True)))
            continue
        text = out.stdout.decode("utf-8", "replace") + out.stderr.decode("utf-8", "replace")
        tb = "Traceback" in text
        results.append(
            (
                " ".join(args),
                Outcome(clear=out.returncode == 0 and not CONTROL.search(text), traceback=tb),
            )
        )
    return results


def llm(r: Runner) -> list[tuple[str, Outcome]]:
    server = OpenAITestServer().start()
    home = r.home()
    r.rag("ingest", DATA / "tiny.jsonl", home=home)
    env = {
        "RAG_LLM": "openai:m",
        "OPENAI_BASE_URL": server.base_url,
        "RAG_LLM_TIMEOUT": "2",
        "RAG_LLM_MAX_RETRIES": "1",
    }
    question = "How did retrieval-augmented summaries change hallucinated medications?"
    cases: list[tuple[str, Reply, tuple[str, ...], dict[str, str]]] = [
        ("trickling reply", Reply(content="Reply [1].", trickle=0.5), ("within 2 s",), {}),
        ("huge reply", Reply(content="Words of text. " * 80_000), ("KiB",), {}),
        ("HTTP 500", Reply(status=500), ("500",), {}),
        ("HTTP 400", Reply(status=400), ("400",), {}),
        ("HTTP 401", Reply(status=401), ("401",), {}),
        (
            "HTTP 429, retry in 1 h",
            Reply(status=429, headers={"retry-after": "3600"}),
            ("429",),
            {},
        ),
        ("malformed JSON body", Reply(raw="{not json"), (server.base_url,), {}),
        ("slow beyond the timeout", Reply(content="Late [1].", delay=6), ("timed out",), {}),
    ]
    results = []
    try:
        for case, reply, fragments, extra in cases:
            server.reset()
            server.script(reply)
            outcome = judge_error(r.rag("ask", question, home=home, **env, **extra), *fragments)
            if outcome.clear and server.base_url not in outcome.note:
                outcome.clear = False  # the message must name the endpoint
            results.append((case, outcome))
        for reply in ("HACKED [1].", "HACKED. [1]"):
            server.reset()
            server.script(reply)
            out = r.rag("ask", question, "--json", home=home, **env)
            ok = out is not None and out.returncode == 0
            safe = ok and out is not None and "HACKED" not in json.loads(out.stdout)["answer"]
            results.append((f"injection: {reply}", Outcome(clear=safe, hang=out is None)))
    finally:
        server.stop()
    return results


def chroma(r: Runner) -> list[tuple[str, Outcome]]:
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        return [("chroma server", Outcome(note="no `chroma` command"))]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            exe,
            "run",
            "--path",
            str(r.work / "chroma-db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = []
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        home = r.home()
        env = {"RAG_CHROMA_URL": url, "RAG_CHROMA_TIMEOUT": "2"}
        r.rag("ingest", DATA / "tiny.jsonl", home=home, **env)
        os.kill(proc.pid, signal.SIGSTOP)
        results.append(
            ("stopped server: search", judge_error(r.rag("search", "notes", home=home, **env), url))
        )
        results.append(
            (
                "stopped server: ingest",
                judge_error(r.rag("ingest", DATA / "tiny.json", home=home, **env), url),
            )
        )
        os.kill(proc.pid, signal.SIGCONT)
        out = r.rag("search", "notes", home=home, **env)
        results.append(
            (
                "resumed server: search",
                Outcome(clear=out is not None and out.returncode == 0, hang=out is None),
            )
        )
        proc.kill()
        proc.wait()
        results.append(
            ("killed server: search", judge_error(r.rag("search", "notes", home=home, **env), url))
        )
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
    return results


CATEGORIES: dict[str, Callable[[Runner], list[tuple[str, Outcome]]]] = {
    "inputs": inputs,
    "batch": batch,
    "terminal": terminal,
    "llm": llm,
    "chroma": chroma,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(CATEGORIES))
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a 'hang'")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-faults-") as tmp:
        runner = Runner(Path(tmp), args.timeout)
        for name in args.only.split(","):
            started = time.monotonic()
            tally = Tally()
            for case, o in CATEGORIES[name](runner):
                tally.cases += 1
                tally.clear += o.clear
                tally.tracebacks += o.traceback
                tally.lost += o.lost
                tally.hangs += o.hang
                if not o.clear or o.traceback or o.lost or o.hang or args.verbose:
                    tally.failures.append(f"  {name}: {case}: {o}")
            rows.append((name, tally, time.monotonic() - started))
    print("category | cases | clear errors | tracebacks | data lost | hangs | seconds")
    for name, t, secs in rows:
        print(
            f"{name} | {t.cases} | {t.clear} | {t.tracebacks} | {t.lost} | {t.hangs} | {secs:.0f}"
        )
    for _name, t, _ in rows:
        for line in t.failures:
            print(line)
    bad = sum(t.tracebacks + t.lost + t.hangs + (t.cases - t.clear) for _, t, _ in rows)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

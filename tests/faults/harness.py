"""SIGKILL trials of ingest, changed re-ingest and remove (tests/faults, bench/kill.py).

A trial copies a library (empty, or holding corpus v1), runs one operation in a forked child
(:mod:`tests.faults.worker`) and SIGKILLs it at a random moment or at its Nth write step, runs the
same operation again to completion, and compares a snapshot of the result -- chunk ids, texts and
content hashes; the lexical index as saved on disk; the top 5 chunks of a few queries; an empty
write journal -- with the snapshot of a clean, uninterrupted run. Uses the fake embedder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KINDS = ("first", "reingest", "remove")


def write_corpus(folder: Path, n: int = 24, new: int = 6) -> tuple[Path, Path, list[str]]:
    """Corpus v1 (``n`` bundled papers), v2 (half of them changed: some shorter, some longer,
    plus ``new`` papers), and the ids a removal trial removes."""
    from rag.ingest import bundled_seed_dir, parse_paths

    papers = parse_paths([bundled_seed_dir()]).papers[: n + new]
    base, extra = papers[:n], papers[n:]

    def record(pid: str, title: str, sentences: list[str]) -> str:
        return json.dumps({"id": pid, "title": title, "abstract": " ".join(sentences)})

    v1 = [record(p.paper_id, p.title, p.abstract) for p in base]
    v2 = []
    for i, p in enumerate(base):
        sents = p.abstract
        if i % 4 == 1:
            sents = sents[: max(1, len(sents) // 2)]  # fewer chunks
        elif i % 4 == 3:
            sents = [*sents, *base[(i + 7) % n].abstract[:4]]  # more chunks
        v2.append(record(p.paper_id, p.title, sents))
    v2 += [record(p.paper_id, p.title, p.abstract) for p in extra]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v1.jsonl").write_text("\n".join(v1) + "\n")
    (folder / "v2.jsonl").write_text("\n".join(v2) + "\n")
    removed = [p.paper_id for p in base[::3]]
    return folder / "v1.jsonl", folder / "v2.jsonl", removed


class Worker:
    """The fork server, as a subprocess."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )

    def run(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fault worker died")
        reply: dict[str, Any] = json.loads(line)
        out = Path(cmd["out"])
        reply["result"] = json.loads(out.read_text()) if out.exists() else None
        if reply["rc"] not in (0, None):
            log = Path(cmd["out"] + ".log")
            raise RuntimeError(f"{cmd['op']} failed:\n{log.read_text() if log.exists() else ''}")
        out.unlink(missing_ok=True)
        return reply

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@dataclass
class Lab:
    """A worker, a corpus, and the clean runs every trial is compared with."""

    root: Path
    batch: int = 6
    worker: Worker = field(default_factory=Worker)
    refs: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    n: int = 0

    def __post_init__(self) -> None:
        self.v1, self.v2, self.removed = write_corpus(self.root / "corpus")
        self.base = self.root / "base-v1"
        for kind in KINDS:
            home = self.fresh(kind, f"ref-{kind}")
            reply = self.op(kind, home, snapshot=True)
            self.steps[kind] = int(reply["result"]["steps"])
            self.seconds[kind] = float(reply["result"]["seconds"])
            self.refs[kind] = reply["result"]["snapshot"]
            if kind == "first":
                shutil.copytree(home, self.base)

    def command(self, kind: str, home: Path) -> dict[str, Any]:
        out = str(self.root / f"out-{self.n}.json")
        self.n += 1
        if kind == "remove":
            return {"op": "remove", "home": str(home), "ids": self.removed, "out": out}
        files = [str(self.v1 if kind == "first" else self.v2)]
        return {"op": "ingest", "home": str(home), "files": files, "batch": self.batch, "out": out}

    def op(self, kind: str, home: Path, **extra: Any) -> dict[str, Any]:
        return self.worker.run(**self.command(kind, home), **extra)

    def snapshot(self, home: Path) -> dict[str, Any]:
        out = str(self.root / f"snap-{self.n}.json")
        self.n += 1
        got = self.worker.run(op="snapshot", home=str(home), out=out)["result"]
        assert got is not None
        return dict(got["snapshot"])

    def fresh(self, kind: str, name: str) -> Path:
        home = self.root / name
        shutil.rmtree(home, ignore_errors=True)
        if kind != "first":
            if not self.base.exists():  # the reference of "first" is built before the others
                self.op("first", home)
            else:
                shutil.copytree(self.base, home)
        return home

    def trial(self, kind: str, *, kill_at: int | None = None, kill_after: float | None = None):  # type: ignore[no-untyped-def]
        """Kill, re-run, compare; returns (converged, how it was killed, differences)."""
        home = self.fresh(kind, "trial")
        reply = self.op(kind, home, kill_at=kill_at, kill_after=kill_after)
        got = self.op(kind, home, snapshot=True)["result"]["snapshot"]
        diffs = [k for k, v in self.refs[kind].items() if k != "steps" and got.get(k) != v]
        shutil.rmtree(home, ignore_errors=True)
        return not diffs, bool(reply["killed"]), diffs

    def random_trial(self, rng: random.Random, kind: str) -> tuple[bool, bool, list[str]]:
        """Half the trials kill at a random write step, half after a random delay."""
        if rng.random() < 0.5:
            return self.trial(kind, kill_at=rng.randint(1, self.steps[kind]))  # type: ignore[no-any-return]
        delay = rng.uniform(0.0, 1.2 * self.seconds[kind])
        return self.trial(kind, kill_after=delay)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.worker.close()


def make_lab(batch: int = 6) -> Lab:
    return Lab(Path(tempfile.mkdtemp(prefix="rag-faults-")), batch=batch)

"""Cold start: wall time of `rag --help`, `rag stats` and `rag ask` (a question never asked
before, so no cached embedding) in new processes, median of N runs each, for this checkout and,
optionally, a baseline checkout run by the same interpreter (alternating, in one run: these
machines are noisy, the ratio is the figure that counts).

    .venv/bin/python bench/coldstart.py                          # this checkout
    .venv/bin/python bench/coldstart.py --baseline ../base -n 5  # side by side with another

Each side gets its own library under --work (filled once before timing, not timed). Two tables:
wall seconds, and CPU seconds (user + system) of each process, which are far steadier when other
jobs share the cores.

Python's bytecode caches are written (``PYTHONDONTWRITEBYTECODE`` is dropped, and each command
runs once untimed), as in any installed copy: with the variable set, every run compiles the
package's sources again (about 0.15-0.25 s of each cold process on these machines).
``--no-bytecode`` keeps the variable, as earlier figures were measured.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUESTION = "What does Block-LoRA share across its sub-matrices, as reported in run {i}?"


def env_for(checkout: Path, work: Path, name: str, bytecode: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(checkout)
    env["RAG_HOME"] = str(work / name / "home")
    env["RAG_CACHE_DIR"] = str(work / name / "cache")
    from rag.index.model_files import locate_minilm

    env["RAG_MODEL_DIR"] = str(locate_minilm())  # the old code looked for an installed package
    return env


def cli(checkout: Path) -> list[str]:
    module = "rag.interfaces.cli" if (checkout / "rag" / "interfaces").is_dir() else "rag.cli"
    return [sys.executable, "-m", module]


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``cmd``."""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[-3:])} failed: {done.stderr.strip()[-300:]}")
    return elapsed, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout to compare")
    ap.add_argument("-n", type=int, default=5, help="runs per command and side")
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-coldstart"))
    ap.add_argument("--no-bytecode", action="store_true", help="keep PYTHONDONTWRITEBYTECODE")
    args = ap.parse_args()
    sides = {"this checkout": REPO.resolve()}
    if args.baseline is not None:
        sides["baseline"] = args.baseline.resolve()
    envs = {
        name: env_for(path, args.work, name.replace(" ", "-"), not args.no_bytecode)
        for name, path in sides.items()
    }
    for name, path in sides.items():  # fill each library once (not timed)
        subprocess.run([*cli(path), "stats"], env=envs[name], cwd=path, check=True,
                       capture_output=True)  # fmt: skip
    commands = {
        "rag --help": lambda i: ["--help"],
        "rag stats": lambda i: ["stats"],
        "rag ask (new question)": lambda i: ["ask", QUESTION.format(i=i)],
    }
    for argv in commands.values():  # untimed: writes the bytecode caches
        for name, path in sides.items():
            timed([*cli(path), *argv(f"{name}-warm")], envs[name], path)
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for i in range(args.n):
        for label, argv in commands.items():
            for name, path in sides.items():  # alternate the sides
                t = timed([*cli(path), *argv(f"{name}-{i}")], envs[name], path)
                runs.setdefault((label, name), []).append(t)
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    for what, col in (("wall", 0), ("CPU (user + system)", 1)):  # CPU: steadier on a busy machine
        print(f"\n{what} seconds")
        table({k: [r[col] for r in v] for k, v in runs.items()}, commands, sides)
    return 0


def table(
    times: dict[tuple[str, str], list[float]], commands: dict[str, Any], sides: dict[str, Path]
) -> None:
    speedup = " | baseline/this |" if len(sides) == 2 else " |"
    print("| command | " + " | ".join(f"{n}: median s (min-max)" for n in sides) + speedup)
    print("|---|" + "---|" * (len(sides) + (len(sides) == 2)))
    for label in commands:
        cells = [
            f"{statistics.median(ts):.2f} ({min(ts):.2f}-{max(ts):.2f})"
            for ts in (times[(label, n)] for n in sides)
        ]
        if len(sides) == 2:
            a, b = (statistics.median(times[(label, n)]) for n in sides)
            cells.append(f"{b / a:.2f}x")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())

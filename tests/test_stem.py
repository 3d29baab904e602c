"""The Snowball stemmer compiled from NLTK's source (:mod:`rag.stem`) against NLTK's own:
identical stems, without importing NLTK. (Also checked, once, over SciFact's corpus and claims
plus the seed corpus: 52,337 words, 0 differences.) Runtime: ~6 s on the 2-core machine at
load ~16 (one child process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata

import pytest

from rag import stem
from rag.text import _WORD_RE
from tests.conftest import REPO


def seed_vocabulary() -> set[str]:
    from rag.ingest import bundled_seed_dir, parse_paths

    words: set[str] = set()
    for paper in parse_paths([bundled_seed_dir()]).papers:
        for text in [paper.title, *paper.abstract]:
            for w in _WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold()):
                words.add(w)
                words.update(p for p in re.split(r"[-'’]", w) if p)
    return words


def test_the_compiled_stemmer_stems_the_seed_corpus_as_nltk_does() -> None:
    from nltk.stem.snowball import EnglishStemmer

    reference, compiled = EnglishStemmer().stem, stem._load_without_nltk_init()
    words = seed_vocabulary()
    assert len(words) > 5000
    assert [w for w in sorted(words) if compiled(w) != reference(w)] == []


def test_it_loads_without_importing_nltk() -> None:
    code = (
        "import sys; from rag.stem import english_stemmer as e; s = e(); "
        "print(s('generously'), sorted(m for m in sys.modules if m.startswith('nltk')))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["generous", "[]"], out.stderr[-500:]


def test_an_unexpected_source_falls_back_to_importing_nltk(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(text: str, kind: str, name: str) -> str:
        raise LookupError(name)

    monkeypatch.setattr(stem, "_source", missing)
    stemmer = stem.english_stemmer()
    assert getattr(stemmer, "__self__", None).__class__.__module__ == "nltk.stem.snowball"
    assert stemmer("running") == "run"

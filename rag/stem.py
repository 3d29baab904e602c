"""NLTK's Snowball English stemmer without importing NLTK.

``from nltk.stem.snowball import EnglishStemmer`` runs ``nltk/__init__.py``, which imports most
of NLTK (about 250 modules: 0.45 s of a cold ``rag ask``). The stemmer itself is three small
classes in ``nltk/stem/snowball.py`` that need nothing from the rest of NLTK but two string
helpers. :func:`english_stemmer` compiles exactly those classes, from the installed NLTK's own
source file (so the stems are NLTK's by construction, whatever its version), and falls back to
the ordinary import if anything about that file is unexpected or a self-check disagrees.
``tests/test_stem.py`` compares the two over every word of the bundled corpus.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The classes of nltk/stem/snowball.py that EnglishStemmer is made of, base classes first.
CLASSES = ("_LanguageSpecificStemmer", "_StandardStemmer", "EnglishStemmer")
#: Words whose stems exercise most steps of the algorithm (checked against known stems).
SELF_CHECK = {
    "running": "run", "generously": "generous", "dying": "die", "skies": "sky",
    "national": "nation", "hopefulness": "hope", "consigned": "consign", "agreed": "agre",
}  # fmt: skip


def _source(text: str, kind: str, name: str) -> str:
    """The source of top-level ``def``/``class`` ``name`` in ``text`` (up to the next
    unindented line)."""
    match = re.search(rf"^{kind} {name}\(.*?(?=^\S|\Z)", text, flags=re.S | re.M)
    if match is None:
        raise LookupError(name)
    return match.group(0)


def _load_without_nltk_init() -> Callable[[str], str]:
    spec = importlib.util.find_spec("nltk")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nltk")
    folder = Path(next(iter(spec.submodule_search_locations))) / "stem"
    text = (folder / "snowball.py").read_text(encoding="utf-8")
    helpers = (folder / "util.py").read_text(encoding="utf-8")
    namespace: dict[str, Any] = {"StemmerI": object, "stopwords": None, "__name__": "nltk_snowball"}
    parts = [_source(helpers, "def", f) for f in ("suffix_replace", "prefix_replace")]
    parts += [_source(text, "class", name) for name in CLASSES]
    source = "\n".join(parts)
    exec(compile(source, str(folder / "snowball.py"), "exec"), namespace)
    stem: Callable[[str], str] = namespace["EnglishStemmer"]().stem
    if any(stem(word) != expected for word, expected in SELF_CHECK.items()):
        raise ValueError("the compiled stemmer disagrees with its self-check")
    return stem


def english_stemmer() -> Callable[[str], str]:
    """NLTK's ``EnglishStemmer().stem``: compiled from its source when possible, else imported."""
    try:
        return _load_without_nltk_init()
    except Exception:  # any surprise: the ordinary, slower import
        from nltk.stem.snowball import EnglishStemmer

        return EnglishStemmer().stem  # type: ignore[no-any-return]

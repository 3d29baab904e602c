"""Prompt files: loaded from ``prompts/*.toml`` and validated at load.

A prompt file declares its ``variables`` and holds a ``system`` and a ``user`` template written with
``{name}`` placeholders. Loading fails (:class:`~rag.errors.ConfigError`, naming the file) when a
template uses a variable that is not declared, or a declared variable is used by no template.
Rendering fails when a variable is missing or unexpected. The citation format and the refusal
phrase are not written in the files: they are the ``{citation_example}`` and ``{refusal}``
variables, filled from :mod:`rag.answering.grammar` so that prompts, parser and evaluator agree.
"""

from __future__ import annotations

import functools
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from rag.answering.grammar import CITATION_FORMAT, PARTIAL_FORM, REFUSAL_PHRASE
from rag.errors import ConfigError

#: Variables every prompt may use without passing them: shared constants.
CONSTANTS = {
    "refusal": REFUSAL_PHRASE,
    "citation_example": CITATION_FORMAT.format(n=1),
    "partial": PARTIAL_FORM.format(what="<the asked detail>"),
}


def prompts_dir(override: Path | None = None) -> Path:
    """``override`` (the ``prompts_dir`` setting) if given, else the prompts shipped as package
    data (``rag/data/prompts``; the repository's top-level ``prompts/`` links there)."""
    if override is not None:
        return Path(override).expanduser()
    from importlib.resources import files

    folder = Path(str(files("rag") / "data" / "prompts"))
    if not folder.is_dir():
        raise ConfigError("the prompts folder is missing from the installation", where=str(folder))
    return folder


def placeholders(template: str, where: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise ConfigError(f"bad template syntax: {e}", where=where) from None


@dataclass(frozen=True)
class Prompt:
    name: str
    path: Path
    system: str
    user: str
    variables: frozenset[str]

    def render(self, **values: str) -> list[dict[str, str]]:
        """Chat messages with every declared variable filled in."""
        given = set(values)
        missing = self.variables - given
        unknown = given - self.variables
        if missing or unknown:
            raise ConfigError(
                f"prompt {self.name!r}: missing variables {sorted(missing)}, "
                f"unknown variables {sorted(unknown)}",
                where=str(self.path),
            )
        filled = {**CONSTANTS, **values}
        return [
            {"role": "system", "content": self.system.format(**filled)},
            {"role": "user", "content": self.user.format(**filled)},
        ]


def parse_prompt(path: Path) -> Prompt:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read prompt file: {e}", where=where) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", where=where) from None
    unknown_keys = set(data) - {"description", "variables", "system", "user"}
    if unknown_keys:
        raise ConfigError(f"unknown keys {sorted(unknown_keys)}", where=where)
    for key in ("variables", "system", "user"):
        if key not in data:
            raise ConfigError(f"missing key {key!r}", where=where)
    declared = data["variables"]
    if not isinstance(declared, list) or not all(isinstance(v, str) for v in declared):
        raise ConfigError("'variables' must be a list of names", where=where)
    used = placeholders(data["system"], where) | placeholders(data["user"], where)
    used -= set(CONSTANTS)
    undeclared = used - set(declared)
    unused = set(declared) - used
    if undeclared:
        raise ConfigError(f"templates use undeclared variables {sorted(undeclared)}", where=where)
    if unused:
        raise ConfigError(f"declared variables are never used: {sorted(unused)}", where=where)
    return Prompt(path.stem, path, data["system"], data["user"], frozenset(declared))


@functools.lru_cache(maxsize=32)
def _load(folder: str, name: str) -> Prompt:
    path = Path(folder) / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"no prompt named {name!r}", where=str(path))
    return parse_prompt(path)


def load_prompt(name: str, folder: Path | None = None) -> Prompt:
    """The validated prompt ``NAME.toml`` from ``folder`` (default: the packaged prompts)."""
    return _load(str(prompts_dir(folder)), name)

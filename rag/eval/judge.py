"""Judges of citation support: the offline support scorer, or an LLM reading ``prompts/judge``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError
from rag.eval import metrics as M
from rag.eval.context import Context

if TYPE_CHECKING:
    from rag.answering.llm import LLM
    from rag.library import Library

Pair = tuple[str, tuple[str, ...]]


class Judge:
    """Support verdicts for (sentence, cited passages) pairs, memoised."""

    name = "offline"

    def __init__(self) -> None:
        self.cache: dict[Pair, bool] = {}
        self.usage: list[dict[str, Any]] = []
        self.unparsed = 0

    def supports(self, pairs: Sequence[Pair]) -> Callable[[str, tuple[str, ...]], bool]:
        todo = [p for p in dict.fromkeys(pairs) if p not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.verdicts(todo), strict=True))
        return lambda sentence, passages: self.cache[(sentence, passages)]

    def verdicts(self, pairs: list[Pair]) -> list[bool]:
        raise NotImplementedError

    def score(
        self, sentences: list[M.CitedSentence], *, refused: bool, should_refuse: bool
    ) -> M.CitationScores:
        supports = self.supports(M.support_queries(sentences))
        return M.citation_scores(sentences, supports, refused=refused, should_refuse=should_refuse)


class OfflineJudge(Judge):
    """The offline support scorer (:mod:`rag.answering.support`) at its default threshold."""

    def __init__(self, library: Library) -> None:
        from rag.answering.support import SupportScorer

        super().__init__()
        self.scorer = SupportScorer(library.embedder)

    def verdicts(self, pairs: list[Pair]) -> list[bool]:
        return [r.supported for r in self.scorer.score_many([(s, list(p)) for s, p in pairs])]


class LLMJudge(Judge):
    """The LLM, prompted with ``prompts/judge.toml``, answers yes or no for each pair."""

    def __init__(self, llm: LLM, prompts_dir: Path | None = None) -> None:
        super().__init__()
        self.llm = llm
        self.prompts_dir = prompts_dir
        self.name = f"llm:{llm.model}"

    def verdicts(self, pairs: list[Pair]) -> list[bool]:
        from rag.answering.grammar import escape_data
        from rag.answering.prompt import load_prompt

        prompt, out = load_prompt("judge", self.prompts_dir), []
        for sentence, passages in pairs:
            text = "\n\n".join(f"Passage {i}:\n{escape_data(p)}" for i, p in enumerate(passages, 1))
            reply = self.llm.complete(
                prompt.render(sentence=escape_data(sentence), passages=text), max_tokens=50
            )
            self.usage.append(reply.usage.model_dump())
            m = re.search(r"\b(yes|no)\b", reply.text, re.IGNORECASE)
            self.unparsed += m is None
            out.append(m is not None and m.group(1).lower() == "yes")
        return out


def make_judge(ctx: Context, library: Library) -> Judge:
    kind = ctx.opts.judge
    if kind == "offline":
        ctx.judge = OfflineJudge(library)
        return ctx.judge
    from rag.answering.llm import make_llm

    spec = ctx.settings.llm if kind == "llm" else kind
    llm = make_llm(ctx.settings.model_copy(update={"llm": spec}))
    if llm is None:
        raise ConfigError("--judge llm needs an LLM: --backend openai:MODEL, RAG_LLM, or "
                          "--judge openai:MODEL")  # fmt: skip
    ctx.judge = LLMJudge(llm, ctx.settings.prompts_dir)
    return ctx.judge

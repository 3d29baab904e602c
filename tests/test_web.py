"""The chat page in a real headless Chromium (Debian's `chromium`, driven by Playwright's Python
API through `executable_path`; no browser is downloaded). The server is a real uvicorn on
127.0.0.1 over a fake-embedder library of the tiny corpus. The screenshot is saved to
``tests/artifacts/web-chat.png`` (or ``$RAG_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.interfaces.http import create_app
from tests.conftest import DATA, REPO
from tests.fakes import fake_library
from tests.http_helpers import running

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
ARTIFACTS = Path(os.environ.get("RAG_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")


@pytest.fixture
def page_url(tmp_path: Path) -> Iterator[str]:
    lib = fake_library(tmp_path / "web-lib", seed=False)
    lib.ingest([DATA / "tiny.jsonl", DATA / "tiny_daily.txt"], progress=False)
    with running(create_app(lib)) as base:
        yield base


def test_chat_page_in_headless_chromium(page_url: str, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (scripts/test installs Debian's chromium package)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.goto(page_url + "/")
        expect(page.locator("#stats")).to_contain_text("5 papers")

        # Ask; the answer streams in as checked sentences with [n] links.
        page.fill("#question", "How much did hallucinated medications drop?")
        page.click("#ask-button")
        answer = page.locator(".message.assistant.done").first
        expect(answer).to_contain_text("12% to 3%", timeout=30_000)
        cite = answer.locator("a.cite").first
        expect(cite).to_have_text("[1]")

        # The sources panel: title, authors, year; clicking [1] highlights the cited sentence.
        source = page.locator("#source-0-1")
        expect(source).to_contain_text("Retrieval-Augmented Generation for Clinical Notes")
        expect(source).to_contain_text("A. Author, B. Author")
        expect(source).to_contain_text("2024")
        cite.click()
        highlight = source.locator(".passage .highlight")
        expect(highlight).to_have_count(1)
        expect(highlight).to_have_text("Hallucinated medications dropped from 12% to 3%. ")
        expect(source).to_have_class("source active")

        # Copy as BibTeX (the text is shown too, clipboard or not).
        page.click("#copy-bibtex")
        expect(page.locator("#bibtex")).to_have_value(
            "@misc{Author2024_101,\n  title = {{Retrieval-Augmented Generation for Clinical "
            "Notes}},\n  author = {A. Author and B. Author},\n  year = {2024}\n}"
        )

        # A follow-up keeps the conversation: it is searched with the earlier subject.
        page.fill("#question", "What did they compare?")
        page.keyboard.press("Enter")
        second = page.locator(".message.assistant.done, .message.refusal").nth(1)
        expect(second).to_contain_text("searched for", timeout=30_000)
        expect(second).to_contain_text("Clinical Notes")
        expect(page.locator(".message.user")).to_have_count(2)

        # A question the papers do not answer is shown as a refusal, with no sources.
        page.fill("#question", "xylophone quasar zeppelin?")
        page.click("#ask-button")
        refusal = page.locator('.message.refusal[data-turn="2"]')  # this third turn's answer
        expect(refusal).to_contain_text("do not answer", timeout=30_000)
        expect(refusal.locator("a.cite")).to_have_count(0)
        expect(page.locator("#sources")).to_contain_text("No sources")

        # Search with a filter.
        page.fill("#search-query", "attention")
        page.fill("#filter-year", "2023")
        page.click("#search-form button")
        results = page.locator("#search-results li")
        expect(results.first).to_contain_text("Linear Attention Revisited")
        expect(results).to_have_count(1)

        # Ingest by dropping a file on the drop zone.
        dropped = '{"id": "z-1", "title": "Zebra Stripes Deter Flies", "abstract": "Stripes."}\n'
        data = page.evaluate_handle(
            """(text) => { const dt = new DataTransfer();
                dt.items.add(new File([text], "zebra.jsonl", {type: "application/json"}));
                return dt; }""",
            dropped,
        )
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": data})
        expect(page.locator("#ingest-status")).to_contain_text("1 papers added")
        expect(page.locator("#stats")).to_contain_text("6 papers")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "web-chat.png"
        page.locator("#question").fill("")
        cite.click()
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    assert errors == []

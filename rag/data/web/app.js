// The chat page: plain JavaScript, no build step, no network but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const c of children) node.append(c);
  return node;
};
const newId = () => Array.from(crypto.getRandomValues(new Uint8Array(8)),
  (b) => b.toString(16).padStart(2, "0")).join("");

let conversation = newId();
const turns = [];  // {answer, sources, sentences: [{text, citations}]}
let activeTurn = -1;

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
  return body;
}

// --- Server-Sent Events over fetch (POST bodies are not possible with EventSource) ---------------
async function* sse(path, payload) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(payload),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error((body.error && body.error.message) || response.statusText);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield { event, data: data ? JSON.parse(data) : null };
    }
  }
}

// --- asking ----------------------------------------------------------------------------------
function citeLink(turn, sentence, n) {
  const a = el("a", { href: `#source-${turn}-${n}`, className: "cite", textContent: `[${n}]` });
  a.dataset.turn = turn; a.dataset.n = n; a.dataset.sentence = sentence;
  a.addEventListener("click", (e) => { e.preventDefault(); showCitation(turn, n, sentence); });
  return a;
}

async function ask(question) {
  const index = turns.length;
  const turn = { answer: null, sources: [], sentences: [] };
  turns.push(turn);
  const log = $("conversation");
  log.append(el("div", { className: "message user", textContent: question }));
  const box = el("div", { className: "message assistant pending" });
  box.dataset.turn = index;
  log.append(box);
  $("ask-status").textContent = "Answering…";
  $("ask-button").disabled = true;
  try {
    for await (const { event, data } of sse("/ask", { question, conversation })) {
      if (event === "sentence") {
        turn.sentences.push(data);
        const span = el("span", { className: "sentence" + (data.supported === false ? " unsupported" : "") },
          data.text + " ");
        data.citations.forEach((n) => span.append(citeLink(index, turn.sentences.length - 1, n)));
        if (box.childNodes.length) box.append(" ");
        box.append(span);
      } else if (event === "refusal") {
        box.className = "message refusal";
        box.append(el("strong", { textContent: data.text }));
        if (data.nearest.length) {
          box.append(el("div", { className: "muted", textContent: "Nearest papers in the library:" }),
            el("ul", {}, ...data.nearest.map((p) => el("li", { textContent: p.title }))));
        }
      } else if (event === "sources") {
        turn.sources = data;
      } else if (event === "done") {
        turn.answer = data.answer;
        const q = data.answer.question;
        if (q && q !== question) {
          box.append(el("div", { className: "muted searched", textContent: `(searched for: ${q})` }));
        }
        box.classList.remove("pending");
        box.classList.add("done");
        showSources(index);
      } else if (event === "error") {
        throw new Error(data.error.message);
      }
    }
  } catch (err) {
    box.classList.remove("pending");
    box.append(el("div", { className: "error", textContent: `Error: ${err.message}` }));
  } finally {
    $("ask-status").textContent = "";
    $("ask-button").disabled = false;
    log.scrollTop = log.scrollHeight;
  }
}

// --- sources, highlighting, BibTeX ------------------------------------------------------------
const words = (text) => new Set((text.toLowerCase().match(/[a-z0-9]+/g) || []).filter((w) => w.length > 2));

function bestSentence(sentences, text) {
  const target = words(text);
  let best = 0, bestScore = -1;
  sentences.forEach((s, i) => {
    const w = words(s);
    let shared = 0;
    w.forEach((x) => { if (target.has(x)) shared += 1; });
    const score = shared / Math.max(1, Math.sqrt(w.size * target.size));
    if (score > bestScore) { bestScore = score; best = i; }
  });
  return best;
}

function showSources(index) {
  activeTurn = index;
  const panel = $("sources");
  panel.replaceChildren();
  const { sources } = turns[index];
  if (!sources.length) {
    panel.append(el("p", { className: "muted", textContent: "No sources: the library does not answer this." }));
  }
  for (const s of sources) {
    const meta = [s.authors.slice(0, 3).join(", ") + (s.authors.length > 3 ? " et al." : ""),
      s.year || "", s.source || ""].filter(Boolean).join(" · ");
    const title = s.url ? el("a", { href: s.url, target: "_blank", rel: "noopener", textContent: s.title })
      : el("span", { textContent: s.title });
    const passage = el("p", { className: "passage" },
      ...s.sentences.map((t, i) => { const sp = el("span", { textContent: t + " " }); sp.dataset.i = i; return sp; }));
    const card = el("div", { className: "source", id: `source-${index}-${s.n}` },
      el("div", {}, el("strong", { textContent: `[${s.n}] ` }), title),
      el("div", { className: "meta", textContent: meta }), passage);
    panel.append(card);
  }
  $("copy-bibtex").disabled = !sources.length;
  $("bibtex").hidden = true;
}

function showCitation(index, n, sentence) {
  if (activeTurn !== index) showSources(index);
  const card = $(`source-${index}-${n}`);
  if (!card) return;
  document.querySelectorAll(".source.active").forEach((c) => c.classList.remove("active"));
  document.querySelectorAll(".passage .highlight").forEach((s) => s.classList.remove("highlight"));
  card.classList.add("active");
  const source = turns[index].sources.find((s) => s.n === Number(n));
  const i = bestSentence(source.sentences, turns[index].sentences[sentence].text);
  const span = card.querySelector(`.passage span[data-i="${i}"]`);
  if (span) span.classList.add("highlight");
  card.scrollIntoView({ block: "nearest" });
}

function bibtex(sources) {
  const seen = new Set();
  const entries = [];
  for (const s of sources) {
    if (seen.has(s.paper_id)) continue;
    seen.add(s.paper_id);
    const last = s.authors.length ? s.authors[0].split(/\s+/).pop().replace(/[^A-Za-z]/g, "") : "paper";
    const key = `${last}${s.year || ""}_${s.paper_id.replace(/[^A-Za-z0-9]/g, "")}`;
    const fields = [["title", `{${s.title}}`]];
    if (s.authors.length) fields.push(["author", s.authors.join(" and ")]);
    if (s.year) fields.push(["year", String(s.year)]);
    if (s.doi) fields.push(["doi", s.doi]);
    if (s.url) fields.push(["url", s.url]);
    entries.push(`@misc{${key},\n` + fields.map(([k, v]) => `  ${k} = {${v}}`).join(",\n") + "\n}");
  }
  return entries.join("\n\n");
}

async function copyBibtex() {
  if (activeTurn < 0) return;
  const text = bibtex(turns[activeTurn].sources);
  const box = $("bibtex");
  box.value = text;
  box.hidden = false;
  try { await navigator.clipboard.writeText(text); $("copy-bibtex").textContent = "Copied"; }
  catch { box.select(); $("copy-bibtex").textContent = "Select and copy"; }
  setTimeout(() => { $("copy-bibtex").textContent = "Copy BibTeX"; }, 2000);
}

// --- search, stats, ingest --------------------------------------------------------------------
async function search(event) {
  event.preventDefault();
  const filters = {};
  if ($("filter-year").value.trim()) filters.year = $("filter-year").value.trim();
  if ($("filter-source").value) filters.source = [$("filter-source").value];
  const list = $("search-results");
  list.replaceChildren();
  try {
    const hits = await api("/search", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: $("search-query").value, k: 10,
        filters: Object.keys(filters).length ? filters : null }),
    });
    if (!hits.length) list.append(el("li", { className: "muted", textContent: "No papers match." }));
    for (const h of hits) {
      list.append(el("li", {}, el("strong", { textContent: h.title }),
        el("div", { className: "snippet", textContent: h.text.slice(0, 240) })));
    }
  } catch (err) {
    list.append(el("li", { className: "error", textContent: `Error: ${err.message}` }));
  }
}

async function refreshStats() {
  try {
    const s = await api("/stats");
    $("stats").textContent = `${s.papers} papers · ${s.chunks} passages · ${s.embedder}`;
    const papers = await api("/papers?limit=1000");
    const sources = [...new Set(papers.papers.map((p) => p.source).filter(Boolean))].sort();
    const select = $("filter-source");
    const keep = select.value;
    select.replaceChildren(el("option", { value: "", textContent: "any source" }),
      ...sources.map((s) => el("option", { value: s, textContent: s })));
    select.value = keep;
  } catch (err) {
    $("stats").textContent = `Error: ${err.message}`;
  }
}

async function ingest(file) {
  const status = $("ingest-status");
  status.className = "muted";
  status.textContent = `Adding ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  try {
    const r = await api("/ingest", { method: "POST", body: form });
    status.textContent = `${file.name}: ${r.papers_added} papers added, ${r.papers_updated} updated, ` +
      `${r.papers_unchanged} unchanged.`;
    refreshStats();
  } catch (err) {
    status.className = "error";
    status.textContent = `${file.name}: ${err.message}`;
  }
}

function setUp() {
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("question").value.trim();
    if (q) { $("question").value = ""; ask(q); }
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
  });
  $("new-conversation").addEventListener("click", () => {
    conversation = newId();
    $("conversation").replaceChildren();
    $("sources").replaceChildren();
    $("copy-bibtex").disabled = true;
  });
  $("copy-bibtex").addEventListener("click", copyBibtex);
  $("search-form").addEventListener("submit", search);
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    for (const f of e.dataTransfer.files) ingest(f);
  });
  $("file-input").addEventListener("change", (e) => { for (const f of e.target.files) ingest(f); });
  refreshStats();
}

setUp();

"""The annotation page: one HTML document for the local server and the offline file (docs/annotation.md).

The page is static; texts arrive as JSON (fetched from the server, or embedded
in a ``<script type="application/json">`` block of the offline file with every
``<`` written as ``\\u003c``) and are put on the page with ``textContent`` only,
so a ``<script>`` or ``<img onerror>`` in a model's answer is shown as text.
A Content-Security-Policy allows only this page's own script and style (by
hash), as a second line of defence. The HTML, CSS and JS live here as strings so
the package needs no extra data files.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

Mode = Literal["server", "offline"]

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: .5em 1em;
  display: flex; gap: 1.5em; align-items: center; flex-wrap: wrap; }
main { max-width: 60em; margin: 0 auto; padding: 0 1em 3em; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: .3em 1em .8em; margin: 1em 0; }
h2 { font-size: 1em; margin: .6em 0 .4em; color: #555; text-transform: uppercase; letter-spacing: .04em; }
#answer { white-space: pre-wrap; font: 16px/1.5 Georgia, serif; margin: .3em 0; }
.skill-name { font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
td { padding: .35em .5em; border-top: 1px solid #eee; vertical-align: middle; }
tr.current td { background: #eef4ff; }
td.key { color: #888; width: 2em; }
button { font: inherit; padding: .25em .8em; margin-right: .3em; border: 1px solid #bbb; border-radius: 4px;
  background: #f4f4f4; cursor: pointer; }
button[aria-pressed="true"] { background: #2a62d6; border-color: #2a62d6; color: #fff; }
#status[data-state="error"] { color: #b00020; font-weight: 600; }
#status[data-state="saved"] { color: #12722a; }
.muted { color: #777; }
nav { display: flex; gap: .5em; margin: 1em 0; }
.hidden { display: none; }
"""

JS = r"""
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("skillmix-data").textContent);
  const offline = data.mode === "offline";
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const $ = (id) => document.getElementById(id);
  let items = [], labels = {}, records = {}, pos = 0, cursor = 0, choice = [];

  function el(tag, text, attrs) {  // model text only ever goes through textContent
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  function judged(item) {
    const out = [];
    for (let i = 0; i < item.k + 3; i++) if (i !== item.length_index) out.push(i);
    return out;
  }
  function setStatus(text, state) { $("status").textContent = text; $("status").dataset.state = state || ""; }
  function labelledCount() { return Object.keys(labels).length; }

  function render() {
    const item = items[pos];
    $("position").textContent = "Text " + (pos + 1) + " of " + items.length;
    $("progress").textContent = labelledCount() + " / " + items.length + " labelled";
    $("question").textContent = item.question;
    const skills = $("skills");
    skills.replaceChildren();
    for (const s of item.skills) {
      const li = el("li");
      li.append(el("span", s.name, {class: "skill-name"}), document.createTextNode(": " + s.definition + " For example, " + s.example));
      skills.append(li);
    }
    $("answer").textContent = item.answer;
    $("length").textContent = "Length, checked by the program: " + item.sentences + " sentence(s), limit " +
      item.sentence_limit + " \u2192 " + (item.length_ok ? "met (1)" : "not met (0)");
    const saved = labels[String(item.index)];
    choice = saved ? saved.slice() : new Array(item.k + 3).fill(undefined);
    choice[item.length_index] = item.length_ok;
    const crits = judged(item);
    cursor = Math.max(0, crits.findIndex((i) => choice[i] === undefined));
    renderCriteria();
    renderGrader(item);
    $("saved-note").textContent = saved ? "Saved earlier; saving again replaces it." : "";
  }

  function renderCriteria() {
    const item = items[pos], body = $("criteria");
    body.replaceChildren();
    judged(item).forEach((ci, row) => {
      const tr = el("tr", null, {"data-crit": String(ci)});
      if (row === cursor) tr.className = "current";
      tr.append(el("td", String(row + 1), {class: "key"}), el("td", item.criteria[ci]));
      const td = el("td");
      for (const [value, text] of [["1", "Yes (1)"], ["0", "No (0)"], ["u", "Unsure (u)"]]) {
        const v = value === "u" ? null : Number(value);
        const b = el("button", text, {type: "button", "data-crit": String(ci), "data-value": value,
                                       "aria-pressed": String(choice[ci] === v)});
        b.addEventListener("click", () => { cursor = row; choose(v); });
        td.append(b);
      }
      tr.append(td);
      body.append(tr);
    });
  }

  function renderGrader(item) {
    const box = $("grader");
    box.classList.toggle("hidden", !item.grader);
    if (!item.grader) return;
    const g = item.grader;
    $("grader-text").textContent = "student: " + g.model + "; grader: " + g.grader + "; gradings (before checks): " +
      JSON.stringify(g.parsed) + "; voted (after checks): " + JSON.stringify(g.voted);
  }

  function choose(value) {
    const crits = judged(items[pos]);
    choice[crits[cursor]] = value;
    if (cursor < crits.length - 1) cursor += 1;
    renderCriteria();
  }

  function go(delta) {
    const next = pos + delta;
    if (next < 0 || next >= items.length) return;
    pos = next; setStatus(""); render();
  }

  async function save() {
    const item = items[pos];
    if (judged(item).some((i) => choice[i] === undefined)) {
      setStatus("Answer every criterion (1, 0 or unsure) before saving.", "error"); return;
    }
    const points = choice.map((v) => (v === undefined ? null : v));
    try {
      if (offline) saveOffline(item, points); else await saveServer(item, points);
    } catch (e) { setStatus("Not saved: " + e.message, "error"); return; }
    setStatus("Saved text " + (pos + 1) + ".", "saved");
    if (pos < items.length - 1) { pos += 1; render(); setStatus("Saved text " + pos + ".", "saved"); }
    else { render(); if (labelledCount() === items.length) setStatus("All texts labelled. Thank you!", "saved"); }
  }

  async function saveServer(item, points) {
    setStatus("Saving\u2026", "saving");
    const resp = await fetch("api/label?token=" + encodeURIComponent(token), {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({index: item.index, points: points})});
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(body.error || ("HTTP " + resp.status));
    labels[String(item.index)] = body.points;
  }

  function storageKey() { return "skillmix-annotate:" + data.plan_id + ":" + $("annotator-name").value.trim(); }
  function saveOffline(item, points) {
    const name = $("annotator-name").value.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new Error("type your name (letters, digits, . _ -) first");
    points[item.length_index] = item.length_ok;
    records[String(item.index)] = {id: item.id, epoch: item.epoch, k: item.k, annotator: name, points: points,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), answer_sha256: item.answer_sha256};
    labels[String(item.index)] = points;
    window.localStorage.setItem(storageKey(), JSON.stringify(records));
  }
  function loadOffline() {
    let stored = {};
    try { stored = JSON.parse(window.localStorage.getItem(storageKey()) || "{}"); } catch (e) { stored = {}; }
    records = stored; labels = {};
    for (const [i, r] of Object.entries(records)) labels[i] = r.points;
    pos = Math.max(0, items.findIndex((it) => !(String(it.index) in labels)));
    render();
  }
  function download() {
    const lines = Object.keys(records).sort((a, b) => a - b).map((i) => JSON.stringify(records[i]) + "\n");
    const name = $("annotator-name").value.trim() || "annotations";
    const a = el("a", null, {download: name + ".jsonl"});
    a.href = URL.createObjectURL(new Blob(lines, {type: "application/x-ndjson"}));
    document.body.append(a); a.click(); a.remove();
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.ctrlKey || ev.metaKey || ev.altKey || !items.length) return;
    const crits = judged(items[pos]);
    const actions = {
      "1": () => choose(1), "y": () => choose(1), "0": () => choose(0), "n": () => choose(0),
      "u": () => choose(null), "?": () => choose(null),
      "ArrowDown": () => { cursor = Math.min(crits.length - 1, cursor + 1); renderCriteria(); },
      "ArrowUp": () => { cursor = Math.max(0, cursor - 1); renderCriteria(); },
      "ArrowRight": () => go(1), "ArrowLeft": () => go(-1), "Enter": () => save(), "s": () => save(),
    };
    const action = actions[ev.key];
    if (action) { ev.preventDefault(); action(); }
  });
  $("back").addEventListener("click", () => go(-1));
  $("next").addEventListener("click", () => go(1));
  $("save").addEventListener("click", () => save());

  async function start() {
    if (offline) {
      items = data.items;
      $("offline-bar").classList.remove("hidden");
      $("annotator-name").addEventListener("change", loadOffline);
      $("download").addEventListener("click", download);
      loadOffline();
      return;
    }
    const resp = await fetch("api/state?token=" + encodeURIComponent(token));
    if (!resp.ok) { setStatus("Cannot load the texts (HTTP " + resp.status + "); use the URL printed by skillmix annotate.", "error"); return; }
    const state = await resp.json();
    items = state.items; labels = state.labels; pos = state.start;
    $("who").textContent = "annotator: " + state.annotator;
    render();
  }
  start();
})();
"""

BODY = """<header>
  <strong>skillmix annotate</strong><span id="who"></span><span id="position"></span><span id="progress"></span>
  <span id="offline-bar" class="hidden"><label>Your name <input id="annotator-name" autocomplete="off"></label>
    <button id="download" type="button">Download labels (JSONL)</button></span>
  <span id="status" role="status"></span>
</header>
<main>
  <section><h2>The task, as the grader saw it</h2><p id="question"></p>
    <p class="muted">The skills, with the definitions and examples the grader was given:</p><ul id="skills"></ul></section>
  <section><h2>The student's answer</h2><p id="answer"></p><p id="length" class="muted"></p></section>
  <section><h2>Your judgement</h2>
    <p class="muted">Does the answer earn each point? Keys: 1/y yes, 0/n no, u unsure (moves to the next row);
      &uarr;/&darr; choose a row; Enter save and go on; &larr;/&rarr; back/next without saving.</p>
    <table><tbody id="criteria"></tbody></table><p id="saved-note" class="muted"></p>
    <nav><button id="back" type="button">&larr; Back</button><button id="save" type="button">Save &amp; next (Enter)</button>
      <button id="next" type="button">Next &rarr;</button></nav></section>
  <section id="grader" class="hidden"><h2>Grader (shown with --show-grader)</h2><p id="grader-text"></p></section>
</main>"""


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def content_security_policy(mode: Mode) -> str:
    """Only this page's own script and style run; the server page may call back to its own origin."""
    connect = "'self'" if mode == "server" else "'none'"
    return (f"default-src 'none'; script-src {_sha256_source(JS)}; style-src {_sha256_source(CSS)}; "
            f"connect-src {connect}; img-src 'none'; base-uri 'none'; form-action 'none'")


def embed_json(data: Any) -> str:
    """JSON that cannot end its <script> block: '<', '>' and '&' are written as \\u escapes."""
    text = json.dumps(data, ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_page(data: dict[str, Any]) -> str:
    """The whole page; ``data["mode"]`` is "server" (texts fetched) or "offline" (texts embedded)."""
    mode: Mode = "offline" if data.get("mode") == "offline" else "server"
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{content_security_policy(mode)}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"referrer\" content=\"no-referrer\"><title>skillmix annotate</title><style>{CSS}</style></head>\n"
        f"<body>\n{BODY}\n<script id=\"skillmix-data\" type=\"application/json\">{embed_json(data)}</script>\n"
        f"<script>{JS}</script>\n</body></html>\n"
    )
